"""Dead-code restarts for the VQ codebook.

Training a codec from scratch with a large single codebook (20,480 codes) collapses onto a few dozen codes
unless unused codes are revived. This tracks an exponential moving average of how often each code is
chosen and, every `every` steps, moves the codes whose usage fell below `threshold` onto randomly chosen
encoder outputs of the current batch (in the VQ's projected space, where the cosine lookup happens).

Not part of the released recipe (which fine-tunes an already trained codebook); off by default in the
recipe config and on for training from scratch.
"""

from __future__ import annotations

import torch
from torch import nn


class CodebookRestarter(nn.Module):
    """Tracks code usage and re-initialises dead codes.

    Args:
        codebook_size: number of codes.
        decay: EMA decay of the per-code usage counts (per step).
        threshold: a code whose EMA count (expected uses per step) is below this is dead.
        every: restart period in steps.
        noise: relative noise added to the copied encoder outputs so revived codes do not coincide.
    """

    def __init__(self, codebook_size: int, decay: float = 0.99, threshold: float = 1e-2, every: int = 50, noise: float = 0.01):
        super().__init__()
        if not 0.0 < decay < 1.0:
            raise ValueError(f"decay must be in (0, 1), got {decay}")
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        self.decay, self.threshold, self.every, self.noise = decay, threshold, every, noise
        # Start everything "alive" so codes are not restarted before they had a chance to be used.
        self.register_buffer("usage", torch.full((codebook_size,), threshold * 10))
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def update(self, codes: torch.Tensor, mask: torch.Tensor | None = None) -> None:
        """Adds one step of usage. `codes` `(B, T)` int, `mask` `(B, T)` bool (True = valid frame)."""
        valid = codes[mask] if mask is not None else codes.reshape(-1)
        counts = torch.bincount(valid.long(), minlength=self.usage.numel()).to(self.usage)
        self.usage.mul_(self.decay).add_(counts, alpha=1.0 - self.decay)
        self.steps += 1

    @torch.no_grad()
    def maybe_restart(self, codebook: torch.Tensor, projected: torch.Tensor, mask: torch.Tensor | None = None) -> int:
        """Every `every` steps, moves dead rows of `codebook` `(K, C)` onto samples of `projected` `(B, T, C)`.

        Returns the number of codes restarted (0 between periods).
        """
        if int(self.steps) % self.every != 0:
            return 0
        return self.restart(codebook, projected, mask)

    @torch.no_grad()
    def restart(self, codebook: torch.Tensor, projected: torch.Tensor, mask: torch.Tensor | None = None) -> int:
        """Moves the dead rows of `codebook` `(K, C)` onto samples of `projected` `(B, T, C)` now."""
        dead = (self.usage < self.threshold).nonzero().flatten()
        candidates = projected[mask] if mask is not None else projected.reshape(-1, projected.shape[-1])
        if dead.numel() == 0 or candidates.shape[0] == 0:
            return 0
        picks = torch.randint(candidates.shape[0], (dead.numel(),), device=candidates.device)
        chosen = candidates[picks].detach().to(codebook.dtype)
        scale = chosen.norm(dim=-1, keepdim=True).clamp(min=1e-6)
        codebook[dead] = chosen + self.noise * scale * torch.randn_like(chosen)
        self.usage[dead] = self.threshold * 10
        return int(dead.numel())

    def usage_stats(self) -> dict[str, float]:
        """Live-code count and the perplexity of the usage distribution (exp of its entropy)."""
        probabilities = self.usage / self.usage.sum().clamp(min=1e-12)
        entropy = -(probabilities * probabilities.clamp(min=1e-12).log()).sum()
        return {"codes_alive": float((self.usage >= self.threshold).sum()), "usage_perplexity": float(entropy.exp())}
