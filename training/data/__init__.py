"""Training data for LLM-Codec: configuration and one-call construction of datasets and collators.

The recipe (§6.9) trains on LibriSpeech ``clean`` ``train.100`` and validates on ``validation``, with
4 s random crops (reflect-padded when shorter), ±24-sample phase jitter and the full transcript. For
offline and CPU runs point ``dataset`` at a local folder, e.g. the synthetic corpus built by
``llmcodec corpus build OUT_DIR``.

Example::

    cfg = DataConfig(dataset="corpus/")                 # or the LibriSpeech default
    train, val = build_datasets(cfg)
    loader = DataLoader(train, batch_size=2, collate_fn=build_collator(cfg, train=True))
    batch = next(iter(loader))   # input_values (2, 1, 64000), padding_mask (2, 64000), text [...]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
    "SAMPLE_RATE", "AudioDecodeError", "DataConfig", "DataError", "IterableSpeechDataset", "SpeechCollator",
    "SpeechDataset", "batch_frame_f0", "build_collator", "build_datasets", "crop_or_pad", "decode_audio", "frame_f0",
    "load_audio_text_dataset", "load_local_folder", "reflect_pad_centre", "to_mono",
]


@dataclass
class DataConfig:
    """Where the audio comes from and how it is cut. Defaults follow the recipe.

    Attributes:
        dataset: Hub id, local folder, ``save_to_disk`` folder.
        config_name: dataset config (``"clean"`` for LibriSpeech).
        train_split, eval_split: split names; ``eval_split=None`` skips validation.
        streaming: stream instead of downloading (Hub datasets), or iterate a local one.
        require_text: fail early when the text column is missing (needed by the SA loss).
        segment_seconds: crop length; ``phase_jitter`` maximum circular shift in samples.
        load_kwargs: extra ``datasets.load_dataset`` arguments (``cache_dir``, ``revision`` …).
    """

    dataset: str = "openslr/librispeech_asr"
    config_name: str | None = "clean"
    train_split: str = "train.100"
    eval_split: str | None = "validation"
    audio_column: str = "audio"
    text_column: str | None = "text"
    require_text: bool = True
    streaming: bool = False
    sample_rate: int = SAMPLE_RATE
    segment_seconds: float = 4.0
    phase_jitter: int = 24
    load_kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def segment_samples(self) -> int:
        """Crop length in samples (64,000 for 4 s at 16 kHz)."""
        return int(round(self.segment_seconds * self.sample_rate))


def build_datasets(cfg: DataConfig) -> tuple[SpeechDataset | IterableSpeechDataset,
                                              SpeechDataset | IterableSpeechDataset | None]:
    """Open the train and (optional) eval datasets; dataset-level problems raise :class:`DataError`."""

    def load(split: str) -> SpeechDataset | IterableSpeechDataset:
        return load_audio_text_dataset(
            cfg.dataset, name=cfg.config_name, split=split, streaming=cfg.streaming,
            audio_column=cfg.audio_column, text_column=cfg.text_column, require_text=cfg.require_text,
            sample_rate=cfg.sample_rate, **cfg.load_kwargs,
        )

    return load(cfg.train_split), (load(cfg.eval_split) if cfg.eval_split else None)


def build_collator(cfg: DataConfig, train: bool = True) -> SpeechCollator:
    """Random crops and phase jitter for training; centred crops without jitter for evaluation."""
    return SpeechCollator(
        segment_samples=cfg.segment_samples, random_crop=train, phase_jitter=cfg.phase_jitter if train else 0,
    )
