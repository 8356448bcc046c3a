"""Inaudible perturbations and the token invariance loss (training/objectives/token_invariance.py)."""

from __future__ import annotations

import math

import pytest
import torch

from llmcodec.training.objectives.token_invariance import inaudible_perturbation, latent_invariance_loss


def _dbfs(x: torch.Tensor) -> torch.Tensor:
    return 20 * torch.log10(x.pow(2).mean(-1).sqrt())


def test_perturbation_noise_level_and_gain_stay_in_their_ranges():
    gen = torch.Generator().manual_seed(0)
    silence = torch.zeros(64, 1, 16000)
    noise_only = inaudible_perturbation(silence, (-80.0, -60.0), gain_db=0.0, generator=gen)
    levels = _dbfs(noise_only.squeeze(1))
    assert noise_only.shape == silence.shape and noise_only.dtype == silence.dtype
    assert float(levels.min()) > -80.5 and float(levels.max()) < -59.5
    assert float(levels.max() - levels.min()) > 10  # drawn per item, not one level for the batch
    tone = 0.1 * torch.sin(torch.arange(16000) / 16000 * 2 * math.pi * 220).expand(64, 16000)
    gained = inaudible_perturbation(tone, (-200.0, -200.0), gain_db=1.0, generator=gen)  # noise ~ 1e-10: gain only
    change = _dbfs(gained) - _dbfs(tone)
    assert float(change.abs().max()) <= 1.0 + 1e-4 and float(change.abs().max()) > 0.5
    assert float(change.min()) < 0 < float(change.max())  # louder and quieter copies both occur


def test_perturbation_is_reproducible_from_a_generator_and_checks_its_ranges():
    x = torch.randn(3, 1, 800) * 0.1
    a = inaudible_perturbation(x, generator=torch.Generator().manual_seed(5))
    b = inaudible_perturbation(x, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and not torch.equal(a, x)
    with pytest.raises(ValueError, match="low <= high"):
        inaudible_perturbation(x, (-60.0, -80.0))
    with pytest.raises(ValueError, match="gain_db must be >= 0"):
        inaudible_perturbation(x, gain_db=-1.0)


def test_invariance_loss_values_mask_and_detached_target():
    clean = torch.randn(2, 5, 8)
    assert float(latent_invariance_loss(clean, 3.0 * clean)) == pytest.approx(0.0, abs=1e-6)  # scale-free (cosine)
    assert float(latent_invariance_loss(clean, -clean)) == pytest.approx(2.0, abs=1e-6)
    orthogonal = torch.zeros(1, 1, 8); orthogonal[..., 0] = 1
    other = torch.zeros(1, 1, 8); other[..., 1] = 1
    assert float(latent_invariance_loss(orthogonal, other)) == pytest.approx(1.0, abs=1e-6)
    perturbed = clean.clone()
    perturbed[1, 3:] = -clean[1, 3:]  # the padded frames disagree completely
    mask = torch.ones(2, 5, dtype=torch.bool); mask[1, 3:] = False
    assert float(latent_invariance_loss(clean, perturbed, mask)) == pytest.approx(0.0, abs=1e-6)
    assert float(latent_invariance_loss(clean, perturbed)) == pytest.approx(2.0 * 2 / 10, abs=1e-5)  # 2 of 10 frames at distance 2
    clean.requires_grad_(True)
    moved = (clean.detach() + 0.3 * torch.randn(2, 5, 8)).requires_grad_(True)
    latent_invariance_loss(clean, moved).backward()
    assert clean.grad is None and moved.grad is not None and moved.grad.abs().sum() > 0


def test_invariance_loss_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="same \\(B, T, C\\) shape"):
        latent_invariance_loss(torch.zeros(1, 4, 8), torch.zeros(1, 5, 8))
    with pytest.raises(ValueError, match="mask must be"):
        latent_invariance_loss(torch.zeros(1, 4, 8), torch.zeros(1, 4, 8), torch.ones(1, 5, dtype=torch.bool))
    assert float(latent_invariance_loss(torch.zeros(1, 2, 8), torch.ones(1, 2, 8), torch.zeros(1, 2, dtype=torch.bool))) == 0.0
