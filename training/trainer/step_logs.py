"""What ``LLMCodecTrainer`` logs beyond the Trainer's own loss, and the progress bar's postfix.

Between two training logs the trainer gathers, per key, the values of every micro-batch (device scalars, so that
logging costs one host read per key); :func:`summarise_values` averages them (sums for ``nonfinite_*`` counts) and
:func:`codebook_usage` summarises the codes used since the last log.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor
from transformers import TrainerCallback
from transformers.trainer_callback import ProgressCallback


def summarise_values(values: dict[str, list[Any]]) -> dict[str, float]:
    """``{key: [float or 0-dim tensor, ...]}`` -> ``{key: mean}`` (``nonfinite_*``: the sum)."""
    out = {}
    for key, items in values.items():
        if items:  # floats and device scalars: one host read per key
            device = next((v.device for v in items if isinstance(v, Tensor)), torch.device("cpu"))
            stacked = torch.stack([torch.as_tensor(v, dtype=torch.float32, device=device).reshape(()) for v in items])
            out[key] = float(stacked.sum() if key.startswith("nonfinite_") else stacked.mean())
    return out


def codebook_usage(histogram: Tensor) -> dict[str, float]:
    """Codes used, and the entropy / perplexity of their distribution, from a ``(codebook_size,)`` count."""
    hist = histogram.float()
    if hist.sum() <= 0:
        return {}
    p = hist[hist > 0] / hist.sum()
    entropy = float(-(p * p.log()).sum())
    return {"codebook_unique": int((hist > 0).sum()), "codebook_entropy": entropy,
            "codebook_perplexity": math.exp(entropy)}


class LossPostfixCallback(TrainerCallback):
    """Observes only: shows key losses in the progress bar. (The step gates run in ``training_step`` and the
    codebook restarts in an optimizer post-step hook, both owned by the trainer.)"""

    SHOWN = ("loss", "loss_mel", "loss_ftp", "loss_bridge", "loss_d", "tau")

    def __init__(self, trainer: Any) -> None:
        self.trainer = trainer

    def on_log(self, args, state, control, logs=None, **kwargs):
        for cb in self.trainer.callback_handler.callbacks:
            bar = getattr(cb, "training_bar", None) if isinstance(cb, ProgressCallback) else None
            if bar is not None and logs:
                bar.set_postfix({k: f"{logs[k]:.3g}" for k in self.SHOWN if isinstance(logs.get(k), (int, float))})
