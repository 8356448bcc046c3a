"""Latent isotropy: keep the VQ's projected latents spread over all of their dimensions.

The factorized VQ looks codes up by cosine in a small space (8 dims). Nothing in the recipe's losses stops the
encoder from putting almost all of its output into two directions of that space: the demo codec trained here did
exactly that (99.96 % of the variance of its unit-normalised latents in 2 of 8 dimensions, participation ratio
1.35; `benchmarks/pitch_probe/`), so its 20,480 codes lay on a circle and carried roughly one number per frame:
no pitch, and a frame moved to the neighbouring code under any inaudible change of the input.

``latent_isotropy_loss`` is ``mean((C * Cov(u) - I)^2)`` over the valid frames of a batch, with ``u`` the
unit-normalised projected latents: 0 when they fill the C dimensions evenly, ``(C - 1) / C`` when they all lie on
one line. It reads the latents *before* the straight-through estimator, so its gradient reaches the encoder
directly. Not part of the released recipe (``lambda_isotropy`` 0 by default).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def _valid_rows(latents: Tensor, mask: Tensor | None) -> Tensor:
    if latents.dim() != 3:
        raise ValueError(f"latents must be (B, T, C), got shape {tuple(latents.shape)}")
    if mask is not None and mask.shape != latents.shape[:2]:
        raise ValueError(f"mask must be (B, T) = {tuple(latents.shape[:2])}, got {tuple(mask.shape)}")
    return latents[mask] if mask is not None else latents.reshape(-1, latents.shape[-1])


def latent_isotropy_loss(projected: Tensor, mask: Tensor | None = None) -> Tensor:
    """``projected`` ``(B, T, C)`` VQ-space latents, ``mask`` ``(B, T)`` bool (True = valid) -> scalar float32.

    Fewer than two valid frames give 0 (a covariance needs two)."""
    rows = _valid_rows(projected, mask).float()
    if rows.shape[0] < 2:
        return rows.new_zeros(())
    unit = F.normalize(rows, dim=-1)
    centred = unit - unit.mean(0, keepdim=True)
    dims = unit.shape[-1]
    covariance = centred.t() @ centred / (rows.shape[0] - 1)
    return (dims * covariance - torch.eye(dims, device=rows.device)).pow(2).mean()


@torch.no_grad()
def participation_ratio(projected: Tensor, mask: Tensor | None = None) -> float:
    """Effective number of dimensions of the unit-normalised latents: ``(Σλ)² / Σλ²`` of their covariance's
    eigenvalues (C when isotropic, 1 when they lie on a line). ``projected`` ``(B, T, C)`` or ``(N, C)``."""
    rows = projected if projected.dim() == 2 and mask is None else _valid_rows(projected, mask)
    if rows.shape[0] < 2:
        return float("nan")
    unit = F.normalize(rows.double(), dim=-1)
    power = torch.linalg.svdvals(unit - unit.mean(0, keepdim=True)).pow(2)
    total = power.sum()
    return float(total.pow(2) / power.pow(2).sum()) if total > 0 else float("nan")
