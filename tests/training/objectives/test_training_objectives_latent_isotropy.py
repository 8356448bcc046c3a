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
    assert float(latent_isotropy_loss(_isotropic())) < 0.02
    # unit vectors on a circle of an 8-dim space: C * Var is 4 in two dimensions and 0 in six, no covariance
    assert float(latent_isotropy_loss(_planar())) == pytest.approx(6 / 8, rel=0.02)
    line = torch.zeros(1, 100, 8)
    line[..., 0] = torch.randn(100).sign()  # +-e0: spread in one dimension only
    assert float(latent_isotropy_loss(line)) == pytest.approx(7 / 8, rel=0.02)
    point = torch.ones(1, 100, 8)  # every frame the same: the hinge is ~1 in every dimension
    assert float(latent_isotropy_loss(point)) == pytest.approx(1.0, rel=0.01)
    skewed = _isotropic() @ torch.tensor([[1.0, 0.9], [0.0, 0.4]]).repeat_interleave(4, 0).repeat_interleave(4, 1)
    assert float(latent_isotropy_loss(skewed)) > 0.05  # correlated dimensions cost through the covariance term


def test_the_gradient_does_not_vanish_near_a_collapse():
    # the reason for a hinge on the standard deviation: a loss on the covariance itself (|C Cov - I|^2) has a
    # gradient proportional to the spread it should restore
    latents = (torch.ones(1, 256, 8) + 1e-2 * torch.randn(1, 256, 8, generator=torch.Generator().manual_seed(2)))
    hinge = latents.clone().requires_grad_(True)
    latent_isotropy_loss(hinge).backward()
    matching = latents.clone().requires_grad_(True)
    unit = torch.nn.functional.normalize(matching[0], dim=-1)
    centred = unit - unit.mean(0)
    ((8 * centred.t() @ centred / 255 - torch.eye(8)).pow(2).mean()).backward()
    assert hinge.grad.norm() > 10 * matching.grad.norm()


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
