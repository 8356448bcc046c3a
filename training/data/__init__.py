"""Training data for LLM-Codec: one-call construction of datasets and collators from ``DataArguments``.

The recipe trains on LibriSpeech ``clean`` ``train.100`` and validates on ``validation``, with 4 s random crops
(reflect-padded when shorter), +-24-sample phase jitter and the full transcript. For offline and CPU runs point
``dataset`` at a local folder, e.g. the synthetic corpus built by ``llmcodec corpus build OUT_DIR``.

Example::

    args = DataArguments(dataset="corpus/", dataset_config=None, train_split="train")
    train, val = build_datasets(args)
    loader = DataLoader(train, batch_size=2, collate_fn=build_collator(args, train=True))
    batch = next(iter(loader))   # input_values (2, 1, 64000), padding_mask (2, 64000), text [...]
"""

from __future__ import annotations

from typing import Any

from llmcodec.training.data.arguments import DataArguments
from llmcodec.training.data.audio_dataset import (
    SAMPLE_RATE,
    AudioDecodeError,
    DataError,
    IterableSpeechDataset,
    SpeechDataset,
    decode_audio,
    load_audio_text_dataset,
    load_local_folder,
    to_mono,
)
from llmcodec.training.data.collator import SpeechCollator, crop_or_pad, reflect_pad_centre
from llmcodec.training.data.pitch_targets import batch_frame_f0, frame_f0

__all__ = [
    "SAMPLE_RATE", "AudioDecodeError", "DataArguments", "DataError", "IterableSpeechDataset", "SpeechCollator",
    "SpeechDataset", "batch_frame_f0", "build_collator", "build_datasets", "crop_or_pad", "decode_audio", "frame_f0",
    "load_audio_text_dataset", "load_local_folder", "reflect_pad_centre", "to_mono",
]


def build_datasets(args: DataArguments, require_text: bool = True, sample_rate: int = SAMPLE_RATE,
                   **load_kwargs: Any) -> tuple[SpeechDataset | IterableSpeechDataset,
                                                SpeechDataset | IterableSpeechDataset | None]:
    """Open the ``train_split`` and (unless None) ``validation_split`` of ``args.dataset``.

    ``require_text``: fail early when the text column is missing (the SA loss needs transcripts);
    ``load_kwargs``: passed to ``datasets.load_dataset`` (``cache_dir``, ``revision`` ...).
    Dataset-level problems raise :class:`DataError`."""

    def load(split: str) -> SpeechDataset | IterableSpeechDataset:
        return load_audio_text_dataset(
            args.dataset, name=args.dataset_config, split=split, streaming=args.streaming,
            audio_column=args.audio_column, text_column=args.text_column, require_text=require_text,
            sample_rate=sample_rate, **load_kwargs,
        )

    return load(args.train_split), (load(args.validation_split) if args.validation_split else None)


def build_collator(args: DataArguments, train: bool = True, sample_rate: int = SAMPLE_RATE) -> SpeechCollator:
    """Random crops and phase jitter for training; centred crops without jitter for evaluation."""
    return SpeechCollator(segment_samples=args.segment_samples(sample_rate), random_crop=train,
                          phase_jitter=args.phase_jitter if train else 0)
