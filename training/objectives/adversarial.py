"""Adversarial losses of the LLM-Codec recipe: hinge (used) / LSGAN (optional),
feature matching, and the R1 gradient penalty.

Inputs are the per-sub-discriminator outputs of ``training.discriminators``: lists of logits
``(B, N_k)`` and lists of feature-map lists. Every loss is a sum over sub-discriminators of a
per-sub-discriminator mean, returned as a float32 scalar.
"""

from __future__ import annotations

from typing import Callable, Literal, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "GanLossType",
    "discriminator_adversarial_loss",
    "generator_adversarial_loss",
    "feature_matching_loss",
    "r1_penalty",
]

GanLossType = Literal["hinge", "lsgan"]


def _check_type(loss_type: str) -> None:
    if loss_type not in ("hinge", "lsgan"):
        raise ValueError(f"loss_type must be 'hinge' or 'lsgan', got {loss_type!r}")


def discriminator_adversarial_loss(
    real_logits: Sequence[Tensor], fake_logits: Sequence[Tensor], loss_type: GanLossType = "hinge"
) -> Tensor:
    """D loss, summed over sub-discriminators.

    hinge: ``mean(relu(1 - D(real))) + mean(relu(1 + D(fake)))``; lsgan: ``mean((1 - D(real))^2) + mean(D(fake)^2)``.
    Pass ``fake`` computed from a *detached* reconstruction.
    """
    _check_type(loss_type)
    if len(real_logits) != len(fake_logits) or not real_logits:
        raise ValueError(
            f"need the same non-zero number of real and fake outputs; got {len(real_logits)} and {len(fake_logits)}"
        )
    total = real_logits[0].new_zeros((), dtype=torch.float32)
    for real, fake in zip(real_logits, fake_logits):
        real, fake = real.float(), fake.float()
        if loss_type == "hinge":
            total = total + F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()
        else:
            total = total + (1.0 - real).pow(2).mean() + fake.pow(2).mean()
    return total


def generator_adversarial_loss(fake_logits: Sequence[Tensor], loss_type: GanLossType = "hinge") -> Tensor:
    """G loss, summed over sub-discriminators: hinge ``-mean(D(fake))``; lsgan ``mean((1 - D(fake))^2)``."""
    _check_type(loss_type)
    if not fake_logits:
        raise ValueError("generator_adversarial_loss needs at least one discriminator output")
    total = fake_logits[0].new_zeros((), dtype=torch.float32)
    for fake in fake_logits:
        fake = fake.float()
        total = total + (-fake.mean() if loss_type == "hinge" else (1.0 - fake).pow(2).mean())
    return total


def _crop_to_common(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    if a.dim() != b.dim():
        raise ValueError(f"feature maps differ in rank: {tuple(a.shape)} vs {tuple(b.shape)}")
    slices = tuple(slice(0, min(x, y)) for x, y in zip(a.shape, b.shape))
    return a[slices], b[slices]


def feature_matching_loss(real_features: Sequence[Sequence[Tensor]], fake_features: Sequence[Sequence[Tensor]]) -> Tensor:
    """Sum over sub-discriminators and layers of ``mean |real - fake|`` (real detached).

    Maps of different shapes (e.g. a reconstruction a few samples longer) are cropped to their common
    leading extent along every dimension.
    """
    if len(real_features) != len(fake_features) or not real_features:
        raise ValueError(
            f"need the same non-zero number of real and fake feature lists; got {len(real_features)} and {len(fake_features)}"
        )
    total = None
    for real_maps, fake_maps in zip(real_features, fake_features):
        if len(real_maps) != len(fake_maps):
            raise ValueError(f"sub-discriminator returned {len(real_maps)} real but {len(fake_maps)} fake feature maps")
        for real, fake in zip(real_maps, fake_maps):
            real, fake = _crop_to_common(real.detach().float(), fake.float())
            term = F.l1_loss(fake, real)
            total = term if total is None else total + term
    if total is None:
        raise ValueError("no feature maps to match")
    return total


def r1_penalty(
    discriminator: Callable[[Tensor], Sequence[tuple[Tensor, Sequence[Tensor]]]],
    real_wav: Tensor,
    gamma: float = 2.0,
) -> Tensor:
    """R1 penalty ``(gamma / 2) * E_b ||grad_x sum_k sum D_k(x_real)||^2`` on real audio.

    ``discriminator`` returns a list of ``(logits, features)`` (any of ``training.discriminators``).
    Builds a graph through the gradient (``create_graph=True``) so the penalty trains D; the recipe
    adds it to the D loss every 16 steps (``schedules.r1_due``) with gamma = 2.
    """
    real = real_wav.detach().float().requires_grad_(True)
    outputs = discriminator(real)
    score = sum(logits.float().sum() for logits, _ in outputs)
    (grad,) = torch.autograd.grad(score, real, create_graph=True)
    return 0.5 * gamma * grad.pow(2).flatten(1).sum(dim=1).mean()
