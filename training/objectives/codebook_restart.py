"""Dead-code restarts for the VQ codebook.

Training a codec from scratch with a large single codebook (20,480 codes) collapses onto a few dozen codes
unless unused codes are revived. This tracks an exponential moving average of how often each code is
chosen and, every `every` steps, moves the codes whose usage fell far below the *expected* usage of a code
onto encoder outputs of the current batch (in the VQ's projected space, where the cosine lookup happens).

Why relative: with 800 frames a step and 20,480 codes the average code is chosen 0.04 times a step, so an
absolute threshold such as 0.005 uses per step declares most of a healthy codebook dead and re-seeds
~1,000 codes every period: codes never keep a meaning long enough to be learned. Here a code is dead when
its usage EMA is below ``threshold`` x (frames per step / codebook size), at most ``max_fraction`` of the
codebook (the least used first) moves per restart, and the new positions are drawn with probability
proportional to each frame's squared quantization error (k-means++ style), so they land where the codebook
is too sparse for the data instead of next to codes that already serve it (near-duplicate codes make the
tokens flip under inaudible changes of the input).

Not part of the released recipe (which fine-tunes an already trained codebook); off by default in the
recipe config and on for training from scratch.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn


class CodebookRestarter(nn.Module):
    """Tracks code usage and re-initialises dead codes.

    Args:
        codebook_size: number of codes.
        decay: EMA decay of the per-code usage counts (per step).
        threshold: a code is dead when its EMA count is below ``threshold`` times the expected count of a
            code (EMA of frames per step / ``codebook_size``).
        every: restart period in steps.
        noise: relative noise added to the copied encoder outputs so revived codes do not coincide.
        max_fraction: at most this share of the codebook is restarted at once (the least used codes first).
        initial_credit: usage every code starts with, as a fraction of the expected usage (restarted codes get
            the full expected usage).
    """

    def __init__(self, codebook_size: int, decay: float = 0.99, threshold: float = 0.1, every: int = 50,
                 noise: float = 0.01, max_fraction: float = 0.02, initial_credit: float = 0.3):
        super().__init__()
        if not 0.0 < decay < 1.0:
            raise ValueError(f"decay must be in (0, 1), got {decay}")
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        if threshold < 0:
            raise ValueError(f"threshold must be >= 0, got {threshold}")
        if not 0.0 < max_fraction <= 1.0:
            raise ValueError(f"max_fraction must be in (0, 1], got {max_fraction}")
        self.decay, self.threshold, self.every, self.noise = decay, threshold, every, noise
        self.max_fraction, self.initial_credit = max_fraction, initial_credit
        self.register_buffer("usage", torch.zeros(codebook_size))
        self.register_buffer("frames", torch.zeros(()))  # EMA of valid frames per step
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    @property
    def expected_usage(self) -> float:
        """Uses per step of a code if every code were used equally often."""
        return float(self.frames) / self.usage.numel()

    @torch.no_grad()
    def update(self, codes: torch.Tensor, mask: torch.Tensor | None = None,
               reduce: Callable[[torch.Tensor], Any] | None = None) -> None:
        """Adds one step of usage. `codes` `(B, T)` int, `mask` `(B, T)` bool (True = valid frame).

        `reduce`: sums a tensor over the processes in place (DDP), so every rank adds every rank's counts."""
        valid = codes[mask] if mask is not None else codes.reshape(-1)
        valid = valid[valid >= 0]
        counts = torch.bincount(valid.long(), minlength=self.usage.numel())
        n_valid = valid.numel()
        if reduce is not None:  # one collective: the counts and the frame count (int64, exact)
            packed = torch.cat([counts, counts.new_tensor([n_valid])])
            reduce(packed)
            counts, n_valid = packed[:-1], int(packed[-1])
        counts = counts.to(self.usage)
        if int(self.steps) == 0:
            # Every code starts with a credit of 30 % of the expected usage: a code that is never chosen is
            # dead after ~120 steps (decay 0.99, threshold 0.1), early enough to undo the collapse onto a few
            # dozen codes that a randomly initialised encoder goes through in its first hundred steps.
            self.frames.fill_(float(n_valid))
            self.usage.fill_(self.initial_credit * self.expected_usage)
        self.usage.mul_(self.decay).add_(counts, alpha=1.0 - self.decay)
        self.frames.mul_(self.decay).add_(float(n_valid), alpha=1.0 - self.decay)
        self.steps += 1

    def dead_codes(self) -> torch.Tensor:
        """Indices of the codes below the relative threshold, least used first, capped at ``max_fraction``."""
        limit = self.threshold * self.expected_usage
        dead = (self.usage < limit).nonzero().flatten()
        cap = max(1, int(self.max_fraction * self.usage.numel()))
        if dead.numel() > cap:
            dead = dead[self.usage[dead].argsort()[:cap]]
        return dead

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
        if int(self.steps) == 0:
            return 0
        dead = self.dead_codes()
        candidates = projected[mask] if mask is not None else projected.reshape(-1, projected.shape[-1])
        if dead.numel() == 0 or candidates.shape[0] == 0:
            return 0
        candidates = candidates.detach().to(codebook.dtype)
        # Squared cosine quantization error of each frame against the current codebook (the VQ is cosine).
        similarity = F.normalize(candidates, dim=-1) @ F.normalize(codebook, dim=-1).t()
        error = (1.0 - similarity.max(dim=-1).values).clamp_min(0.0).pow(2)
        weights = error if float(error.sum()) > 0 else torch.ones_like(error)
        picks = torch.multinomial(weights, dead.numel(), replacement=True)
        chosen = candidates[picks]
        scale = chosen.norm(dim=-1, keepdim=True).clamp(min=1e-6)
        codebook[dead] = chosen + self.noise * scale * torch.randn_like(chosen)
        self.usage[dead] = self.expected_usage
        return int(dead.numel())

    def usage_stats(self) -> dict[str, float]:
        """Live-code count and the perplexity of the usage distribution (exp of its entropy)."""
        probabilities = self.usage / self.usage.sum().clamp(min=1e-12)
        entropy = -(probabilities * probabilities.clamp(min=1e-12).log()).sum()
        alive = (self.usage >= self.threshold * self.expected_usage).sum()
        return {"codes_alive": float(alive), "usage_perplexity": float(entropy.exp())}
