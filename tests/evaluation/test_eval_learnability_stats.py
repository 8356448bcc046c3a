"""bits/s and bootstrap intervals over held-out files (not tokens)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from llmcodec.evaluation.learnability_stats import bits_per_second, bootstrap_share, file_bootstrap, per_file_sums


def test_bits_per_second() -> None:
    assert bits_per_second(math.log(2), 50) == pytest.approx(50.0)
    # Uniform over 20,480 codes at 50 codes/s costs the codec's own bitrate, 50 x log2(20480) = 716 bits/s.
    assert bits_per_second(math.log(20480), 50) == pytest.approx(716.1, abs=0.05)


def test_file_bootstrap_resamples_files_not_tokens() -> None:
    """Ten files of 1,000 tokens whose per-token NLL is the file's index: the spread is between files.

    Resampling files gives a 95 % interval about 3.5 nats wide; resampling the 10,000 tokens would give ~0.1.
    """
    counts = np.full(10, 1000.0)
    sums = np.arange(10) * 1000.0
    row = file_bootstrap({"lm": sums}, counts, resamples=2000, seed=0)["lm"]
    assert row["mean"] == pytest.approx(4.5)
    assert row["hi"] - row["lo"] > 2.5, row
    assert row["lo"] < 4.5 < row["hi"]


def test_paired_differences_share_the_resamples() -> None:
    """Model B is worse than A by exactly 0.1 nat on every file: the gap's interval is [0.1, 0.1] even though each
    model's own interval is wide."""
    counts = np.array([100.0, 300.0, 50.0, 800.0, 20.0])
    a = np.array([2.0, 6.0, 1.0, 9.0, 4.0]) * counts
    table = file_bootstrap({"a": a, "b": a + 0.1 * counts, "gap": 0.1 * counts}, counts, resamples=500)
    assert table["gap"]["lo"] == pytest.approx(0.1) and table["gap"]["hi"] == pytest.approx(0.1)
    assert table["a"]["hi"] - table["a"]["lo"] > 1.0
    with pytest.raises(ValueError, match="files"):
        file_bootstrap({"a": a[:3]}, counts)


def test_per_file_sums_and_share() -> None:
    sums, counts = per_file_sums([np.array([1.0, 2.0]), np.array([3.0]), np.array([4.0])], [0, 1, 0], 2)
    assert sums.tolist() == [7.0, 3.0] and counts.tolist() == [3.0, 1.0]
    share = bootstrap_share(np.array([1.0] * 90 + [0.0] * 10), resamples=500)
    assert share["mean"] == pytest.approx(0.9) and share["lo"] < 0.9 < share["hi"] and share["n"] == 100
