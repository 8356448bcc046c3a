"""Audio → LLM-Codec codes → `<CODEC_n>` strings, as jsonl shards (and a `datasets` dataset) for LM training.

Inputs are audio files or an HF audio dataset (any other columns are carried along). Work is batched,
shows a progress bar, is resumable (finished ids are read back from the output and skipped; a torn last
line is dropped) and shardable: process `k` of `n` takes items `i` with `i % n == k` and writes its own
`codes-0000k-of-0000n.jsonl`, so `accelerate launch` / several machines can share one corpus
(`RANK`/`WORLD_SIZE`/`LOCAL_RANK` are read from the environment when no shard is given).

One output record: `{"id": ..., "audio_tokens": "<CODEC_5><CODEC_17>…", "n_codes": T, **carried columns}`.

Framing is the project's one rule (as `llmcodec encode`, `llmcodec evaluate` and the Codec-SUPERB adapter):
`L` samples at 16 kHz give `floor(L / 320)` codes (the last partial frame is dropped), and audio longer than
`chunk_length_s` (default 60 s, the CLI's `--chunk-seconds`) is coded in windows with 5 s of context.
"""

from __future__ import annotations

import io
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Protocol, Sequence

import numpy as np
import torch

from .extend import CODEC_PREFIX
from .mapping import AudioTokenMap

logger = logging.getLogger(__name__)

RESERVED_KEYS = ("id", "audio_tokens", "n_codes")
SHARD_GLOB = "codes-*-of-*.jsonl"


class AudioSource(Protocol):
    """Indexable audio items: `key(i)` is a stable unique id, `load(i)` gives `(waveform (L,), extra columns)`."""

    def __len__(self) -> int: ...
    def key(self, index: int) -> str: ...
    def load(self, index: int, sampling_rate: int) -> tuple[torch.Tensor, dict]: ...


class FileSource:
    """Audio files (any format `llmcodec.audio.load_audio` reads); the id is the path as given."""

    def __init__(self, paths: Sequence[str | os.PathLike]):
        self.paths = [Path(p) for p in paths]
        keys = [str(p) for p in self.paths]
        if len(set(keys)) != len(keys):
            raise ValueError("the same audio file is listed twice")

    def __len__(self) -> int:
        return len(self.paths)

    def key(self, index: int) -> str:
        return str(self.paths[index])

    def load(self, index: int, sampling_rate: int) -> tuple[torch.Tensor, dict]:
        from llmcodec.audio import load_audio

        waveform, _ = load_audio(self.paths[index], target_sr=sampling_rate)
        return waveform, {}


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


def shard_from_env(shard_index: int | None = None, num_shards: int | None = None) -> tuple[int, int]:
    """`(index, count)` from the arguments, else `RANK`/`WORLD_SIZE` (set by accelerate/torchrun), else (0, 1)."""
    if num_shards is None:
        num_shards = int(os.environ.get("WORLD_SIZE", 1))
    if shard_index is None:
        shard_index = int(os.environ.get("RANK", 0))
    if num_shards < 1 or not 0 <= shard_index < num_shards:
        raise ValueError(f"shard index {shard_index} is not in [0, {num_shards})")
    return shard_index, num_shards


def shard_path(out_dir: str | os.PathLike, shard_index: int, num_shards: int) -> Path:
    return Path(out_dir) / f"codes-{shard_index:05d}-of-{num_shards:05d}.jsonl"


def _read_done(path: Path) -> set[str]:
    """Ids already in a shard file. A torn last line (run killed mid-write) is cut off so appends stay valid;
    a bad line elsewhere means the file is corrupt and raises."""
    done: set[str] = set()
    if not path.exists():
        return done
    lines = path.read_bytes().splitlines(keepends=True)
    good_bytes = 0
    for number, line in enumerate(lines):
        try:
            if not line.endswith(b"\n"):
                raise ValueError("torn line")
            done.add(str(json.loads(line)["id"]))
        except (ValueError, KeyError, TypeError) as error:
            if number != len(lines) - 1:
                raise ValueError(f"{path}: line {number + 1} is not a valid record ({error}); file is corrupt") from error
            logger.warning("%s: dropping an incomplete last record (interrupted run)", path)
            with open(path, "r+b") as handle:
                handle.truncate(good_bytes)
            break
        good_bytes += len(line)
    return done


@dataclass
class TokenizeReport:
    """Outcome of one :func:`tokenize_audio` call for one shard."""

    path: Path
    written: int = 0
    skipped: int = 0  # already in the output (resume)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (id, reason)


def tokenize_audio(
    model,
    source: AudioSource,
    out_dir: str | os.PathLike,
    batch_size: int = 8,
    shard_index: int | None = None,
    num_shards: int | None = None,
    device: str | torch.device | None = None,
    codebook_domain: str | None = None,
    chunk_length_s: float | None = 60.0,
    prefix: str = CODEC_PREFIX,
    progress: bool = True,
) -> TokenizeReport:
    """Encode this shard's items with `model` (an `LLMCodecModel`) and append records to its jsonl file.

    Returns a :class:`TokenizeReport`. Unreadable items are reported, not fatal; a rerun retries them.
    `chunk_length_s` (default 60 s, as the CLI) codes longer audio in windows; None codes it in one pass.
    """
    from tqdm.auto import tqdm

    from llmcodec.audio import AudioReadError

    index, count = shard_from_env(shard_index, num_shards)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model = model.to(device).eval()
    rate, hop = int(model.config.sampling_rate), int(model.config.hop_length)
    token_map = AudioTokenMap(first_id=0, n_codes=int(model.config.codebook_size), prefix=prefix)
    out = shard_path(out_dir, index, count)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = _read_done(out)
    mine = [i for i in range(index, len(source), count)]
    todo = [i for i in mine if source.key(i) not in done]
    report = TokenizeReport(path=out, skipped=len(mine) - len(todo))
    bar = tqdm(total=len(mine), initial=report.skipped, desc=f"tokenize shard {index}/{count}", unit="item",
               disable=not progress, position=index)
    with open(out, "a", encoding="utf-8") as handle:
        for start in range(0, len(todo), batch_size):
            batch = []
            for i in todo[start : start + batch_size]:
                try:
                    waveform, extra = source.load(i, rate)
                    if waveform.numel() < hop:
                        raise AudioReadError(f"{waveform.numel()} samples is shorter than one code ({hop} samples)")
                    batch.append((source.key(i), waveform, extra))
                except Exception as error:  # one bad file must not stop a corpus run
                    report.failed.append((source.key(i), str(error)))
                    bar.update(1)
            if not batch:
                continue
            lines = _encode_batch(model, batch, device, token_map, codebook_domain, chunk_length_s)
            handle.write("".join(lines))
            handle.flush()  # a killed run keeps every finished batch
            report.written += len(lines)
            bar.update(len(lines))
    bar.close()
    for key, reason in report.failed:
        logger.warning("failed: %s: %s", key, reason)
    return report


def _encode_batch(model, batch, device, token_map: AudioTokenMap, codebook_domain, chunk_length_s) -> list[str]:
    """Pad a batch to (B, 1, L) with a padding mask, encode, and format one jsonl line per item."""
    lengths = torch.tensor([w.numel() for _, w, _ in batch])
    values = torch.zeros(len(batch), 1, int(lengths.max()))
    for i, (_, waveform, _) in enumerate(batch):
        values[i, 0, : waveform.numel()] = waveform
    mask = torch.arange(values.shape[-1])[None, :] < lengths[:, None]
    kwargs = {}
    if codebook_domain is not None:
        kwargs["codebook_domain"] = codebook_domain
    if chunk_length_s is not None:
        kwargs["chunk_length_s"] = chunk_length_s
    with torch.inference_mode():
        encoded = model.encode(values.to(device), mask.to(device), **kwargs)
    codes = encoded.audio_codes.cpu().numpy()
    codes_mask = encoded.audio_codes_mask.cpu().numpy().astype(bool)
    texts = token_map.codes_to_text(codes, mask=codes_mask)
    lines = []
    for (key, _, extra), text, valid in zip(batch, texts, codes_mask):
        record = {"id": key, "audio_tokens": text, "n_codes": int(valid.sum()), **extra}
        lines.append(json.dumps(record, ensure_ascii=False) + "\n")
    return lines


def shard_files(out_dir: str | os.PathLike) -> list[Path]:
    """All shard files in `out_dir`, sorted; raises if shards of different run sizes are mixed."""
    files = sorted(Path(out_dir).glob(SHARD_GLOB))
    counts = {f.stem.rsplit("-of-", 1)[1] for f in files}
    if len(counts) > 1:
        raise ValueError(f"{out_dir} mixes shard files of different shard counts {sorted(counts)}")
    return files


def merge_to_dataset(out_dir: str | os.PathLike, save_to: str | os.PathLike | None = None):
    """Read every shard of `out_dir` into one `datasets.Dataset` (optionally `save_to_disk(save_to)`).

    Raises if a shard is missing, i.e. if not every process has finished.
    """
    from datasets import Dataset

    files = shard_files(out_dir)
    if not files:
        raise FileNotFoundError(f"no {SHARD_GLOB} files in {out_dir}")
    expected = int(files[0].stem.rsplit("-of-", 1)[1])
    if len(files) != expected:
        raise ValueError(f"{out_dir}: {len(files)} of {expected} shards present; wait for every process to finish")
    records = []
    for path in files:
        _read_done(path)  # drops a torn last line
        with open(path, encoding="utf-8") as handle:
            records.extend(json.loads(line) for line in handle)
    dataset = Dataset.from_list(records)
    if save_to is not None:
        import shutil
        import tempfile

        from .extend import atomic_replace_dir

        target = Path(save_to).resolve()
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
        try:
            dataset.save_to_disk(str(tmp))
            atomic_replace_dir(tmp, target, overwrite=True)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return dataset
