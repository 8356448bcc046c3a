"""Where `tokenize-audio` reads audio from: files (with canonical ids) or the rows of an HF dataset.

A source is indexable: `key(i)` is the item's id in the output records, `load(i, rate)` decodes it. `load`
runs in the data-loader's worker processes, so sources hold only picklable, fork-safe state.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any, Protocol, Sequence

import numpy as np
import torch

RESERVED_KEYS = ("id", "audio_tokens", "n_codes")


class AudioSource(Protocol):
    """Indexable audio items: `key(i)` is a stable unique id, `load(i)` gives `(waveform (L,), extra columns)`."""

    def __len__(self) -> int: ...
    def key(self, index: int) -> str: ...
    def load(self, index: int, sampling_rate: int) -> tuple[torch.Tensor, dict]: ...


class FileSource:
    """Audio files (any format `llmcodec.audio.load_audio` reads), keyed by a canonical id.

    The id is the file's resolved path (symlinks and `..` followed) relative to `root` when given and inside
    it, else the resolved absolute path. A file named twice, even by two different paths, is kept once, so two runs that
    name the same folder differently (relative, absolute, through a link) agree on every id.
    """

    def __init__(self, paths: Sequence[str | os.PathLike], root: str | os.PathLike | None = None):
        self.root = Path(root).resolve() if root is not None else None
        keyed: dict[str, Path] = {}
        for path in paths:
            keyed.setdefault(self._canonical_id(Path(path)), Path(path))
        self.keys, self.paths = list(keyed), list(keyed.values())

    def _canonical_id(self, path: Path) -> str:
        resolved = path.resolve()
        if self.root is not None and resolved.is_relative_to(self.root):
            return resolved.relative_to(self.root).as_posix()
        return resolved.as_posix()  # no root, or a link leading out of it: the absolute path is still canonical

    def __len__(self) -> int:
        return len(self.paths)

    def key(self, index: int) -> str:
        return self.keys[index]

    def load(self, index: int, sampling_rate: int) -> tuple[torch.Tensor, dict]:
        from llmcodec.audio import load_audio

        waveform, _ = load_audio(self.paths[index], target_sr=sampling_rate)
        return waveform, {}


def id_root(inputs: Sequence[str | os.PathLike]) -> Path | None:
    """The folder ids are relative to: the deepest folder holding every input (a folder input counts as itself,
    a file as its parent folder), resolved, so the same inputs give the same ids however they are spelled."""
    folders = [Path(p).resolve() if Path(p).is_dir() else Path(p).resolve().parent for p in inputs]
    return Path(os.path.commonpath(folders)) if folders else None


def _json_safe(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


class DatasetSource:
    """Rows of a `datasets.Dataset`; `audio_column` is decoded here, the other columns are carried along.

    The audio column may be an `Audio` feature (read undecoded and decoded with soundfile / torchcodec, so
    any `datasets` version works) or dicts with `array` and `sampling_rate`.
    """

    def __init__(self, dataset, audio_column: str = "audio", carry_columns: Sequence[str] | None = None,
                 id_column: str | None = None):
        from datasets import Audio

        if audio_column not in dataset.column_names:
            raise ValueError(f"dataset has no audio column {audio_column!r} (columns: {dataset.column_names})")
        if isinstance(dataset.features.get(audio_column), Audio):
            dataset = dataset.cast_column(audio_column, Audio(decode=False))
        others = [c for c in dataset.column_names if c != audio_column]
        self.carry = list(others if carry_columns is None else carry_columns)
        missing = [c for c in self.carry + ([id_column] if id_column else []) if c not in dataset.column_names]
        if missing:
            raise ValueError(f"dataset has no column(s) {missing} (columns: {dataset.column_names})")
        clash = [c for c in self.carry if c in RESERVED_KEYS and c != id_column]
        if clash:
            raise ValueError(f"column(s) {clash} clash with output keys {RESERVED_KEYS}; pass carry_columns")
        self.dataset, self.audio_column, self.id_column = dataset, audio_column, id_column
        self._ids = [str(v) for v in dataset[id_column]] if id_column else None
        if self._ids is not None and len(set(self._ids)) != len(self._ids):
            raise ValueError(f"id column {id_column!r} has duplicate values")

    def __len__(self) -> int:
        return len(self.dataset)

    def key(self, index: int) -> str:
        return self._ids[index] if self._ids is not None else str(index)

    def load(self, index: int, sampling_rate: int) -> tuple[torch.Tensor, dict]:
        from llmcodec.audio import AudioReadError, resample

        row = self.dataset[index]
        audio = row[self.audio_column]
        if isinstance(audio, dict) and audio.get("array") is not None:
            data = torch.as_tensor(np.asarray(audio["array"], dtype=np.float32))
            data, rate = (data if data.ndim == 1 else data.mean(dim=0)), int(audio["sampling_rate"])
        elif isinstance(audio, dict) and (audio.get("bytes") or audio.get("path")):
            data, rate = _decode_bytes_or_path(audio.get("bytes"), audio.get("path"))
        elif hasattr(audio, "get_all_samples"):  # a decoded torchcodec AudioDecoder
            samples = audio.get_all_samples()
            data, rate = samples.data.float().mean(dim=0), int(samples.sample_rate)
        else:
            raise AudioReadError(f"row {index}: cannot read audio value of type {type(audio).__name__}")
        extra = {c: _json_safe(row[c]) for c in self.carry if c != self.id_column}
        return resample(data.float(), rate, sampling_rate), extra


def _decode_bytes_or_path(data: bytes | None, path: str | None) -> tuple[torch.Tensor, int]:
    import soundfile

    from llmcodec.audio import AudioReadError, load_audio

    if not data:
        waveform, rate = load_audio(path, target_sr=None)
        return waveform, rate
    try:
        array, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
        return torch.from_numpy(np.ascontiguousarray(array.T)).mean(dim=0), int(rate)
    except Exception:  # formats libsndfile lacks (mp3 on old builds, m4a): torchcodec decodes bytes too
        try:
            from torchcodec.decoders import AudioDecoder

            samples = AudioDecoder(data).get_all_samples()
            return samples.data.float().mean(dim=0), int(samples.sample_rate)
        except Exception as error:
            raise AudioReadError(f"{path or 'audio bytes'}: cannot decode ({error})") from error
