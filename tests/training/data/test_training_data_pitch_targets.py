"""``pitch_targets``: Praat F0 per codec frame, aligned to frame centres; the collator's ``pitch_f0``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from llmcodec.training.data import SpeechCollator, batch_frame_f0, frame_f0
from llmcodec.training.data.training_data import SeededCropCollator

SR, HOP = 16_000, 320


def harmonic(f0_hz: np.ndarray) -> np.ndarray:
    """A 10-harmonic tone following the per-sample F0 contour."""
    phase = 2 * np.pi * np.cumsum(f0_hz) / SR
    return (0.3 * sum(np.sin(k * phase) / k for k in range(1, 11))).astype(np.float32)


def test_a_steady_tone_gives_its_f0_on_every_frame():
    f0 = frame_f0(harmonic(np.full(SR, 200.0)), SR, HOP)
    assert f0.shape == (SR // HOP,) and f0.dtype == np.float32
    voiced = f0[f0 > 0]
    assert len(voiced) >= 0.85 * len(f0)
    assert np.abs(voiced / 200.0 - 1).max() < 0.02


def test_frames_follow_a_step_in_pitch_at_their_centres():
    contour = np.where(np.arange(2 * SR) < SR, 150.0, 300.0)  # the step is at 1 s = frame 50's start
    f0 = frame_f0(harmonic(contour), SR, HOP)
    assert np.all(np.abs(f0[5:47] / 150 - 1) < 0.03)
    assert np.all(np.abs(f0[53:95] / 300 - 1) < 0.03)
    # a frame reads the pitch at its centre: (t + 0.5) * hop; a tracker frame a few frames wide smears the step
    assert np.abs(f0[47:53] - np.where(np.arange(47, 53) < 50, 150, 300)).argmax() in range(1, 5)


@pytest.mark.parametrize("wave", [np.zeros(SR, np.float32), harmonic(np.full(700, 200.0)),
                                  np.random.default_rng(0).standard_normal(SR).astype(np.float32) * 0.01])
def test_silence_short_clips_and_noise_are_unvoiced_not_errors(wave):
    f0 = frame_f0(wave, SR, HOP)
    assert f0.shape == (len(wave) // HOP,)
    assert (f0 > 0).sum() <= 0.1 * len(f0)


def test_the_collator_adds_pitch_targets_of_the_jittered_crop_only_when_asked():
    examples = [{"audio": harmonic(np.full(SR, f)), "text": "a"} for f in (120.0, 240.0)]
    plain = SpeechCollator(SR // 2, phase_jitter=24)(examples)
    assert "pitch_f0" not in plain
    batch = SpeechCollator(SR // 2, phase_jitter=24, pitch_hop=HOP)(examples)
    assert batch["pitch_f0"].shape == (2, SR // 2 // HOP) and batch["pitch_f0"].dtype == torch.float32
    assert torch.equal(batch["pitch_f0"], batch_frame_f0(batch["input_values"], SR, HOP))
    medians = [row[row > 0].median().item() for row in batch["pitch_f0"]]
    assert abs(medians[0] - 120) < 3 and abs(medians[1] - 240) < 5
    seeded = SeededCropCollator(SR // 2, pitch_hop=HOP)([dict(e, crop_seed=i) for i, e in enumerate(examples)])
    assert seeded["pitch_f0"].shape == (2, SR // 2 // HOP)
    with pytest.raises(ValueError, match="pitch_hop"):
        SpeechCollator(SR, pitch_hop=-1)
