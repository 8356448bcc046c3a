"""Pitch supervision of the quantized latents (a training-only head; not part of the exported codec).

The demo codec's bottleneck carried no pitch (``benchmarks/pitch_probe``), so its decoder could only
produce shaped noise. A small convolutional head predicts, per frame, log2 F0 and voicing from either

* ``projected`` (default): the encoder's C-dim output, unit-normalised: the direction the cosine VQ quantizes, so
  pitch put there decides the code, and the gradient reaches the encoder directly; or
* ``quantized``: the D-dim latents after the straight-through estimator. The encoder then learns only as frames
  cross code boundaries: 600 steps at LR 1e-4 left the F0 error where a constant guess has it.

The loss is::

    pitch = mean_voiced |log2 f0_pred - log2 f0| + BCE(voicing logit, voiced)

(the first term is in octaves), over valid frames of the batch. Targets: ``training/data/pitch_targets.py``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["PitchSupervision"]


class PitchSupervision(nn.Module):
    """Head ``(B, T, D)`` latents -> (log2 F0, voicing logit) per frame, and its loss.

    Args:
        hidden_size: width of what the head reads (C for ``projected``, D for ``quantized``).
        source: ``projected`` or ``quantized`` (see the module docstring); :meth:`features` picks it.
        channels: width of the head (two convolutions; kernel 3 sees the neighbouring frames).
        reference_hz: log2 F0 is predicted relative to this (keeps the output near 0 at init).
    """

    def __init__(self, hidden_size: int, channels: int = 256, reference_hz: float = 150.0,
                 source: str = "projected") -> None:
        super().__init__()
        if source not in ("projected", "quantized"):
            raise ValueError(f"source must be 'projected' or 'quantized', got {source!r}")
        self.source = source
        self.head = nn.Sequential(
            nn.Conv1d(hidden_size, channels, kernel_size=3, padding=1), nn.GELU(),
            nn.Conv1d(channels, 2, kernel_size=1),
        )
        self.reference_log2 = float(torch.log2(torch.tensor(reference_hz)))

    def features(self, codec_output) -> Tensor:
        """The head's input ``(B, T, width)`` from an ``LLMCodecOutput``."""
        if self.source == "projected":
            return F.normalize(codec_output.projected_latents.float(), dim=-1)
        return codec_output.latents.float()

    def predict(self, latents: Tensor) -> tuple[Tensor, Tensor]:
        """``latents`` (B, T, D) -> (F0 in Hz (B, T), voicing probability (B, T))."""
        out = self.head(latents.float().transpose(1, 2))
        return torch.exp2(out[:, 0] + self.reference_log2), torch.sigmoid(out[:, 1])

    def forward(self, latents: Tensor, f0: Tensor, frame_mask: Tensor | None = None) -> Tensor:
        """``latents`` (B, T, D), ``f0`` (B, T') Hz with 0 = unvoiced (T' may differ from T by edge frames: the
        shorter is used), ``frame_mask`` (B, T) bool of valid frames. Returns the scalar loss."""
        frames = min(latents.shape[1], f0.shape[1])
        out = self.head(latents[:, :frames].float().transpose(1, 2))
        log2_f0, logit = out[:, 0] + self.reference_log2, out[:, 1]
        f0 = f0[:, :frames].to(out.device, torch.float32)
        valid = torch.ones_like(f0, dtype=torch.bool) if frame_mask is None else frame_mask[:, :frames].bool()
        voiced = (f0 > 0) & valid
        weights = valid.float()
        voicing = (F.binary_cross_entropy_with_logits(logit, voiced.float(), reduction="none") * weights).sum() \
            / weights.sum().clamp(min=1.0)
        target = torch.log2(f0.clamp(min=1.0))
        octaves = ((log2_f0 - target).abs() * voiced.float()).sum() / voiced.float().sum().clamp(min=1.0)
        return octaves + voicing
