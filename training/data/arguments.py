"""``DataArguments``: where the training audio (and transcripts) come from and how they are cut.

The one description of the data, for ``llmcodec train`` configs (``HfArgumentParser``) and for the data helpers
(``build_datasets``, ``build_collator``). Defaults follow the recipe: LibriSpeech ``clean`` ``train.100``,
validation on ``validation``, 4 s crops with +-24-sample phase jitter.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["DataArguments"]


def _help(text: str, default, **kwargs):
    if isinstance(default, list):
        value = default
        return field(default_factory=lambda: list(value), metadata={"help": text}, **kwargs)
    return field(default=default, metadata={"help": text}, **kwargs)


@dataclass
class DataArguments:
    """Where the audio (and transcripts) come from and how they are cropped."""

    dataset: str = _help("Hub id, local folder, save_to_disk folder, or 'synthetic' (tiny in-memory fallback, not "
                         "speech)", "openslr/librispeech_asr")
    dataset_config: str | None = _help("dataset config name of a Hub dataset (LibriSpeech: clean)", "clean")
    extra_datasets: list[str] = _help("local corpus folders mixed into the training set (same train_split), e.g. the "
                                      "recorded-speech corpus of `llmcodec corpus recorded`", [])
    train_split: str = _help("training split (or split folder)", "train.100")
    validation_split: str | None = _help("split (or folder) used by val_every; None = no validation set",
                                         "validation")
    audio_column: str = _help("audio column of the dataset", "audio")
    text_column: str | None = _help("transcript column (semantic alignment needs it); None = no transcripts", "text")
    streaming: bool = _help("stream a Hub dataset instead of downloading it (and iterate a local one)", False)
    segment_seconds: float = _help("crop length in seconds (shorter audio is reflect-padded)", 4.0)
    phase_jitter: int = _help("maximum circular shift of each training crop, in samples", 24)
    recording_conditions: bool = _help("degrade each training crop with seeded recording conditions (level, simulated "
                                       "rooms, background noise, band limits, lossy codecs; "
                                       "training/data/augmentation.py); the degraded crop is input and target", False)
    build_corpus_if_missing: bool = _help("if `dataset` is a missing local folder, synthesise the offline corpus "
                                          "there first (espeak-ng / flite / festival)", False)
    corpus_max_voices: int | None = _help("voices of that corpus (None = all installed)", 8)
    corpus_utterances_per_voice: int = _help("utterances per voice of that corpus", 2)
    synthetic_num_examples: int = _help("examples of dataset=synthetic", 16)

    def segment_samples(self, sample_rate: int = 16_000) -> int:
        """Crop length in samples (64,000 for 4 s at 16 kHz)."""
        return int(round(self.segment_seconds * sample_rate))
