"""Statistics of token-learnability scores: nats/token → bits/s, and bootstrap intervals over held-out files.

Tokens of one file are not independent (same speaker, same recording, same sentence), so an interval made by
resampling tokens is far too narrow. :func:`file_bootstrap` resamples whole held-out FILES with replacement and
recomputes the corpus-level ratio ``sum(NLL) / sum(tokens)`` on each resample; several scores (LM, unigram,
n-gram, their differences) share the same resamples so their intervals are paired.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

DEFAULT_RESAMPLES = 2000


def bits_per_second(nats_per_token: float, frame_rate: float) -> float:
    """``nats/token / ln 2 × tokens/s``: the code stream's cost under the model (50 codes/s for LLM-Codec).

    A uniform predictor over 20,480 codes gives ``log2(20480) × 50 = 716`` bits/s, the codec's bitrate.
    """
    return nats_per_token / math.log(2) * frame_rate


def file_bootstrap(
    nll_sums: Mapping[str, np.ndarray], token_counts: np.ndarray, resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0, level: float = 0.95,
) -> dict[str, dict[str, float]]:
    """Point estimates and percentile intervals of ``sum(NLL) / sum(tokens)`` by resampling files.

    Args:
        nll_sums: name → ``(F,)`` summed negative log-likelihood (nats) of each held-out file's targets
            (a difference of two models' sums gives the interval of their gap, paired by file).
        token_counts: ``(F,)`` targets per file.
        resamples: bootstrap resamples; each draws ``F`` files with replacement (the same draws for every name).

    Returns:
        name → ``{"mean", "lo", "hi", "half_width"}`` in nats/token.
    """
    counts = np.asarray(token_counts, dtype=np.float64)
    n_files = counts.size
    if n_files == 0 or counts.sum() <= 0:
        raise ValueError("no held-out files to bootstrap over")
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_files, size=(resamples, n_files))
    # Each resample's weight per file (how often it was drawn) keeps memory at (resamples, F).
    weights = np.zeros((resamples, n_files))
    np.add.at(weights, (np.repeat(np.arange(resamples), n_files), draws.reshape(-1)), 1.0)
    denominators = weights @ counts
    tail = (1.0 - level) / 2
    out = {}
    for name, sums in nll_sums.items():
        sums = np.asarray(sums, dtype=np.float64)
        if sums.shape != counts.shape:
            raise ValueError(f"{name}: {sums.shape} sums for {counts.shape} files")
        ratios = (weights @ sums) / denominators
        lo, hi = np.quantile(ratios, [tail, 1.0 - tail])
        out[name] = {"mean": float(sums.sum() / counts.sum()), "lo": float(lo), "hi": float(hi),
                     "half_width": float((hi - lo) / 2)}
    return out


def per_file_sums(values: list[np.ndarray], owners: list[int], n_files: int) -> tuple[np.ndarray, np.ndarray]:
    """``(sums (F,), counts (F,))`` of per-window token values grouped by the window's file index."""
    sums, counts = np.zeros(n_files), np.zeros(n_files)
    for value, owner in zip(values, owners):
        sums[owner] += float(np.sum(value))
        counts[owner] += np.size(value)
    return sums, counts


def bootstrap_share(correct: np.ndarray, resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
                    level: float = 0.95) -> dict[str, float]:
    """Mean and percentile interval of a per-pair score in [0, 1] (1 right, ½ tie, 0 wrong), resampling pairs."""
    correct = np.asarray(correct, dtype=np.float64)
    if correct.size == 0:
        return {"mean": math.nan, "lo": math.nan, "hi": math.nan, "n": 0}
    rng = np.random.default_rng(seed)
    means = correct[rng.integers(0, correct.size, size=(resamples, correct.size))].mean(axis=1)
    tail = (1.0 - level) / 2
    lo, hi = np.quantile(means, [tail, 1.0 - tail])
    return {"mean": float(correct.mean()), "lo": float(lo), "hi": float(hi), "n": int(correct.size)}
