"""``PitchSupervision``: octave L1 on voiced frames + voicing BCE, masked frames ignored, and it can learn."""

from __future__ import annotations

import math

import torch

from llmcodec.training.objectives import PitchSupervision

torch.set_num_threads(1)


def test_the_loss_is_octave_error_on_voiced_frames_plus_voicing_bce():
    torch.manual_seed(0)
    head = PitchSupervision(8, channels=16)
    latents = torch.randn(2, 10, 8)
    f0 = torch.tensor([[100.0] * 5 + [0.0] * 5, [200.0] * 10])
    pred_hz, prob = head.predict(latents)
    voiced = f0 > 0
    octaves = (torch.log2(pred_hz) - torch.log2(f0.clamp(min=1)))[voiced].abs().mean()
    bce = torch.nn.functional.binary_cross_entropy(prob, voiced.float())
    assert torch.allclose(head(latents, f0), octaves + bce, atol=1e-5)


def test_masked_frames_and_unvoiced_f0_values_do_not_count():
    torch.manual_seed(0)
    head = PitchSupervision(8, channels=16)
    latents = torch.randn(1, 12, 8)
    f0 = torch.full((1, 12), 150.0)
    mask = torch.ones(1, 12, dtype=torch.bool)
    mask[:, 8:] = False
    other = f0.clone()
    other[:, 8:] = 400.0  # only masked frames differ
    assert torch.equal(head(latents, f0, mask), head(latents, other, mask))
    assert not torch.equal(head(latents, f0), head(latents, other))
    # a target one frame longer than the latents (edge frames) uses the shorter length
    assert torch.isfinite(head(latents, torch.cat([f0, f0[:, :1]], 1)))


def test_gradients_reach_the_latents_and_the_head_learns_pitch_it_is_given():
    torch.manual_seed(0)
    head = PitchSupervision(4, channels=32)
    f0 = torch.exp2(torch.rand(4, 20) * 2 + 6.5)  # 90 .. 360 Hz
    f0[:, ::5] = 0.0
    latents = torch.stack([torch.log2(f0.clamp(min=1)) - 7, (f0 > 0).float(), torch.randn(4, 20), torch.randn(4, 20)], -1)
    latents.requires_grad_(True)
    first = head(latents, f0)
    first.backward()
    assert latents.grad is not None and latents.grad.abs().sum() > 0
    opt = torch.optim.Adam(head.parameters(), 1e-2)
    for _ in range(300):
        opt.zero_grad()
        loss = head(latents.detach(), f0)
        loss.backward()
        opt.step()
    assert loss.item() < 0.2 * first.item()
    pred, prob = head.predict(latents.detach())
    voiced = f0 > 0
    assert (torch.log2(pred[voiced] / f0[voiced]).abs() * 1200).median() < 50  # cents
    assert ((prob > 0.5) == voiced).float().mean() > 0.95
    assert math.isclose(head.reference_log2, math.log2(150.0), rel_tol=1e-6)


def test_an_unknown_source_is_refused():
    import pytest

    with pytest.raises(ValueError, match="source must be"):
        PitchSupervision(8, source="codes")
