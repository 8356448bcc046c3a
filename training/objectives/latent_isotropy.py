"""Latent isotropy: keep the VQ's projected latents spread over all of their dimensions.

The factorized VQ looks codes up by cosine in a small space (8 dims). Nothing in the recipe's losses stops the
encoder from putting almost all of its output into two directions of that space: the demo codec trained here did
exactly that (99.96 % of the variance of its unit-normalised latents in 2 of 8 dimensions, participation ratio
1.35; `benchmarks/pitch_probe/`), so its 20,480 codes lay on a circle and carried roughly one number per frame:
no pitch, and a frame moved to the neighbouring code under any inaudible change of the input.

``latent_isotropy_loss`` follows VICReg's variance and covariance terms on the unit-normalised projected latents
``u`` of a batch's valid frames (isotropic unit vectors in C dimensions have variance 1/C per dimension):

    variance   = mean_d relu(1 - sqrt(C * Var(u_d) + eps))          (eps 1e-6)
    covariance = sum_{i != j} (C * Cov(u)_ij)^2 / (C (C - 1))

0 when ``u`` fills the C dimensions evenly, about 1 when every frame sits at one point. The variance term is a
hinge on the *standard deviation*, so its gradient does not vanish as the latents collapse (a loss on the
covariance itself, such as ``|C Cov - I|^2``, has a gradient proportional to the spread it is trying to restore:
tried first, it did not move the collapsed codec). It reads the latents *before* the straight-through estimator,
so its gradient reaches the encoder directly. Not part of the released recipe (``lambda_isotropy`` 0 by default).
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


def latent_isotropy_loss(projected: Tensor, mask: Tensor | None = None, eps: float = 1e-6) -> Tensor:
    """``projected`` ``(B, T, C)`` VQ-space latents, ``mask`` ``(B, T)`` bool (True = valid) -> scalar float32.

    Fewer than two valid frames give 0 (a variance needs two)."""
    rows = _valid_rows(projected, mask).float()
    if rows.shape[0] < 2:
        return rows.new_zeros(())
    unit = F.normalize(rows, dim=-1)
    centred = unit - unit.mean(0, keepdim=True)
    dims = unit.shape[-1]
    scaled = dims * (centred.t() @ centred) / (rows.shape[0] - 1)  # C * Cov(u): the identity when isotropic
    variance = F.relu(1.0 - torch.sqrt(torch.diagonal(scaled) + eps)).mean()
    off_diagonal = scaled - torch.diag(torch.diagonal(scaled))
    covariance = off_diagonal.pow(2).sum() / (dims * (dims - 1)) if dims > 1 else scaled.new_zeros(())
    return variance + covariance


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
