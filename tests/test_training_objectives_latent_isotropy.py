"""Latent isotropy loss and the participation ratio (training/objectives/latent_isotropy.py)."""

from __future__ import annotations

import math

import pytest
import torch

from llmcodec.training.objectives.latent_isotropy import latent_isotropy_loss, participation_ratio


def _isotropic(n: int = 20_000, dims: int = 8) -> torch.Tensor:
    return torch.randn(1, n, dims, generator=torch.Generator().manual_seed(0))


def _planar(n: int = 20_000, dims: int = 8) -> torch.Tensor:
    # all variance in 2 of 8 directions: what the demo codec's latents had collapsed to
    plane = torch.randn(n, 2, generator=torch.Generator().manual_seed(1))
    return torch.cat([plane, 1e-3 * torch.randn(n, dims - 2)], dim=-1)[None]


def test_isotropic_latents_cost_almost_nothing_and_collapsed_ones_cost_a_lot():
    iso, flat = latent_isotropy_loss(_isotropic()), latent_isotropy_loss(_planar())
    assert float(iso) < 0.01
    # unit vectors on a circle of an 8-dim space: C*Cov = diag(4, 4, 0, ...), so mean((.. - I)^2) = (9+9+6)/64
    assert float(flat) == pytest.approx(24 / 64, rel=0.03)
    line = torch.zeros(1, 100, 8)
    line[..., 0] = torch.randn(100).sign()  # +-e0: the covariance is e0 e0^T, the loss (C-1)^2/C^2 + (C-1)/C^2
    assert float(latent_isotropy_loss(line)) == pytest.approx((49 + 7) / 64, rel=0.05)


def test_the_gradient_spreads_collapsed_latents():
    latents = _planar(2_000).clone().requires_grad_(True)
    optimizer = torch.optim.SGD([latents], lr=50.0)
    start = participation_ratio(latents.detach())
    for _ in range(200):
        optimizer.zero_grad()
        latent_isotropy_loss(latents).backward()
        optimizer.step()
    assert start < 2.1 and participation_ratio(latents.detach()) > 4.0


def test_the_mask_leaves_padded_frames_out():
    latents = _isotropic(400)
    padded = torch.cat([latents, torch.ones(1, 400, 8) * 5.0], dim=1)  # padding: one constant vector
    mask = torch.zeros(1, 800, dtype=torch.bool)
    mask[:, :400] = True
    assert float(latent_isotropy_loss(padded, mask)) == pytest.approx(float(latent_isotropy_loss(latents)), rel=1e-5)
    assert float(latent_isotropy_loss(padded)) > float(latent_isotropy_loss(latents)) + 0.05


def test_participation_ratio_counts_effective_dimensions():
    assert participation_ratio(_isotropic()) == pytest.approx(8.0, rel=0.02)
    assert participation_ratio(_planar()) == pytest.approx(2.0, rel=0.02)
    assert participation_ratio(_planar()[0]) == pytest.approx(2.0, rel=0.02)  # (N, C) is accepted too
    assert math.isnan(participation_ratio(torch.zeros(1, 1, 8)))


def test_bad_shapes_and_too_few_frames_are_named_or_zero():
    with pytest.raises(ValueError, match=r"latents must be \(B, T, C\)"):
        latent_isotropy_loss(torch.zeros(8))
    with pytest.raises(ValueError, match=r"mask must be \(B, T\)"):
        latent_isotropy_loss(torch.zeros(1, 4, 8), torch.ones(1, 5, dtype=torch.bool))
    assert float(latent_isotropy_loss(torch.randn(1, 1, 8))) == 0.0
