"""Dead-code restarts revive unused codes onto encoder outputs."""

import pytest
import torch

from llmcodec.training.codebook_restart import CodebookRestarter


def test_dead_codes_move_onto_encoder_outputs():
    torch.manual_seed(0)
    restarter = CodebookRestarter(codebook_size=16, decay=0.5, threshold=0.05, every=4, noise=0.0)
    codebook = torch.randn(16, 3)
    original = codebook.clone()
    projected = torch.randn(2, 5, 3) * 10 + 100  # far from every current code
    codes = torch.zeros(2, 5, dtype=torch.long)  # only code 0 is ever used
    restarted = 0
    for _ in range(4):
        restarter.update(codes)
        restarted += restarter.maybe_restart(codebook, projected)
    assert restarted == 15
    assert torch.equal(codebook[0], original[0])  # the used code stays
    pool = projected.reshape(-1, 3)
    for row in codebook[1:]:
        assert (pool - row).abs().sum(-1).min() < 1e-5  # each revived code is one of the encoder outputs
    assert restarter.usage_stats()["codes_alive"] == 16


def test_restarts_only_every_period_and_respect_the_mask():
    restarter = CodebookRestarter(codebook_size=4, decay=0.1, threshold=0.5, every=3)
    codebook = torch.zeros(4, 2)
    projected = torch.ones(1, 2, 2)
    mask = torch.tensor([[True, False]])
    restarter.update(torch.tensor([[1, 2]]), mask)
    assert restarter.maybe_restart(codebook, projected, mask) == 0  # step 1 of 3
    assert restarter.usage[2] < restarter.usage[1]  # masked frame not counted


def test_usage_is_checkpointed():
    restarter = CodebookRestarter(codebook_size=8)
    restarter.update(torch.tensor([[3, 3, 5]]))
    clone = CodebookRestarter(codebook_size=8)
    clone.load_state_dict(restarter.state_dict())
    assert torch.equal(clone.usage, restarter.usage) and int(clone.steps) == 1


def test_bad_arguments():
    with pytest.raises(ValueError, match="decay"):
        CodebookRestarter(8, decay=1.5)
