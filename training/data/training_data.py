"""Training data for ``LLMCodecTrainer``: deterministic crops (for exact resume), the offline corpus, a synthetic fallback.

Exact resume needs batch contents that do not depend on when the global RNG was last restored (the
Trainer restores it only after prefetching the first resumed batches). So the crop offset and phase
jitter of each example come from a generator seeded by ``(seed, virtual index)``:

* :class:`RepeatedDataset` presents ``repeats`` passes over a map-style dataset as one long epoch; the
  virtual index ``k`` maps to item ``k % n`` and carries ``crop_seed = hash(seed, k)``, so every pass
  gets fresh crops, yet a resumed run sees exactly the crops the uninterrupted one saw;
* :class:`SeededCropCollator` wraps :class:`~llmcodec.training.data.collator.SpeechCollator` with a
  generator seeded from the batch's ``crop_seed`` values.

``dataset: synthetic`` is a documented tiny fallback for machines without the speech synthesizers:
harmonic "vowel" chirps with formant-like envelopes, noise bursts and pauses, each with a short
pseudo-transcript. It is not speech; use the offline corpus (``llmcodec corpus build``) when possible.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
from typing import Any, Sequence

import numpy as np
import torch

from llmcodec.training.data.collator import SpeechCollator

logger = logging.getLogger(__name__)

__all__ = ["RepeatedDataset", "SeededCropCollator", "synthetic_speechlike_dataset", "build_train_dataset",
           "build_validation_dataset"]


def _crop_seed(seed: int, index: int) -> int:
    digest = hashlib.blake2b(f"{seed}|{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & 0x7FFF_FFFF_FFFF_FFFF


class RepeatedDataset(torch.utils.data.Dataset):
    """``repeats`` passes over ``base`` (map-style) as one dataset; item ``k`` is ``base[k % n]`` plus
    ``crop_seed`` (int) derived from ``(seed, k)``."""

    def __init__(self, base: Any, repeats: int, seed: int) -> None:
        if len(base) == 0:
            raise ValueError("the training dataset is empty (0 examples)")
        self.base, self.repeats, self.seed = base, max(1, int(repeats)), int(seed)

    def __len__(self) -> int:
        return len(self.base) * self.repeats

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = dict(self.base[index % len(self.base)])
        item["crop_seed"] = _crop_seed(self.seed, index)
        return item

    def __getattr__(self, name: str) -> Any:  # num_bad_files, text_column, … of the wrapped dataset
        if name in ("base", "repeats", "seed"):
            raise AttributeError(name)
        return getattr(self.base, name)


class SeededCropCollator:
    """Fixed-length crops + phase jitter drawn from a generator seeded by the examples' ``crop_seed``.

    Output as :class:`SpeechCollator`: ``input_values`` (B, 1, L) float32, ``padding_mask`` (B, L), ``text``
    list[str], … Examples without ``crop_seed`` (streaming datasets) fall back to the global RNG.
    """

    def __init__(self, segment_samples: int, phase_jitter: int = 24, random_crop: bool = True,
                 pitch_hop: int = 0, sample_rate: int = 16_000, conditions: Any = None) -> None:
        self.segment_samples, self.phase_jitter, self.random_crop = segment_samples, phase_jitter, random_crop
        self.pitch_hop, self.sample_rate = pitch_hop, sample_rate  # pitch_hop > 0: F0 targets (SpeechCollator)
        self.conditions = conditions  # recording-conditions augmentation (SpeechCollator)

    def __call__(self, features: Sequence[dict[str, Any]]) -> dict[str, Any]:
        seeds = [f.get("crop_seed") for f in features]
        generator = None
        if all(s is not None for s in seeds):
            generator = torch.Generator().manual_seed(_crop_seed(0, hash(tuple(int(s) for s in seeds))))
        collate = SpeechCollator(self.segment_samples, self.random_crop, self.phase_jitter, generator=generator,
                                 pitch_hop=self.pitch_hop, sample_rate=self.sample_rate, conditions=self.conditions)
        return collate(features)


_WORDS = ("alpha", "bravo", "coda", "delta", "echo", "fox", "golf", "hotel", "india", "juliet", "kilo", "lima")


def synthetic_speechlike_dataset(num_examples: int = 16, seconds: float = 1.5, sample_rate: int = 16_000,
                                 seed: int = 0) -> list[dict[str, Any]]:
    """Tiny in-memory fallback corpus: ``[{"audio": {"array": (T,) float32, "sampling_rate"}, "text": str}]`` of harmonic chirps with
    a syllable-rate amplitude envelope, noise bursts and pauses (not speech; see the module docstring)."""
    rng = np.random.default_rng(seed)
    out = []
    n = int(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    for i in range(num_examples):
        f0 = rng.uniform(90, 260) * (1 + 0.15 * np.sin(2 * math.pi * rng.uniform(0.5, 2.0) * t))
        phase = 2 * math.pi * np.cumsum(f0) / sample_rate
        voiced = sum((1.0 / k) * np.sin(k * phase) for k in range(1, 12))
        syllables = 0.5 * (1 + np.sin(2 * math.pi * rng.uniform(3, 6) * t - math.pi / 2))
        noise = rng.standard_normal(n) * (syllables < 0.15) * 0.3
        x = (voiced * syllables + noise) * rng.uniform(0.2, 0.6) / 3.0
        x += 1e-3 * rng.standard_normal(n)
        words = " ".join(rng.choice(_WORDS, size=int(rng.integers(3, 8))))
        out.append({"audio": {"array": x.astype(np.float32), "sampling_rate": sample_rate}, "text": words})
    return out


def _mixed_local_folders(paths: list[str], args: Any, require_text: bool) -> Any:
    """One map-style dataset over several local corpus folders (their ``audio`` and ``text`` columns)."""
    from datasets import concatenate_datasets

    from llmcodec.training.data.audio_dataset import DataError, SpeechDataset, load_local_folder

    text = args.text_column or "text"
    parts = []
    for folder in paths:
        folder = os.path.expanduser(folder)
        if not os.path.isdir(folder):
            raise DataError(f"data folder not found: {folder} (listed in dataset/extra_datasets)")
        part = load_local_folder(folder, args.train_split, text, require_text)
        if text not in part.column_names:
            part = part.add_column(text, [""] * len(part))
        parts.append(part.select_columns(["audio", text]))
        logger.info("training data: %d files from %s", len(part), folder)
    return SpeechDataset(concatenate_datasets(parts), audio_column="audio", text_column=text, require_text=require_text)


def _has_corpus(path: str) -> bool:
    """A folder with at least one split's metadata (an empty folder left by a failed build is not a corpus)."""
    if not os.path.isdir(path):
        return False
    return any(os.path.isfile(os.path.join(path, d, "metadata.jsonl")) for d in os.listdir(path)) \
        or os.path.isfile(os.path.join(path, "metadata.jsonl"))


def _synthesise_corpus(path: str, args: Any) -> None:
    """``llmcodec corpus build`` with the synthesizers installed here; a failed build leaves no empty folder."""
    from llmcodec.training.data.audio_dataset import DataError
    from llmcodec.training.data.corpus.synthesis import CorpusConfig, build_corpus
    from llmcodec.training.data.corpus.voices import APT_PACKAGES, ENGINES, installed_engines

    engines = installed_engines()
    if not engines:
        packages = " ".join(p for e in ENGINES for p in APT_PACKAGES[e])
        raise DataError(f"no offline corpus at {path} and no speech synthesizer to build one: apt-get install {packages}")
    missing = [e for e in ENGINES if e not in engines]
    logger.warning("offline corpus not found at %s: synthesising a small one with %s (llmcodec corpus build)%s", path,
                   ", ".join(engines), f"; not installed: {', '.join(missing)}" if missing else "")
    cfg = CorpusConfig(utterances_per_voice=args.corpus_utterances_per_voice, max_voices=args.corpus_max_voices,
                       engines=tuple(engines), engine_weights={"espeak-ng": 1, "flite": 4, "festival": 4})
    existed = os.path.isdir(path)
    try:
        report = build_corpus(path, cfg)
        if not report.total:
            raise DataError(f"could not synthesise the offline corpus into {path}: {report.failed or report.voices_failed}")
    except BaseException:
        if not existed and os.path.isdir(path) and not _has_corpus(path):
            import shutil

            shutil.rmtree(path, ignore_errors=True)
        raise


def build_train_dataset(data_args: Any, training_args: Any) -> Any:
    """The (map-style or streaming) training dataset described by ``DataArguments`` (transcripts are required when
    the ``LLMCodecTrainingArguments`` enable SA; ``seed`` seeds the synthetic fallback).

    ``dataset: synthetic`` gives the in-memory fallback; a missing local folder with
    ``build_corpus_if_missing`` synthesises the offline corpus there first.
    Raises :class:`~llmcodec.training.data.audio_dataset.DataError` for empty data / missing columns.
    """
    return _build_split(data_args, data_args.train_split, False, bool(training_args.sa_enabled), training_args.seed)


def build_validation_dataset(data_args: Any, training_args: Any) -> Any:
    """``validation_split`` of ``dataset`` (what ``val_every`` scores); never built or mixed with ``extra_datasets``.

    ``dataset: synthetic`` gives a fresh synthetic set (another seed). Raises ``DataError`` when the split is missing.
    """
    return _build_split(data_args, data_args.validation_split, True, False, training_args.seed + 1)


def _build_split(args: Any, split: str, validation: bool, require_text: bool, seed: int) -> Any:
    from llmcodec.training.data.audio_dataset import SpeechDataset, load_audio_text_dataset

    if args.dataset == "synthetic":
        rows = synthetic_speechlike_dataset(args.synthetic_num_examples, seed=seed)
        return SpeechDataset(rows, text_column=args.text_column or "text", require_text=require_text)
    path = os.path.expanduser(args.dataset)
    # "owner/name" could be a Hub id or a relative folder: with build_corpus_if_missing it is a folder.
    looks_local = path.startswith((".", "/", "~")) or os.path.isdir(path) or args.build_corpus_if_missing
    if not validation and looks_local and args.build_corpus_if_missing and not _has_corpus(path):
        _synthesise_corpus(path, args)
    if args.extra_datasets and not validation:
        return _mixed_local_folders([path, *args.extra_datasets], args, require_text)
    return load_audio_text_dataset(path if looks_local else args.dataset, name=args.dataset_config, split=split,
                                   streaming=args.streaming, audio_column=args.audio_column,
                                   text_column=args.text_column, require_text=require_text)
