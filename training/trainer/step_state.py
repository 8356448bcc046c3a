"""``StepState``: what one optimizer step's micro-batches hand to the hooks that run after their backward."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor


@dataclass
class StepState:
    """Filled by ``compute_loss`` (training mode only), read and cleared after the backward.

    Attributes:
        sa_text: the last micro-batch's SA text features ``(layers, B, H)``: pushed into the SA bank after that
            micro-batch's backward (the bank is part of its graph).
        nonfinite: a micro-batch of this window had a non-finite total: the whole optimizer step is dropped.
        d_batch: ``(wav, reconstruction)`` ``(B, 1, L)`` of the window's last micro-batch (detached): the
            discriminator's one step.
        restart_batch: ``(projected latents (B, T, C), codes mask (B, T))`` of the latest micro-batch: where
            dead-code restarts find their replacement vectors.
    """

    sa_text: Tensor | None = None
    nonfinite: bool = False
    d_batch: tuple[Tensor, Tensor] | None = None
    restart_batch: tuple[Tensor, Tensor] | None = None

    def take_sa_text(self) -> Tensor | None:
        text, self.sa_text = self.sa_text, None
        return text

    def take_d_batch(self) -> tuple[Tensor, Tensor] | None:
        batch, self.d_batch = self.d_batch, None
        return batch

    def take_nonfinite(self) -> bool:
        flag, self.nonfinite = self.nonfinite, False
        return flag
