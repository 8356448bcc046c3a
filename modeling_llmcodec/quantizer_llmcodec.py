"""The factorized cosine vector quantizer of LLM-Codec: one codebook, nearest code by cosine in a small space.

Shapes: ``B`` batch, ``T`` frames, ``D`` ``hidden_size``, ``C`` ``codebook_dim``.
"""

from __future__ import annotations


import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from .configuration_llmcodec import LLMCodecConfig


class LLMCodecVectorQuantizer(nn.Module):
    """Factorized VQ: project `D -> C` (weight-normed 1x1 conv), cosine nearest code, project `C -> D`."""

    def __init__(self, config: LLMCodecConfig):
        super().__init__()
        self.codebook_size = config.codebook_size
        self.config = config
        self.in_proj = weight_norm(nn.Conv1d(config.hidden_size, config.codebook_dim, kernel_size=1))
        self.out_proj = weight_norm(nn.Conv1d(config.codebook_dim, config.hidden_size, kernel_size=1))
        self.codebook = nn.Embedding(config.codebook_size, config.codebook_dim)

    # The loss weights are read from the config at each call: a config changed after construction (a training run's
    # `codec_config` on top of `codec_init`) must reach the loss.
    @property
    def commitment_weight(self) -> float:
        return float(self.config.commitment_weight)

    @property
    def codebook_loss_weight(self) -> float:
        return float(self.config.codebook_loss_weight)

    @property
    def commitment_angular_weight(self) -> float:
        return float(self.config.commitment_angular_weight)

    # Rows of the distance matrix computed at once; bounds memory at (rows x codebook_size) floats.
    lookup_chunk_rows = 4096

    def nearest_codes(self, projected: torch.Tensor, partitions: list[tuple[int, int]] | None) -> torch.Tensor:
        """`projected` `(B, C, T)` -> codes `(B, T)`; `partitions` gives a `[start, end)` range per item."""
        batch, _, length = projected.shape
        codebook = F.normalize(self.codebook.weight.float())
        codebook_sq = codebook.pow(2).sum(1, keepdim=True).t()
        flat = F.normalize(projected.float().transpose(1, 2).reshape(batch * length, -1))
        codes = []
        for start in range(0, flat.shape[0], self.lookup_chunk_rows):
            rows = flat[start : start + self.lookup_chunk_rows]
            # Same expression as the reference (|e|^2 - 2 e.c + |c|^2) so that argmax ties break identically.
            distance = rows.pow(2).sum(1, keepdim=True) - 2 * rows @ codebook.t() + codebook_sq
            if partitions is not None:
                item = (torch.arange(start, start + rows.shape[0], device=rows.device) // length).tolist()
                for row, item_index in enumerate(item):
                    low, high = partitions[item_index]
                    distance[row, :low] = float("inf")
                    distance[row, high:] = float("inf")
            codes.append((-distance).max(1).indices)
        return torch.cat(codes).view(batch, length)

    def embed_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """codes `(B, T)` -> codebook vectors `(B, C, T)` (un-normalised rows, as the decoder expects)."""
        return F.embedding(codes, self.codebook.weight).transpose(1, 2)

    def forward(
        self,
        hidden_states: torch.Tensor,
        frame_mask: torch.Tensor | None = None,
        partitions: list[tuple[int, int]] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """`hidden_states` `(B, T, D)` -> (latents `(B, T, D)`, codes `(B, T)`, projected `(B, T, C)`, loss `(B,)`)."""
        with torch.autocast(device_type=hidden_states.device.type, enabled=False):
            projected = self.in_proj(hidden_states.float().transpose(1, 2))
            codes = self.nearest_codes(projected, partitions)
            quantized = self.embed_codes(codes)
            loss = None
            if self.training:
                commitment = F.mse_loss(projected, quantized.detach(), reduction="none")
                codebook = F.mse_loss(quantized, projected.detach(), reduction="none")
                per_frame = (self.commitment_weight * commitment + self.codebook_loss_weight * codebook).mean(1)
                if self.commitment_angular_weight > 0:
                    cosine = F.cosine_similarity(projected, quantized.detach(), dim=1, eps=1e-8)
                    per_frame = per_frame + self.commitment_angular_weight * (1.0 - cosine)
                if frame_mask is None:
                    loss = per_frame.mean(1)
                else:
                    weights = frame_mask.float()
                    loss = (per_frame * weights).sum(1) / weights.sum(1).clamp(min=1.0)
            # Straight-through estimator, written as in the reference so eval outputs match bit for bit.
            quantized = projected + (quantized - projected).detach()
            latents = self.out_proj(quantized).transpose(1, 2)
        return latents, codes, projected.transpose(1, 2), loss

    def decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """codes `(B, T)` -> latents `(B, T, D)`."""
        return self.out_proj(self.embed_codes(codes)).transpose(1, 2)
