"""The intelligibility loss, 1 - STOI through torch-stoi (training/objectives/intelligibility.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from pystoi import stoi

from llmcodec.training.objectives.intelligibility import IntelligibilityLoss


def _speechlike(batch: int, seconds: float = 2.0, seed: int = 0) -> torch.Tensor:
    """Harmonic bursts with a 4 Hz syllable envelope: enough modulated energy in STOI's bands."""
    gen = torch.Generator().manual_seed(seed)
    t = torch.arange(int(16000 * seconds)) / 16000
    f0 = 110 + 60 * torch.rand(batch, 1, generator=gen)
    wave = sum(torch.sin(2 * math.pi * k * f0 * t) / k for k in range(1, 12))
    envelope = torch.sin(2 * math.pi * 4 * t + torch.rand(batch, 1, generator=gen) * 6).clamp_min(0)
    return 0.1 * wave * envelope + 1e-3 * torch.randn(batch, t.numel(), generator=gen)


def test_loss_is_one_minus_stoi_close_to_pystoi_and_zero_for_a_copy():
    loss = IntelligibilityLoss(16000)
    clean = _speechlike(3)
    noisy = clean + 0.05 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(1))
    assert float(loss(clean, clean)) == pytest.approx(0.0, abs=1e-4)
    assert float(loss(clean, 0.3 * clean)) == pytest.approx(0.0, abs=1e-4)  # STOI ignores the overall level
    reference = np.mean([1 - stoi(c.numpy(), n.numpy(), 16000) for c, n in zip(clean, noisy)])
    value = float(loss(clean, noisy))
    assert 0.05 < value < 1.0
    assert value == pytest.approx(reference, abs=0.03)  # torch-stoi differs from pystoi in its resampler only
    assert float(loss(clean.unsqueeze(1), noisy.unsqueeze(1))) == pytest.approx(value, abs=1e-6)  # (B, 1, T) too


def test_gradient_reaches_the_reconstruction_and_nothing_is_trainable_or_saved():
    loss = IntelligibilityLoss(16000)
    assert list(loss.parameters()) == [] and loss.state_dict() == {}
    clean = _speechlike(2)
    recon = (clean + 0.05 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(2))).requires_grad_(True)
    loss(clean, recon).backward()
    assert recon.grad is not None and torch.isfinite(recon.grad).all() and recon.grad.abs().sum() > 0


def test_silent_crops_leave_the_mean_and_an_all_silent_batch_gives_zero_with_a_graph():
    loss = IntelligibilityLoss(16000)
    clean = _speechlike(2)
    noisy = clean + 0.05 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(3))
    speech_only = float(loss(clean[:1], noisy[:1]))
    mixed_clean = torch.cat([clean[:1], torch.zeros(1, clean.shape[1])])
    mixed_recon = torch.cat([noisy[:1], torch.zeros(1, clean.shape[1])])
    assert float(loss(mixed_clean, mixed_recon)) == pytest.approx(speech_only, abs=1e-5)
    silent = torch.zeros(2, 32000, requires_grad=True)
    value = loss(torch.zeros(2, 32000), silent)
    assert float(value) == 0.0 and value.requires_grad
    value.backward()
    assert torch.isfinite(silent.grad).all()


def test_shapes_must_match():
    loss = IntelligibilityLoss(16000)
    with pytest.raises(ValueError, match="same shape"):
        loss(torch.zeros(2, 16000), torch.zeros(2, 15000))
