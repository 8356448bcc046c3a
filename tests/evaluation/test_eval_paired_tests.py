"""Paired consistency tests: negatives change only the second half, the scored window sits after the change, a
known scorer gets a known accuracy, the LM scorer aligns targets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from code_stand_ins import BandLevelCodec, sine
from llmcodec.evaluation.paired_tests import (
    PairedTestConfig,
    build_waveform_pairs,
    edit_frames,
    gain_second_half,
    noise_floor_second_half,
    score_paired_tests,
    window_score,
)


def test_negatives_change_only_the_second_half() -> None:
    a = sine(440.0, 4.0)
    half = a.numel() // 2
    for changed in (gain_second_half(a, -10.0), noise_floor_second_half(a, 10.0, torch.Generator().manual_seed(0))):
        assert torch.equal(changed[:half], a[:half]) and not torch.allclose(changed[half:], a[half:])
    quiet = gain_second_half(a, -20.0)
    assert float(quiet[half:].abs().max()) == pytest.approx(0.1 * float(a[half:].abs().max()), rel=1e-4)


def test_edit_frames_changes_only_the_window() -> None:
    codes = torch.arange(200) % 50
    edited = edit_frames(codes, 100, 150, 0.25, 64, torch.Generator().manual_seed(0))
    changed = (edited != codes).nonzero().reshape(-1)
    assert len(changed) == 13 and changed.min() >= 100 and changed.max() < 150
    assert edited.max() < 64


def test_window_score_is_the_mean_after_the_change() -> None:
    log_probs = np.array([-9.0] * 100 + [-1.0] * 50 + [-9.0] * 50)
    assert window_score(log_probs, 100, 150) == -1.0


def change_scorer(sign: float = 1.0):
    """Per-token log-prob: 0 when a code repeats its predecessor, -5 when it changes (× sign)."""

    def score(code_lists):
        out = []
        for c in code_lists:
            c = torch.as_tensor(c)
            changes = torch.cat([torch.zeros(1), (c[1:] != c[:-1]).float()])
            out.append((-5.0 * sign * changes).numpy())
        return out

    return score


def test_known_scorer_gets_a_known_accuracy() -> None:
    # Whole periods per 20 ms frame: every frame of a clip gets the same code.
    clips = [(f"c{i}", sine(250.0 + 50 * i, 4.0, amplitude=0.2), f"s{i}") for i in range(6)]
    config = PairedTestConfig(clip_seconds=4.0, window_seconds=1.0, gain_db=-12.0, resamples=200)
    pairs = build_waveform_pairs(clips, config, ("gain", "frame-edit"))
    codec = BandLevelCodec()
    result = score_paired_tests(pairs, codec.encode, {"smooth": change_scorer(), "anti": change_scorer(-1.0)},
                                codec.codebook_size, 50.0, config)
    assert result["window_frames"] == [100, 150]
    for negative in ("gain", "frame-edit"):
        assert result["accuracy"]["smooth"][negative]["mean"] == 1.0
        assert result["accuracy"]["anti"][negative]["mean"] == 0.0
        assert result["accuracy"]["smooth"][negative]["n"] == 6
    # Scored on the window after the change only: the unchanged first half never counts.
    assert all(r["window"] == [100, 150] for r in result["pairs"])


def test_lm_token_scorer_aligns_targets() -> None:
    """CausalLMScorer.token_log_probs[t] scores code t given the codes before it (not code t itself)."""
    from llmcodec.evaluation.salmon import CausalLMScorer
    from llmcodec.tokenizer.mapping import AudioTokenMap

    from code_stand_ins import NextCodeOracle

    vocab = AudioTokenMap.for_token_lm(16)
    codes = [torch.tensor([(i + 3) % 8 for i in range(20)])]
    right = CausalLMScorer(NextCodeOracle(16, 8, 1), vocab).token_log_probs(codes)[0]
    wrong = CausalLMScorer(NextCodeOracle(16, 8, 0), vocab).token_log_probs(codes)[0]
    assert right.shape == (20,) and right[0] == pytest.approx(-np.log(16), rel=1e-4)
    assert np.abs(right[1:]).max() < 1e-6 and wrong[1:].max() < -25
