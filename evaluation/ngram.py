"""Count-based baselines for token learnability: an add-k unigram and an interpolated Kneser–Ney n-gram.

Both see the same training windows as the neural token LM (each window starts afresh, its history padded with
a BOS symbol) and return per-target natural-log probabilities over the ``N`` audio codes only, so their
nats/token compare directly with the LM's audio-only headline. A uniform predictor scores ``ln N``.

Why hand-written: the n-gram libraries that fit a 20,480-symbol vocabulary either only *query* models
(``kenlm``'s Python module; estimating needs its separate C++ ``lmplz`` build) or are pure-Python loops over
dictionaries (``nltk.lm.KneserNeyInterpolated`` takes minutes per thousand scored tokens at this size).
Here every count is an int64 key in a sorted numpy array (``np.unique`` to count, ``np.searchsorted`` to
look up), so fitting a few million codes takes seconds.

Interpolated Kneser–Ney (Chen & Goodman 1998), order ``n``, one absolute discount per order
``D_k = n1 / (n1 + 2 n2)`` (``n1``, ``n2``: k-grams counted once and twice at that order):

* the highest order counts raw occurrences ``c(h w)``; lower orders count *continuations*
  ``N1+(· h w)``, the number of distinct symbols seen before ``h w``;
* ``P_k(w | h) = max(c_k(h w) - D_k, 0) / c_k(h ·) + D_k · T_k(h) / c_k(h ·) · P_{k-1}(w | h')`` where
  ``T_k(h)`` is the number of distinct ``w`` after ``h`` and ``h'`` drops the oldest symbol; an unseen
  history (``c_k(h ·) = 0``) backs off fully to ``P_{k-1}``;
* below the unigram sits the uniform distribution ``1 / N``, so every code has mass.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def _as_codes(codes: Sequence[int] | np.ndarray, n_codes: int) -> np.ndarray:
    array = np.asarray(codes, dtype=np.int64).reshape(-1)
    if array.size and (array.min() < 0 or array.max() >= n_codes):
        raise ValueError(f"codes outside [0, {n_codes})")
    return array


class UnigramLM:
    """Add-``k`` smoothed unigram over ``n_codes`` codes: ``P(w) = (c(w) + k) / (C + k N)``."""

    def __init__(self, n_codes: int, k: float = 1.0) -> None:
        if k <= 0:
            raise ValueError(f"add-k smoothing needs k > 0, got {k}")
        self.n_codes, self.k = int(n_codes), float(k)
        self.counts = np.zeros(self.n_codes, dtype=np.int64)

    def fit(self, windows: Sequence[Sequence[int]]) -> UnigramLM:
        for window in windows:
            self.counts += np.bincount(_as_codes(window, self.n_codes), minlength=self.n_codes)
        total = self.counts.sum() + self.k * self.n_codes
        self.log_p = np.log((self.counts + self.k) / total)
        return self

    def log_probs(self, codes: Sequence[int]) -> np.ndarray:
        """``(T,)`` ln P(c_t) of one window's codes."""
        return self.log_p[_as_codes(codes, self.n_codes)]


class KneserNeyLM:
    """Interpolated Kneser–Ney n-gram over ``n_codes`` codes (see the module docstring).

    Symbols are the codes ``0 … N-1`` and BOS = ``N`` (history padding only, never predicted). A k-gram
    ``s_1 … s_k`` is the key ``sum_i s_i · V^(k-i)`` with ``V = N + 1``; its history key is ``key // V``.
    """

    def __init__(self, n_codes: int, order: int = 3) -> None:
        if order < 1:
            raise ValueError(f"order must be >= 1, got {order}")
        self.n_codes, self.order = int(n_codes), int(order)
        self.base = self.n_codes + 1
        self.bos = self.n_codes
        if self.base ** order >= 2**62:
            raise ValueError(f"order {order} with {n_codes} codes does not fit 64-bit keys")

    # ------------------------------------------------------------------------------------- fitting
    def _histories(self, codes: np.ndarray) -> np.ndarray:
        """``(T, order - 1)`` history symbols of each target (BOS-padded at the window start)."""
        padded = np.concatenate([np.full(self.order - 1, self.bos, dtype=np.int64), codes])
        return np.stack([padded[i : i + codes.size] for i in range(self.order - 1)], axis=1) if self.order > 1 \
            else np.zeros((codes.size, 0), dtype=np.int64)

    def _keys(self, histories: np.ndarray, targets: np.ndarray, k: int) -> np.ndarray:
        """Keys of the k-grams ending in ``targets`` (the last ``k - 1`` history symbols, then the target)."""
        key = np.zeros(targets.size, dtype=np.int64)
        for column in range(self.order - k, self.order - 1):
            key = key * self.base + histories[:, column]
        return key * self.base + targets

    def fit(self, windows: Sequence[Sequence[int]]) -> KneserNeyLM:
        """Count every order on the training windows; returns self."""
        histories, targets = [], []
        for window in windows:
            codes = _as_codes(window, self.n_codes)
            histories.append(self._histories(codes))
            targets.append(codes)
        history = np.concatenate(histories) if histories else np.zeros((0, self.order - 1), dtype=np.int64)
        target = np.concatenate(targets) if targets else np.zeros(0, dtype=np.int64)
        if target.size == 0:
            raise ValueError("no training codes for the n-gram")
        self.n_train = int(target.size)
        # Highest order: raw counts. Each lower order: distinct left extensions of its k-grams.
        keys, counts = np.unique(self._keys(history, target, self.order), return_counts=True)
        self.tables: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]] = [None] * self.order
        for k in range(self.order, 0, -1):
            history_keys, inverse = np.unique(keys // self.base, return_inverse=True)
            totals = np.bincount(inverse, weights=counts).astype(np.int64)
            types = np.bincount(inverse).astype(np.int64)
            n1, n2 = int((counts == 1).sum()), int((counts == 2).sum())
            discount = n1 / (n1 + 2 * n2) if n1 + 2 * n2 > 0 else 0.5
            discount = min(max(discount, 1e-3), 0.999)
            self.tables[k - 1] = (keys, counts, history_keys, totals, types, discount)
            if k > 1:  # continuation counts of the (k-1)-grams: how many distinct symbols precede each
                keys, counts = np.unique(keys % self.base ** (k - 1), return_counts=True)
        return self

    # ------------------------------------------------------------------------------------- scoring
    @staticmethod
    def _lookup(sorted_keys: np.ndarray, values: np.ndarray, queries: np.ndarray) -> np.ndarray:
        """``values`` at ``queries`` in ``sorted_keys``, 0 where a query is absent."""
        if sorted_keys.size == 0:
            return np.zeros(queries.size, dtype=values.dtype)
        where = np.searchsorted(sorted_keys, queries).clip(max=sorted_keys.size - 1)
        return np.where(sorted_keys[where] == queries, values[where], 0)

    def probabilities(self, histories: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """``(M,)`` P(target | history) for ``histories`` ``(M, order - 1)`` (BOS = ``N``) and ``targets`` ``(M,)``."""
        targets = _as_codes(targets, self.n_codes)
        histories = np.asarray(histories, dtype=np.int64).reshape(targets.size, self.order - 1)
        p = np.full(targets.size, 1.0 / self.n_codes)
        for k in range(1, self.order + 1):
            keys, counts, history_keys, totals, types, discount = self.tables[k - 1]
            key = self._keys(histories, targets, k)
            total = self._lookup(history_keys, totals, key // self.base).astype(np.float64)
            distinct = self._lookup(history_keys, types, key // self.base).astype(np.float64)
            count = self._lookup(keys, counts, key).astype(np.float64)
            seen = total > 0
            safe = np.where(seen, total, 1.0)
            p = np.where(seen, np.maximum(count - discount, 0.0) / safe + discount * distinct / safe * p, p)
        return p

    def log_probs(self, codes: Sequence[int]) -> np.ndarray:
        """``(T,)`` ln P(c_t | c_<t) of one window's codes (its history starts with BOS)."""
        codes = _as_codes(codes, self.n_codes)
        return np.log(self.probabilities(self._histories(codes), codes))


def window_log_probs(model: UnigramLM | KneserNeyLM, windows: Sequence[Sequence[int]]) -> list[np.ndarray]:
    """Per-window ``(T_i,)`` log-probabilities; windows are scored in one vectorised pass."""
    lengths = [len(w) for w in windows]
    if not windows:
        return []
    if isinstance(model, KneserNeyLM):
        codes = [_as_codes(w, model.n_codes) for w in windows]
        flat = model.probabilities(np.concatenate([model._histories(c) for c in codes]), np.concatenate(codes))
        flat = np.log(flat)
    else:
        flat = model.log_probs(np.concatenate([np.asarray(w, dtype=np.int64) for w in windows]))
    return np.split(flat, np.cumsum(lengths)[:-1])


def uniform_nats(n_codes: int) -> float:
    """ln N: the nats/token of a uniform predictor over ``n_codes`` codes."""
    return math.log(n_codes)
