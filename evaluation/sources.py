"""What ``llmcodec evaluate`` / ``token-lm`` / ``salmon`` read: audio items of a folder or a Hugging Face dataset.

An :class:`AudioItem` has an ``id`` (unique in its source), a ``domain`` and a lazy ``load()``. A folder's
items are its audio files (:func:`llmcodec.audio.find_audio_files`: recursive, hidden files skipped, sorted);
the id is the path relative to the folder and the domain its first sub-folder (``default`` for files directly in
it). A dataset (:func:`llmcodec.audio.load_dataset_folder`: a ``save_to_disk`` folder, a folder of data files or
a Hub id; loading scripts are never run) gives one item per row, the domain from ``domain_column``.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

DEFAULT_DOMAIN = "default"


@dataclass
class AudioItem:
    """One evaluation item; ``load()`` returns ``(waveform (L,) float32 mono, native sample rate)``."""

    id: str
    domain: str
    load: Callable[[], tuple[torch.Tensor, int]]


def file_id(relative: Path) -> str:
    """A file's id: its relative POSIX path, with bytes that are not UTF-8 shown as ``\\xNN``.

    A file name is bytes on POSIX; Python keeps undecodable bytes as lone surrogates, which no UTF-8 file (rows,
    CSV, report) can hold. Escaping them keeps the id printable, unique and the same on every run.
    """
    from .output_folder import printable

    return printable(relative.as_posix())


def folder_items(root: str | os.PathLike) -> list[AudioItem]:
    """Audio files under ``root`` (see the module docstring for ids and domains)."""
    from llmcodec.audio import AudioReadError, find_audio_files, load_audio

    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"data folder {root} does not exist")
    try:
        paths = find_audio_files([root])
    except AudioReadError as error:
        raise ValueError(str(error)) from error
    items = []
    for path in paths:
        relative = path.relative_to(root)
        domain = file_id(Path(relative.parts[0])) if len(relative.parts) > 1 else DEFAULT_DOMAIN
        items.append(AudioItem(file_id(relative), domain, lambda p=path: load_audio(p, target_sr=None)))
    return items


def load_hf_dataset(name_or_path: str, split: str | None = None):
    """One split of a dataset (:func:`llmcodec.audio.load_dataset_folder`; one-line ``DatasetLoadError``)."""
    from llmcodec.audio import load_dataset_folder

    return load_dataset_folder(name_or_path, split=split)


def decode_audio_value(audio: Any, where: str) -> tuple[torch.Tensor, int]:
    """A dataset cell -> ``(waveform (L,) float32 mono, rate)``: ``{"array", "sampling_rate"}``, ``{"bytes"}``,
    ``{"path"}``, a path string or a torchcodec decoder."""
    from llmcodec.audio import AudioReadError, load_audio

    if isinstance(audio, dict) and audio.get("array") is not None:
        data = torch.as_tensor(np.asarray(audio["array"], dtype=np.float32))
        return (data if data.ndim == 1 else data.mean(dim=0)), int(audio["sampling_rate"])
    if isinstance(audio, dict) and audio.get("bytes"):
        import soundfile

        try:
            array, rate = soundfile.read(io.BytesIO(audio["bytes"]), dtype="float32", always_2d=True)
            return torch.from_numpy(np.ascontiguousarray(array.T)).mean(dim=0), int(rate)
        except Exception:
            from torchcodec.decoders import AudioDecoder

            samples = AudioDecoder(audio["bytes"]).get_all_samples()
            return samples.data.float().mean(dim=0), int(samples.sample_rate)
    if isinstance(audio, dict) and audio.get("path"):
        return load_audio(audio["path"], target_sr=None)
    if isinstance(audio, str):
        return load_audio(audio, target_sr=None)
    if hasattr(audio, "get_all_samples"):
        samples = audio.get_all_samples()
        return samples.data.float().mean(dim=0), int(samples.sample_rate)
    raise AudioReadError(f"{where}: cannot read audio value of type {type(audio).__name__}")


def dataset_items(
    dataset: Any, audio_column: str = "audio", domain_column: str | None = None, id_column: str | None = None
) -> list[AudioItem]:
    """Items of a ``datasets.Dataset``; audio is decoded lazily (``Audio(decode=False)`` so any backend works)."""
    from datasets import Audio

    if audio_column not in dataset.column_names:
        raise ValueError(f"dataset has no audio column {audio_column!r} (columns: {dataset.column_names})")
    for column in (domain_column, id_column):
        if column is not None and column not in dataset.column_names:
            raise ValueError(f"dataset has no column {column!r} (columns: {dataset.column_names})")
    if isinstance(dataset.features.get(audio_column), Audio):
        dataset = dataset.cast_column(audio_column, Audio(decode=False))
    domains = [str(d) for d in dataset[domain_column]] if domain_column else [DEFAULT_DOMAIN] * len(dataset)
    ids = [str(i) for i in dataset[id_column]] if id_column else [str(i) for i in range(len(dataset))]
    if len(set(ids)) != len(ids):
        raise ValueError(f"id column {id_column!r} has duplicate values")

    def loader(index: int) -> Callable[[], tuple[torch.Tensor, int]]:
        return lambda: decode_audio_value(dataset[index][audio_column], f"row {index}")

    return [AudioItem(ids[i], domains[i], loader(i)) for i in range(len(dataset))]
