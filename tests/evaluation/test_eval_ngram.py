"""Count baselines: the KN n-gram against a plain dictionary implementation, normalisation, add-one unigram, and
the harness fitting them on the training windows only."""

from __future__ import annotations

import math
from collections import Counter, defaultdict

import numpy as np
import pytest

from llmcodec.evaluation.ngram import KneserNeyLM, UnigramLM, window_log_probs
from llmcodec.evaluation.token_lm import count_baselines


def reference_kn(windows, n_codes, order):
    """Interpolated Kneser-Ney written out with dictionaries, straight from the textbook recursion."""
    bos = n_codes
    grams = Counter()
    for w in windows:
        padded = [bos] * (order - 1) + list(w)
        for t in range(order - 1, len(padded)):
            grams[tuple(padded[t - order + 1 : t + 1])] += 1
    tables = {order: dict(grams)}
    for k in range(order - 1, 0, -1):
        cont = Counter(g[1:] for g in tables[k + 1])
        tables[k] = dict(cont)
    stats = {}
    for k, table in tables.items():
        n1 = sum(1 for c in table.values() if c == 1)
        n2 = sum(1 for c in table.values() if c == 2)
        discount = min(max(n1 / (n1 + 2 * n2), 1e-3), 0.999) if n1 + 2 * n2 else 0.5
        totals, types = defaultdict(int), defaultdict(int)
        for g, c in table.items():
            totals[g[:-1]] += c
            types[g[:-1]] += 1
        stats[k] = (table, totals, types, discount)

    def prob(history, w):
        p = 1.0 / n_codes
        for k in range(1, order + 1):
            table, totals, types, d = stats[k]
            h = tuple(history[len(history) - (k - 1):]) if k > 1 else ()
            if totals.get(h, 0) > 0:
                p = max(table.get(h + (w,), 0) - d, 0) / totals[h] + d * types[h] / totals[h] * p
        return p

    return prob


@pytest.mark.parametrize("order", [2, 3])
def test_kneser_ney_matches_a_direct_implementation(order) -> None:
    rng = np.random.default_rng(order)
    n_codes = 6
    windows = [rng.integers(0, n_codes, size=rng.integers(3, 12)).tolist() for _ in range(15)]
    model = KneserNeyLM(n_codes, order).fit(windows)
    reference = reference_kn(windows, n_codes, order)
    histories = [tuple(h) for h in rng.integers(0, n_codes + 1, size=(30, order - 1))] + [(n_codes,) * (order - 1)]
    for history in histories:
        got = model.probabilities(np.tile(np.array(history, dtype=np.int64), (n_codes, 1)), np.arange(n_codes))
        want = [reference(history, w) for w in range(n_codes)]
        np.testing.assert_allclose(got, want, rtol=1e-12)
    # A window's log-probs use BOS-padded histories of that window only.
    window = windows[0]
    padded = [n_codes] * (order - 1) + window
    want = [math.log(reference(tuple(padded[t : t + order - 1]), window[t])) for t in range(len(window))]
    np.testing.assert_allclose(model.log_probs(window), want, rtol=1e-12)
    np.testing.assert_allclose(np.concatenate(window_log_probs(model, windows[:3])),
                               np.concatenate([model.log_probs(w) for w in windows[:3]]), rtol=1e-12)


def test_kneser_ney_normalises_over_the_codes_for_any_history() -> None:
    rng = np.random.default_rng(0)
    n_codes = 300
    model = KneserNeyLM(n_codes, 3).fit([rng.integers(0, 40, size=200) for _ in range(20)])
    for history in ([1, 2], [n_codes, n_codes], [299, 298], [5, n_codes]):
        p = model.probabilities(np.tile(history, (n_codes, 1)), np.arange(n_codes))
        assert p.sum() == pytest.approx(1.0, abs=1e-9) and (p > 0).all()
    with pytest.raises(ValueError, match="outside"):
        model.log_probs([n_codes])


def test_unigram_is_add_one_over_the_codes() -> None:
    model = UnigramLM(4).fit([[0, 0, 1], [0]])
    # counts 3, 1, 0, 0 over 4 tokens: (c + 1) / (4 + 4)
    np.testing.assert_allclose(np.exp(model.log_probs([0, 1, 2, 3])), [4 / 8, 2 / 8, 1 / 8, 1 / 8])


def test_baselines_are_fitted_on_the_training_windows_only() -> None:
    """Held-out windows follow a pattern never seen in training: a baseline that saw them would predict them well."""
    rng = np.random.default_rng(0)
    n_codes = 64
    train = [rng.integers(0, n_codes, size=64) for _ in range(40)]
    held = [np.tile([5, 9, 13], 20) for _ in range(6)]
    scores = count_baselines(train, held, n_codes)
    ngram = -np.concatenate(scores["ngram"]).mean()
    unigram = -np.concatenate(scores["unigram"]).mean()
    assert ngram > 3.5 and unigram > 3.5, (ngram, unigram)  # ln 64 = 4.16; one that saw the eval set scores < 1
    cheat = -np.concatenate(window_log_probs(KneserNeyLM(n_codes, 3).fit(train + held), held)).mean()
    assert cheat < 1.0
