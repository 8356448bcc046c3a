"""Differentiable Gumbel bridge from the codec's quantized latent into the LM's audio embeddings (the recipe's bridge).

``GumbelBridge`` is ``Linear(latent_dim -> codebook_size)`` (512 -> 20,480 in the recipe, with bias).
Given the quantized latent ``(B, T, latent_dim)`` and the LM's audio-token embedding rows
``(codebook_size, H)`` it returns

* ``logits``        ``(B, T, codebook_size)`` (float32);
* ``one_hot``       ``(B, T, codebook_size)``: one-hot in the forward pass; its gradient depends on ``mode``;
* ``inputs_embeds`` ``(B, T, H)`` = ``one_hot @ rows`` in the rows' dtype, with ``rows`` kept in the graph
  (so the LM losses train the audio embeddings).

Modes:

* ``"gumbel"`` (recipe default): hard Gumbel-softmax at temperature ``tau``
  (``F.gumbel_softmax(hard=True)``: sampled one-hot forward, softmax gradient backward);
* ``"ste"``: deterministic argmax forward, ``softmax(logits)`` straight-through gradient (``tau`` unused);
* ``"detach"``: argmax one-hot with no gradient - the LM losses do not reach the codec (ablation).
  The bridge CE still trains ``proj`` in every mode.

The layout is explicit: the latent must be ``(B, T, latent_dim)`` (upstream guessed it from
``shape[1] == 512``, which misfires for 512-frame inputs). The annealed temperature is
``training.schedules.gumbel_temperature`` (re-exported here).
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch.nn.functional as F
from torch import Tensor, nn

from llmcodec.training.objectives.schedules import gumbel_temperature

__all__ = ["BridgeMode", "BridgeOutput", "GumbelBridge", "bridge_cross_entropy", "gumbel_temperature"]

BridgeMode = Literal["gumbel", "ste", "detach"]
_MODES = ("gumbel", "ste", "detach")


class BridgeOutput(NamedTuple):
    inputs_embeds: Tensor  # (B, T, H)
    logits: Tensor  # (B, T, codebook_size), float32
    one_hot: Tensor  # (B, T, codebook_size), float32


class GumbelBridge(nn.Module):
    """``Linear(latent_dim, codebook_size)`` + hard sampling of a codebook one-hot (see module docstring)."""

    def __init__(self, latent_dim: int = 512, codebook_size: int = 20_480, mode: BridgeMode = "gumbel") -> None:
        super().__init__()
        if mode not in _MODES:
            raise ValueError(f"bridge mode must be one of {_MODES}, got {mode!r}")
        if latent_dim <= 0 or codebook_size <= 0:
            raise ValueError(f"latent_dim and codebook_size must be > 0; got {latent_dim}, {codebook_size}")
        self.latent_dim = latent_dim
        self.codebook_size = codebook_size
        self.mode: BridgeMode = mode
        self.proj = nn.Linear(latent_dim, codebook_size)

    def sample_one_hot(self, logits: Tensor, tau: float) -> Tensor:
        """``(..., N)`` logits -> ``(..., N)`` one-hot with the mode's gradient."""
        if self.mode == "gumbel":
            if tau <= 0:
                raise ValueError(f"Gumbel temperature must be > 0, got {tau}")
            return F.gumbel_softmax(logits, tau=tau, hard=True)
        hard = F.one_hot(logits.argmax(dim=-1), self.codebook_size).to(logits.dtype)
        if self.mode == "detach":
            return hard
        soft = logits.softmax(dim=-1)
        return hard - soft.detach() + soft  # straight-through: forward hard, backward softmax

    def forward(self, latent: Tensor, audio_embedding_rows: Tensor, tau: float = 1.0) -> BridgeOutput:
        """latent ``(B, T, latent_dim)``, audio_embedding_rows ``(codebook_size, H)`` -> ``BridgeOutput``."""
        if latent.dim() != 3 or latent.shape[-1] != self.latent_dim:
            raise ValueError(
                f"latent must be (B, T, {self.latent_dim}) (time before channels); got {tuple(latent.shape)}"
            )
        if audio_embedding_rows.dim() != 2 or audio_embedding_rows.shape[0] != self.codebook_size:
            raise ValueError(
                f"audio_embedding_rows must be ({self.codebook_size}, H); got {tuple(audio_embedding_rows.shape)}"
            )
        logits = self.proj(latent.to(self.proj.weight.dtype)).float()
        one_hot = self.sample_one_hot(logits, tau)
        inputs_embeds = one_hot.to(audio_embedding_rows.dtype) @ audio_embedding_rows
        return BridgeOutput(inputs_embeds, logits, one_hot)


def bridge_cross_entropy(logits: Tensor, codes: Tensor, mask: Tensor | None = None) -> Tensor:
    """Bridge CE of ``logits (B, T, N)`` against the VQ ``codes (B, T)``, mean over valid positions.

    ``mask`` ``(B, T)`` (True = real frame) excludes padding; the codes carry no gradient.
    """
    if logits.shape[:-1] != codes.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and codes {tuple(codes.shape)} disagree on (B, T)")
    targets = codes.detach().long()
    if mask is not None:
        if mask.shape != codes.shape:
            raise ValueError(f"mask {tuple(mask.shape)} must match codes {tuple(codes.shape)}")
        targets = targets.masked_fill(~mask.bool(), -100)
    return F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), ignore_index=-100)
