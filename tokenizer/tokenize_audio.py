"""Audio → LLM-Codec codes → `<CODEC_n>` strings, as jsonl shards (and a `datasets` dataset) for LM training.

Inputs are audio files or an HF audio dataset (any other columns are carried along). Shardable: process `k`
of `n` takes items `i` with `i % n == k` and writes its own `codes-0000k-of-0000n.jsonl`, so `accelerate
launch` / several machines can share one corpus (`RANK`/`WORLD_SIZE` are read when no shard is given).

How a shard runs, so that the codec never waits and little is padded:

- items are taken in windows of `window_items` (in listing order); worker processes of a torch `DataLoader`
  decode and resample the next windows while the codec encodes the current one;
- inside a window, items are sorted by length and cut into batches of at most `batch_size` items and
  `max_batch_seconds` of padded audio (`llmcodec.batching.length_sorted_batches`), each coded by
  `llmcodec.batching.encode_batch`;
- a window's records are appended in listing order once the window is coded, then flushed: a killed run
  loses at most the window in progress, and a rerun skips every id already written (a torn last line is
  dropped). One unreadable item is reported and skipped; the rest go on.

The shard file is locked (`fcntl.flock`) while a process writes it, so a second process on the same shard
is refused instead of writing every record again; `merge_to_dataset` refuses duplicate ids.

One output record: `{"id": ..., "audio_tokens": "<CODEC_5><CODEC_17>…", "n_codes": T, **carried columns}`.

Framing is the project's one rule (as `llmcodec encode`, `llmcodec evaluate` and the Codec-SUPERB adapter):
`L` samples at 16 kHz give `floor(L / 320)` codes (the last partial frame is dropped), and audio longer than
`chunk_length_s` (default 60 s, the CLI's `--chunk-seconds`) is coded in windows with 5 s of context.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .audio_sources import RESERVED_KEYS, AudioSource, DatasetSource, FileSource, id_root  # noqa: F401 - re-exported
from .extend import CODEC_PREFIX
from .mapping import AudioTokenMap

logger = logging.getLogger(__name__)

SHARD_GLOB = "codes-*-of-*.jsonl"


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


@dataclass
class _Item:
    position: int
    key: str
    waveform: torch.Tensor | None = None
    extra: dict | None = None
    error: str | None = None


class _WindowDecoder(torch.utils.data.Dataset):
    """Window `k` of item indices -> its decoded `_Item`s (runs in a data-loader worker); errors stay per item."""

    def __init__(self, source: AudioSource, windows: list[list[int]], sampling_rate: int, hop_length: int):
        self.source, self.windows, self.rate, self.hop = source, windows, sampling_rate, hop_length

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, window: int) -> list[_Item]:
        from llmcodec.audio import AudioReadError

        items = []
        for index in self.windows[window]:
            item = _Item(index, self.source.key(index))
            try:
                item.waveform, item.extra = self.source.load(index, self.rate)
                if item.waveform.numel() < self.hop:
                    raise AudioReadError(f"{item.waveform.numel()} samples is shorter than one code ({self.hop} samples)")
            except Exception as error:  # one bad file must not stop a corpus run
                item.waveform, item.error = None, str(error) or type(error).__name__
            items.append(item)
        return items


def _as_is(window):
    return window


@contextlib.contextmanager
def locked_shard(path: Path):
    """Holds an exclusive `flock` on the shard file while a process writes or merges it; refuses a second one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ValueError(
                f"{path}: another process is writing this shard; wait for it to finish, or give each process "
                "its own --shard-index/--num-shards"
            ) from None
        try:
            yield handle
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def tokenize_audio(
    model,
    source: AudioSource,
    out_dir: str | os.PathLike,
    batch_size: int = 16,
    shard_index: int | None = None,
    num_shards: int | None = None,
    device: str | torch.device | None = None,
    codebook_domain: str | None = None,
    chunk_length_s: float | None = 60.0,
    prefix: str = CODEC_PREFIX,
    progress: bool = True,
    max_batch_seconds: float | None = 160.0,
    num_workers: int = 1,
    window_items: int = 256,
) -> TokenizeReport:
    """Encode this shard's items with `model` and append records to its jsonl file.

    Args:
        model: an `LLMCodecModel` (or an `OnnxCodec`) with `encode`.
        batch_size / max_batch_seconds: at most this many items, and this many seconds of padded audio
            (items x longest), per forward pass; None lifts the seconds bound.
        num_workers: decoding processes (0 decodes in this process, between batches).
        window_items: items sorted together; also what a killed run may have to redo.
        chunk_length_s: code audio longer than this in windows (default 60 s, as the CLI); None: one pass.

    Returns a :class:`TokenizeReport`. Unreadable items are reported, not fatal; a rerun retries them.
    """
    from tqdm.auto import tqdm

    from llmcodec.batching import encode_batch, length_sorted_batches

    index, count = shard_from_env(shard_index, num_shards)
    if batch_size < 1 or window_items < 1 or num_workers < 0:
        raise ValueError(f"batch_size and window_items must be >= 1 and num_workers >= 0, got "
                         f"{batch_size}, {window_items}, {num_workers}")
    if max_batch_seconds is not None and not max_batch_seconds > 0:
        raise ValueError(f"max_batch_seconds must be > 0, got {max_batch_seconds}")
    device = torch.device(device) if device is not None else model.device
    model = model.to(device).eval()
    rate, hop = int(model.config.sampling_rate), int(model.config.hop_length)
    max_total = None if max_batch_seconds is None else int(max_batch_seconds * rate)
    token_map = AudioTokenMap(first_id=0, n_codes=int(model.config.codebook_size), prefix=prefix)
    out = shard_path(out_dir, index, count)
    with locked_shard(out) as handle:
        done = _read_done(out)
        mine = list(range(index, len(source), count))
        todo = [i for i in mine if source.key(i) not in done]
        report = TokenizeReport(path=out, skipped=len(mine) - len(todo))
        # A first window of one batch gets the codec going while the workers decode the next, larger ones.
        first = todo[:batch_size]
        windows = ([first] if first else []) + [
            todo[s : s + window_items] for s in range(len(first), len(todo), window_items)
        ]
        loader = torch.utils.data.DataLoader(
            _WindowDecoder(source, windows, rate, hop), batch_size=None, collate_fn=_as_is,
            num_workers=num_workers, prefetch_factor=2 if num_workers else None,
        )
        bar = tqdm(total=len(mine), initial=report.skipped, desc=f"tokenize shard {index}/{count}", unit="item",
                   disable=not progress, position=index)
        for items in loader:
            good = [item for item in items if item.error is None]
            for item in items:
                if item.error is not None:
                    report.failed.append((item.key, item.error))
            bar.update(len(items) - len(good))
            lines: dict[int, str] = {}
            for batch in length_sorted_batches([item.waveform.numel() for item in good], batch_size,
                                               max_total=max_total):
                chosen = [good[j] for j in batch]
                codes = encode_batch(
                    model, [item.waveform for item in chosen], sampling_rate=rate, codebook_domain=codebook_domain,
                    chunk_length_s=chunk_length_s, device=device, warn_out_of_range=False,
                )
                for item, item_codes in zip(chosen, codes):
                    text = token_map.codes_to_text(item_codes)
                    record = {"id": item.key, "audio_tokens": text, "n_codes": int(item_codes.size), **item.extra}
                    lines[item.position] = json.dumps(record, ensure_ascii=False) + "\n"
                bar.update(len(chosen))
            handle.write("".join(lines[position] for position in sorted(lines)))
            handle.flush()  # a killed run keeps every finished window
            report.written += len(lines)
        bar.close()
    for key, reason in report.failed:
        logger.warning("failed: %s: %s", key, reason)
    return report


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
        with locked_shard(path):  # refuses a shard that a running process is still writing
            _read_done(path)  # drops a torn last line
            with open(path, encoding="utf-8") as handle:
                records.extend(json.loads(line) for line in handle)
    counts = Counter(str(record["id"]) for record in records)
    repeated = [(key, n) for key, n in counts.items() if n > 1]
    if repeated:
        key, n = repeated[0]
        raise ValueError(
            f"{out_dir}: id {key!r} appears {n} times ({len(repeated)} ids repeated): the shards hold records "
            "written twice; keep one record per id before merging"
        )
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
