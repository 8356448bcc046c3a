"""Audio + transcript datasets for codec training.

Sources (all end up as a torch dataset yielding ``{"audio": (T,) float32 at 16 kHz mono, "text": str}``):

* any Hugging Face ``datasets`` dataset with an audio column and a text column, map-style or streaming
  (``openslr/librispeech_asr``, config ``clean``, is the recipe's default);
* a dataset saved with ``save_to_disk``;
* a local folder: the synthetic corpus (``<split>/metadata.jsonl``), any folder with a
  ``metadata.jsonl``/``metadata.csv`` holding ``file_name`` and a text column, ``*.wav`` (flac, mp3 …)
  with same-stem ``.txt`` transcripts, or LibriSpeech's ``*.trans.txt`` layout.

Audio is decoded by ``audio_decoding`` (files through ``llmcodec.audio.load_audio``), not by ``datasets``, so that one unreadable file is skipped and counted instead of killing a run.
Dataset-level problems (empty, missing columns, nothing decodable) raise :class:`DataError` up front.
"""

from __future__ import annotations

import csv
import itertools
import json
import logging
import multiprocessing as mp
import os
from collections.abc import Iterator, Mapping
from typing import Any

import torch

from llmcodec.audio import AUDIO_EXTENSIONS
from llmcodec.training.data.audio_decoding import SAMPLE_RATE, AudioDecodeError, DataError, decode_audio, to_mono

logger = logging.getLogger(__name__)



# --------------------------------------------------------------------------------------------- datasets


class _BadFileCounter:
    """Count of skipped items, shared with DataLoader worker processes."""

    def __init__(self) -> None:
        self._value = mp.get_context().Value("q", 0)

    def add(self) -> int:
        with self._value.get_lock():
            self._value.value += 1
            return self._value.value

    @property
    def value(self) -> int:
        return int(self._value.value)


class _SpeechBase:
    def __init__(self, audio_column: str, text_column: str | None, require_text: bool, sample_rate: int,
                 max_logged: int = 10) -> None:
        self.audio_column = audio_column
        self.text_column = text_column
        self.require_text = require_text
        self.sample_rate = sample_rate
        self.max_logged = max_logged
        self._bad = _BadFileCounter()

    @property
    def num_bad_files(self) -> int:
        """Items skipped because their audio could not be decoded (all worker processes)."""
        return self._bad.value

    def _check_columns(self, columns: list[str] | None) -> None:
        if columns is None:
            return
        if self.audio_column not in columns:
            raise DataError(f"audio column {self.audio_column!r} not in dataset columns {columns}")
        if self.require_text and (self.text_column is None or self.text_column not in columns):
            raise DataError(
                f"text column {self.text_column!r} not in dataset columns {columns}; the semantic-alignment "
                "loss needs transcripts (set the right text column, or require_text=False without SA)"
            )

    def _example(self, row: Mapping[str, Any], where: str) -> dict[str, Any]:
        """Decode one row into ``{"audio": (T,), "text": str}``; raises AudioDecodeError."""
        wave, sr = decode_audio(row[self.audio_column])
        audio = to_mono(wave, sr, self.sample_rate)
        text = row.get(self.text_column) if self.text_column else None
        return {"audio": audio, "text": "" if text is None else str(text)}

    def _skip(self, where: str, err: Exception) -> None:
        n = self._bad.add()
        if n <= self.max_logged:
            logger.warning("skipping unreadable audio (%s, %d so far): %s", where, n, err)


def _audio_undecoded(ds: Any, column: str) -> Any:
    """Ask ``datasets`` for raw bytes/paths instead of decoded audio, so decoding errors reach us."""
    try:
        from datasets import Audio

        features = getattr(ds, "features", None)
        if features is not None and isinstance(features.get(column), Audio):
            return ds.cast_column(column, Audio(decode=False))
    except ImportError:  # pragma: no cover - datasets is a dependency
        pass
    return ds


class SpeechDataset(_SpeechBase, torch.utils.data.Dataset):
    """Map-style dataset over a ``datasets.Dataset`` (or any sequence of row dicts).

    ``ds[i]`` is ``{"audio": (T,) float32 at sample_rate, "text": str, "index": int}``. An unreadable
    item is counted (:attr:`num_bad_files`) and replaced by the next readable one, so batches keep
    their size; ``max_consecutive_failures`` bad items in a row raise, since that means a broken
    dataset rather than a bad file.

    Raises:
        DataError: empty dataset, missing audio/text column, or none of the first ``probe`` items decodes.
    """

    def __init__(self, dataset: Any, audio_column: str = "audio", text_column: str | None = "text",
                 require_text: bool = True, sample_rate: int = SAMPLE_RATE, probe: int = 4,
                 max_consecutive_failures: int = 32) -> None:
        super().__init__(audio_column, text_column, require_text, sample_rate)
        if len(dataset) == 0:
            raise DataError("the dataset is empty (0 examples)")
        self._check_columns(getattr(dataset, "column_names", None) or list(dataset[0].keys()))
        self.dataset = _audio_undecoded(dataset, audio_column)
        self.max_consecutive_failures = max_consecutive_failures
        if probe:
            _probe_rows(self, (self.dataset[i] for i in range(min(probe, len(self.dataset)))))

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, Any]:
        n = len(self.dataset)
        last: Exception | None = None
        for attempt in range(self.max_consecutive_failures):
            i = (index + attempt) % n
            try:
                return {**self._example(self.dataset[i], f"item {i}"), "index": i}
            except AudioDecodeError as e:
                self._skip(f"item {i}", e)
                last = e
        raise DataError(
            f"{self.max_consecutive_failures} consecutive unreadable audio items from index {index}; "
            f"last error: {last}"
        )


class IterableSpeechDataset(_SpeechBase, torch.utils.data.IterableDataset):
    """Streaming counterpart of :class:`SpeechDataset` over a ``datasets.IterableDataset``.

    Unreadable items are skipped and counted. With several DataLoader workers each worker reads its
    own shards (``datasets`` does this; give the source at least as many shards as workers), or every
    k-th row of a plain iterable.

    Raises:
        DataError: the stream is empty, lacks the audio/text column, or its first items do not decode.
    """

    def __init__(self, dataset: Any, audio_column: str = "audio", text_column: str | None = "text",
                 require_text: bool = True, sample_rate: int = SAMPLE_RATE, probe: int = 1) -> None:
        super().__init__(audio_column, text_column, require_text, sample_rate)
        self.dataset = _audio_undecoded(dataset, audio_column)
        self._check_columns(getattr(self.dataset, "column_names", None))
        if probe:
            head = list(itertools.islice(iter(self.dataset), probe))
            if not head:
                raise DataError("the streaming dataset is empty (no example in the stream)")
            self._check_columns(list(head[0].keys()))
            _probe_rows(self, head)

    def _rows(self) -> Iterator[Mapping[str, Any]]:
        info = torch.utils.data.get_worker_info()
        if info is None or info.num_workers == 1 or isinstance(self.dataset, torch.utils.data.IterableDataset):
            # A datasets.IterableDataset splits its shards over DataLoader workers by itself.
            return iter(self.dataset)
        return itertools.islice(iter(self.dataset), info.id, None, info.num_workers)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for k, row in enumerate(self._rows()):
            try:
                yield self._example(row, f"stream item {k}")
            except AudioDecodeError as e:
                self._skip(f"stream item {k}", e)


def _probe_rows(ds: _SpeechBase, rows: Any) -> None:
    """Raise DataError if none of ``rows`` decodes (a broken dataset, not a bad file)."""
    errors = []
    for row in rows:
        try:
            ds._example(row, "probe")
            return
        except AudioDecodeError as e:
            errors.append(str(e))
    if errors:
        raise DataError(f"none of the first {len(errors)} audio items could be decoded; first error: {errors[0]}")


# --------------------------------------------------------------------------------------------- local folders


def load_local_folder(path: str, split: str | None = None, text_column: str = "text",
                      require_text: bool = True) -> Any:
    """A ``datasets.Dataset`` (columns ``audio`` = file path, ``text``, plus metadata) for a folder.

    Looks, in order, for ``path/<split>/metadata.jsonl|csv``, ``path/metadata.jsonl|csv`` (filtered on
    its ``split`` column when it has one), then audio files under ``path/<split>`` or ``path`` with
    same-stem ``.txt`` transcripts or LibriSpeech ``*.trans.txt`` files.

    Raises:
        DataError: the folder does not exist or holds no usable audio.
    """
    from datasets import Dataset

    if not os.path.isdir(path):
        raise DataError(f"data folder not found: {path}")
    split_dirs = sorted(d for d in os.listdir(path) if _has_metadata(os.path.join(path, d)))
    if split and split_dirs and split not in split_dirs and not _has_metadata(path):
        raise DataError(f"split {split!r} not in {path}: it has splits {split_dirs}")
    root = os.path.join(path, split) if split and os.path.isdir(os.path.join(path, split)) else path
    rows = _metadata_rows(root, split if root == path else None, text_column)
    if rows is None:
        rows = _scan_rows(root, text_column)
    if require_text:
        missing = [r["audio"] for r in rows if r.get(text_column) in (None, "")]
        if missing:
            logger.warning("%d audio files in %s have no transcript and are left out, e.g. %s",
                           len(missing), root, missing[0])
            rows = [r for r in rows if r.get(text_column) not in (None, "")]
    if not rows:
        raise DataError(f"no audio files{' with transcripts' if require_text else ''} found in {root}"
                        + (f" for split {split!r}" if split else ""))
    columns = sorted({k for r in rows for k in r})
    return Dataset.from_dict({c: [r.get(c) for r in rows] for c in columns})


def _has_metadata(folder: str) -> bool:
    return any(os.path.isfile(os.path.join(folder, m)) for m in ("metadata.jsonl", "metadata.csv"))


def _metadata_rows(root: str, split: str | None, text_column: str) -> list[dict[str, Any]] | None:
    for name in ("metadata.jsonl", "metadata.csv"):
        meta = os.path.join(root, name)
        if not os.path.isfile(meta):
            continue
        if name.endswith(".jsonl"):
            with open(meta, encoding="utf-8") as f:
                rows = [json.loads(line) for line in f if line.strip()]
        else:
            with open(meta, encoding="utf-8", newline="") as f:
                rows = list(csv.DictReader(f))
        out = []
        for r in rows:
            if split is not None and "split" in r and r["split"] != split:
                continue
            file_name = r.get("file_name") or r.get("file") or r.get("path")
            if file_name is None:
                raise DataError(f"{meta}: rows need a 'file_name' field, got keys {sorted(r)}")
            out.append({**{k: v for k, v in r.items() if k != "file_name"},
                        "audio": os.path.join(root, file_name)})
        return out
    return None


def _scan_rows(root: str, text_column: str) -> list[dict[str, Any]]:
    librispeech: dict[str, str] = {}
    audio_files: list[str] = []
    for dirpath, _, files in os.walk(root):
        for fn in sorted(files):
            full = os.path.join(dirpath, fn)
            if fn.endswith(".trans.txt"):
                with open(full, encoding="utf-8") as f:
                    for line in f:
                        utt, _, text = line.strip().partition(" ")
                        librispeech[os.path.join(dirpath, utt)] = text
            elif fn.lower().endswith(AUDIO_EXTENSIONS):
                audio_files.append(full)
    rows = []
    for audio in sorted(audio_files):
        stem = os.path.splitext(audio)[0]
        text = librispeech.get(stem)
        if text is None and os.path.isfile(stem + ".txt"):
            with open(stem + ".txt", encoding="utf-8") as f:
                text = f.read().strip()
        rows.append({"audio": audio, text_column: text})
    return rows


# --------------------------------------------------------------------------------------------- entry point


def load_audio_text_dataset(source: Any, *, name: str | None = None, split: str | None = None,
                            streaming: bool = False, audio_column: str = "audio",
                            text_column: str | None = "text", require_text: bool = True,
                            sample_rate: int = SAMPLE_RATE, probe: int = 4,
                            **load_kwargs: Any) -> SpeechDataset | IterableSpeechDataset:
    """Open ``source`` as a dataset of 16 kHz mono ``(T,)`` waveforms with transcripts.

    Args:
        source: a ``datasets`` ``Dataset``/``IterableDataset``/``DatasetDict``, a local folder (see
            :func:`load_local_folder`), a ``save_to_disk`` folder, or a Hub id such as
            ``"openslr/librispeech_asr"``.
        name, split: dataset config and split (``"clean"``, ``"train.100"`` in the recipe).
        streaming: stream a Hub dataset instead of downloading it (and wrap a streaming dataset).
        load_kwargs: passed to ``datasets.load_dataset``.

    Raises:
        DataError: empty dataset, missing column, unknown split, nothing decodable.
    """
    import datasets

    from llmcodec.audio_datasets import is_saved_dataset, load_dataset_folder

    ds = source
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if os.path.isdir(path) and not is_saved_dataset(path):
            try:
                ds = load_local_folder(path, split, text_column or "text", require_text)
            except DataError as error:
                scripts = sorted(name for name in os.listdir(path) if name.endswith(".py"))
                if scripts:  # e.g. a clone of a Hub dataset repository that builds its data with Python code
                    raise DataError(f"{path} holds a dataset loading script ({scripts[0]}), which is never run; give a "
                                    "folder of audio files with transcripts, a save_to_disk folder or a Hub dataset "
                                    f"with data files ({error})") from None
                raise
            if streaming:
                ds = ds.to_iterable_dataset()
        elif not os.path.isdir(path) and (os.path.isabs(path) or path.startswith((".", "~")) or os.path.isfile(path)):
            # Looks local but is not a folder: say so rather than asking the Hub for it.
            raise DataError(f"data folder not found: {path} (expected a folder or a Hub dataset id)")
        else:  # a save_to_disk folder or a Hub id (one line for any failure, loading scripts refused)
            ds = load_dataset_folder(path, config=name, split=split, streaming=streaming, **load_kwargs)
    if isinstance(ds, (datasets.DatasetDict, datasets.IterableDatasetDict)):
        if split is None or split not in ds:
            raise DataError(f"split {split!r} not in dataset splits {list(ds)}")
        ds = ds[split]
    kwargs = dict(audio_column=audio_column, text_column=text_column, require_text=require_text,
                  sample_rate=sample_rate)
    if isinstance(ds, datasets.IterableDataset):
        return IterableSpeechDataset(ds, probe=min(probe, 1), **kwargs)
    return SpeechDataset(ds, probe=probe, **kwargs)
