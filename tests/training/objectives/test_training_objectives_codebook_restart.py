"""Dead-code restarts revive unused codes onto encoder outputs, relative to the expected usage of a code."""

import pytest
import torch

from llmcodec.training.objectives.codebook_restart import CodebookRestarter


def test_dead_codes_move_onto_encoder_outputs():
    torch.manual_seed(0)
    restarter = CodebookRestarter(codebook_size=16, decay=0.5, threshold=0.05, every=4, noise=0.0, max_fraction=1.0)
    codebook = torch.randn(16, 3)
    original = codebook.clone()
    projected = torch.randn(2, 5, 3) * 10 + 100  # far from every current code
    codes = torch.zeros(2, 5, dtype=torch.long)  # only code 0 is ever used
    restarted = 0
    for _ in range(8):
        restarter.update(codes)
        restarted += restarter.maybe_restart(codebook, projected)
    assert restarted == 15
    assert torch.equal(codebook[0], original[0])  # the used code stays
    pool = projected.reshape(-1, 3)
    for row in codebook[1:]:
        assert (pool - row).abs().sum(-1).min() < 1e-5  # each revived code is one of the encoder outputs
    assert restarter.usage_stats()["codes_alive"] == 16


def test_threshold_is_relative_to_the_expected_usage_of_a_code():
    # 800 frames a step over 20,480 codes: the average code is used 0.04 times a step. A code used at a
    # third of that rate is healthy and must not be declared dead (an absolute 0.005 would kill most codes).
    torch.manual_seed(0)
    k, frames = 20480, 800
    restarter = CodebookRestarter(codebook_size=k, decay=0.99, threshold=0.1, every=20, max_fraction=1.0)
    for step in range(400):
        codes = torch.randint(0, k, (1, frames))
        restarter.update(codes)
    assert restarter.expected_usage == pytest.approx(frames / k, rel=1e-4)
    dead = restarter.dead_codes()
    # Uniform random use: every code is used on average; only those unseen for ~100+ steps fall below 10 %.
    assert dead.numel() < 0.05 * k
    # A code never used again falls below the threshold after a few hundred steps and is then dead.
    never = CodebookRestarter(codebook_size=k, decay=0.99, threshold=0.1, max_fraction=1.0)
    for _ in range(400):
        never.update(torch.randint(1, k, (1, frames)))
    assert 0 in never.dead_codes().tolist()


def test_restarts_are_capped_and_take_the_least_used_first():
    restarter = CodebookRestarter(codebook_size=100, decay=0.5, threshold=0.5, every=1, max_fraction=0.05, noise=0.0)
    codes = torch.arange(50).repeat(4).unsqueeze(0)  # codes 50..99 never used
    for _ in range(6):
        restarter.update(codes)
    restarter.usage[60] = 1e-9  # the least used of the dead
    dead = restarter.dead_codes()
    assert dead.numel() == 5 and int(dead[0]) == 60
    assert set(dead.tolist()) <= set(range(50, 100))


def test_new_positions_favour_frames_the_codebook_serves_badly():
    torch.manual_seed(0)
    restarter = CodebookRestarter(codebook_size=4, decay=0.5, threshold=0.5, every=1, max_fraction=1.0, noise=0.0)
    codebook = torch.tensor([[1.0, 0.0], [1.0, 0.01], [1.0, -0.01], [1.0, 0.02]])
    well_served = torch.tensor([1.0, 0.0]).repeat(99, 1)
    badly_served = torch.tensor([[0.0, 1.0]])  # orthogonal to every code
    projected = torch.cat([well_served, badly_served]).unsqueeze(0)
    for _ in range(4):
        restarter.update(torch.zeros(1, 100, dtype=torch.long))
    assert restarter.restart(codebook, projected) == 3
    # All three revived codes land on the one badly served frame, none on the 99 frames code 0 serves.
    assert torch.allclose(codebook[1:], badly_served.expand(3, 2))


def test_restarts_only_every_period_and_respect_the_mask():
    restarter = CodebookRestarter(codebook_size=4, decay=0.1, threshold=0.5, every=3)
    codebook = torch.zeros(4, 2)
    projected = torch.ones(1, 2, 2)
    mask = torch.tensor([[True, False]])
    restarter.update(torch.tensor([[1, 2]]), mask)
    assert restarter.maybe_restart(codebook, projected, mask) == 0  # step 1 of 3
    assert restarter.usage[2] < restarter.usage[1]  # masked frame not counted
    assert float(restarter.frames) == 1.0


def test_usage_is_checkpointed():
    restarter = CodebookRestarter(codebook_size=8)
    restarter.update(torch.tensor([[3, 3, 5]]))
    clone = CodebookRestarter(codebook_size=8)
    clone.load_state_dict(restarter.state_dict())
    assert torch.equal(clone.usage, restarter.usage) and int(clone.steps) == 1
    assert float(clone.frames) == float(restarter.frames) == 3.0


def test_bad_arguments():
    with pytest.raises(ValueError, match="decay"):
        CodebookRestarter(8, decay=1.5)
    with pytest.raises(ValueError, match="max_fraction"):
        CodebookRestarter(8, max_fraction=0.0)
