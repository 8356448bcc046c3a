"""Step-dependent schedules of the LLM-Codec training recipe (the loss terms use them: ``loss_terms.py``).

Every function is a pure function of the optimizer step ``step`` (an ``int`` >= 0) and returns a
Python ``float``; nothing here holds state, so resuming a run reproduces the same values.

Landmarks of the released 25k-step recipe (all tested):

* Gumbel temperature: 1.0 at 0, 0.65 at 10k, ~0.54 at 12k, 0.3 from 20k on.
* λ_FTP: 0 up to 10k, 0.1 at 11k, 0.2 from 12k on.
* λ_SA (cos 0.1 / contrastive 0.05): 0 up to and including 12k (first active step 12,001), full at 14k.
* λ_mel: 1.5 at 0, ~1.428 at 10k, 1.125 at 25k, 0.75 from 50k on.
* LR factor (warmup 2000, total 200k): 0 at 0, 1 at 2000, ~0.967 at 25k (the recipe's LR is almost constant).
"""

from __future__ import annotations

import math
from typing import Callable

__all__ = [
    "cosine_with_warmup_factor",
    "cosine_with_warmup_lambda",
    "lambda_ramp",
    "cosine_decay",
    "mel_weight",
    "gumbel_temperature",
    "ftp_weight",
    "sa_weights",
    "codec_update_enabled",
    "r1_due",
]


def _check_step(step: int) -> None:
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")


def cosine_with_warmup_factor(step: int, warmup_steps: int = 2000, total_steps: int = 200_000) -> float:
    """Multiplicative LR factor: linear warm-up ``step / warmup_steps``, then a half cosine to 0.

    ``factor = 0.5 * (1 + cos(pi * (step - warmup) / (total - warmup)))`` for ``warmup <= step < total``,
    and 0 from ``total_steps`` on. The recipe keeps ``total_steps`` at its default of 200k for a 25k
    run, so the LR barely decays; pass the real run length to get a full cosine.
    """
    _check_step(step)
    if warmup_steps < 0 or total_steps <= warmup_steps:
        raise ValueError(
            f"need 0 <= warmup_steps < total_steps, got warmup_steps={warmup_steps}, total_steps={total_steps}"
        )
    if step < warmup_steps:
        return step / warmup_steps
    if step >= total_steps:
        return 0.0
    progress = (step - warmup_steps) / (total_steps - warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def cosine_with_warmup_lambda(warmup_steps: int = 2000, total_steps: int = 200_000) -> Callable[[int], float]:
    """``cosine_with_warmup_factor`` bound to its arguments, for ``torch.optim.lr_scheduler.LambdaLR``."""
    cosine_with_warmup_factor(0, warmup_steps, total_steps)  # validate the arguments eagerly

    def factor(step: int) -> float:
        return cosine_with_warmup_factor(step, warmup_steps, total_steps)

    return factor


def lambda_ramp(step: int, delay: int, ramp: int, max_value: float) -> float:
    """Linear ramp ``max_value * clip((step - delay) / ramp, 0, 1)``: exactly 0 at ``delay``.

    ``ramp == 0`` is a step function: ``max_value`` from ``delay`` on (the recipe's λ_gan with
    warm-up 0 and ramp 0 is 1.0 from step 0).
    """
    _check_step(step)
    if ramp < 0 or delay < 0:
        raise ValueError(f"delay and ramp must be >= 0, got delay={delay}, ramp={ramp}")
    if ramp == 0:
        return float(max_value) if step >= delay else 0.0
    return float(max_value) * min(max((step - delay) / ramp, 0.0), 1.0)


def cosine_decay(step: int, start: float, end: float, steps: int) -> float:
    """Half-cosine from ``start`` (step 0) to ``end`` (step ``steps``), then constant ``end``.

    ``end + (start - end) / 2 * (1 + cos(pi * step / steps))`` for ``step < steps``.
    """
    _check_step(step)
    if steps <= 0:
        raise ValueError(f"steps must be > 0, got {steps}")
    if step >= steps:
        return float(end)
    return end + 0.5 * (start - end) * (1.0 + math.cos(math.pi * step / steps))


def mel_weight(step: int, start: float = 1.5, end: float = 0.75, steps: int = 50_000) -> float:
    """λ_mel: cosine decay 1.5 -> 0.75 over 50k steps (``0.75 + 0.375 * (1 + cos(pi * s / 50000))``)."""
    return cosine_decay(step, start, end, steps)


def gumbel_temperature(step: int, start: float = 1.0, end: float = 0.3, steps: int = 20_000) -> float:
    """Gumbel-softmax temperature: ``0.3 + 0.35 * (1 + cos(pi * s / 20000))`` for s < 20k, then 0.3."""
    if start <= 0 or end <= 0:
        raise ValueError(f"temperatures must be > 0, got start={start}, end={end}")
    return cosine_decay(step, start, end, steps)


def ftp_weight(step: int, delay: int = 10_000, ramp: int = 2000, max_value: float = 0.2) -> float:
    """λ_FTP = ``lambda_ramp(step, 10000, 2000, 0.2)``: 0 at 10k, 0.1 at 11k, 0.2 from 12k."""
    return lambda_ramp(step, delay, ramp, max_value)


def sa_weights(
    step: int,
    delay: int = 12_000,
    ramp: int = 2000,
    cosine_max: float = 0.1,
    contrastive_max: float = 0.05,
    ftp_enabled: bool = True,
) -> tuple[float, float]:
    """(λ_SA_cos, λ_SA_ctr): active only when ``step > delay`` and FTP is on; linear ramp to the max.

    The ramp is 0 at exactly ``delay``, so the first step with a non-zero weight is ``delay + 1``
    (12,001 in the recipe).
    """
    _check_step(step)
    if not ftp_enabled or step <= delay:
        return 0.0, 0.0
    return lambda_ramp(step, delay, ramp, cosine_max), lambda_ramp(step, delay, ramp, contrastive_max)


def codec_update_enabled(step: int, d_only_steps: int = 10_000) -> bool:
    """False during the discriminator-only warm-up (steps ``0 .. d_only_steps - 1``)."""
    _check_step(step)
    return step >= d_only_steps


def r1_due(step: int, every: int = 16) -> bool:
    """True on the steps where the R1 penalty is added to the discriminator loss (``step % every == 0``)."""
    _check_step(step)
    if every <= 0:
        raise ValueError(f"every must be > 0, got {every}")
    return step % every == 0
