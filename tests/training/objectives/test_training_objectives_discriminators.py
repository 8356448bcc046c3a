"""MPD / MSD discriminators: shapes, parameter counts, init, no weight norm."""

import pytest
import torch

from llmcodec.training.objectives.discriminators import (
    CombinedDiscriminator,
    MultiPeriodDiscriminator,
    MultiScaleDiscriminator,
    PeriodDiscriminator,
    ScaleDiscriminator,
)

torch.set_num_threads(1)
TINY = (4, 8, 8, 8, 8)


def _conv_params(c_in, c_out, k):
    return c_in * c_out * k + c_out


def _expected_mpd_sub(ch=(64, 128, 256, 512, 1024)):
    total, c_in = 0, 1
    for c in ch:
        total += _conv_params(c_in, c, 5)
        c_in = c
    return total + _conv_params(c_in, c_in, 3) + _conv_params(c_in, 1, 3)


def _expected_msd_sub(ch=(64, 128, 256, 512, 1024)):
    total = _conv_params(1, ch[0], 15)
    for a, b in zip(ch[:-1], ch[1:]):
        total += _conv_params(a, b, 41)
    return total + _conv_params(ch[-1], ch[-1], 5) + _conv_params(ch[-1], 1, 3)


def _count(module):
    return sum(p.numel() for p in module.parameters())


def test_default_parameter_counts_match_recipe():
    # meta device: exact shapes and counts without allocating 135 M parameters
    with torch.device("meta"):
        mpd, msd = MultiPeriodDiscriminator(), MultiScaleDiscriminator()
    assert _count(mpd) == 5 * _expected_mpd_sub() == 33_168_645
    assert _count(msd) == 3 * _expected_msd_sub() == 101_397_123
    assert round(_count(mpd) / 1e6, 1) == 33.2 and round(_count(msd) / 1e6, 1) == 101.4


def test_no_weight_or_spectral_norm_and_normal_init_on_request():
    d = ScaleDiscriminator(channels=(64, 128), init_std=0.01)
    names = [n for n, _ in d.named_parameters()]
    assert not any("weight_g" in n or "weight_v" in n or "parametrizations" in n or "weight_orig" in n for n in names)
    big = d.convs[1].weight  # 128 x 64 x 41 = 335,872 samples
    assert big.std().item() == pytest.approx(0.01, rel=0.02)
    assert big.mean().abs().item() < 1e-3
    assert all(torch.count_nonzero(c.bias) == 0 for c in d.convs)


def test_default_init_is_variance_preserving_so_narrow_discriminators_start_alive():
    # N(0, 0.01) shrank the signal ~0.18x per layer in the CPU-sized D: logits ~1e-10, hinge stuck at 2 per head.
    torch.manual_seed(0)
    wav = 0.1 * torch.randn(2, 1, 8000)
    narrow = (8, 16, 16, 32, 32)
    big = ScaleDiscriminator(channels=(64, 128)).convs[1].weight
    gain = (2 / (1 + 0.2 ** 2)) ** 0.5
    assert big.std().item() == pytest.approx(gain / (64 * 41) ** 0.5, rel=0.03)
    alive = CombinedDiscriminator(mpd_channels=narrow, msd_channels=narrow)(wav)
    dead = CombinedDiscriminator(mpd_channels=narrow, msd_channels=narrow, init_std=0.01)(wav)
    assert min(logits.abs().mean().item() for logits, _ in alive) > 1e-3
    assert max(logits.abs().mean().item() for logits, _ in dead) < 1e-6


def test_narrow_discriminator_learns_to_tell_clean_from_degraded_speech():
    from llmcodec.training.objectives.adversarial import discriminator_adversarial_loss

    torch.manual_seed(0)
    t = torch.arange(3200) / 16000
    clean = torch.stack([0.3 * torch.sin(2 * torch.pi * f * t) * (1 + torch.sin(2 * torch.pi * 3 * t))
                         + 0.05 * torch.sin(2 * torch.pi * 7 * f * t) for f in (120.0, 240.0)]).unsqueeze(1)
    fake = torch.nn.functional.avg_pool1d(clean, 9, 1, 4)  # low-passed: the harmonics above ~1.7 kHz are gone
    d = CombinedDiscriminator(periods=(2, 3), num_scales=2, mpd_channels=(8, 16, 16, 32, 32), msd_channels=(8, 16, 16, 32, 32))
    opt = torch.optim.AdamW(d.parameters(), lr=1e-3, betas=(0.8, 0.99))
    losses = []
    for _ in range(40):
        loss = discriminator_adversarial_loss([l for l, _ in d(clean)], [l for l, _ in d(fake)], "hinge")
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    heads = 4  # 2 periods + 2 scales: the loss of a D whose outputs are all 0 is 2 per head
    assert losses[-1] < 0.75 * 2 * heads


def test_period_discriminator_folds_with_reflect_padding():
    d = PeriodDiscriminator(period=3, channels=TINY)
    wav = torch.randn(2, 1, 100)  # 100 -> padded to 102 -> (34, 3)
    logits, feats = d(wav)
    assert len(feats) == 6
    assert feats[0].shape == (2, 4, 34, 3)  # first conv stride 1
    assert feats[1].shape == (2, 8, 12, 3)  # stride 3: ceil(34 / 3)
    assert logits.shape == (2, feats[-1].shape[2] * 3)
    # the padding is a reflection: the padded tail equals a shifted copy of the input
    padded = torch.nn.functional.pad(wav, (0, 2), mode="reflect")
    assert torch.equal(padded[..., 100:], wav[..., [98, 97]])
    with pytest.raises(ValueError, match="too short"):
        PeriodDiscriminator(period=11, channels=TINY)(torch.randn(1, 1, 5))


def test_scale_discriminator_shapes_and_pooling():
    msd = MultiScaleDiscriminator(channels=TINY)
    outs = msd(torch.randn(2, 640))
    assert len(outs) == 3
    firsts = [feats[0].shape[-1] for _, feats in outs]
    assert firsts == [640, 320, 160]  # AvgPool1d(4, 2, padding=1) halves the length between scales
    for logits, feats in outs:
        assert len(feats) == 6 and logits.dim() == 2 and logits.shape[0] == 2


def test_combined_discriminator_has_eight_sub_discriminators():
    d = CombinedDiscriminator(mpd_channels=TINY, msd_channels=TINY)
    outs = d(torch.randn(1, 1, 800))
    assert len(outs) == 8
    assert set(k.split(".")[0] for k in d.state_dict()) == {"mpd", "msd"}
    with pytest.raises(ValueError, match="mono"):
        d(torch.randn(1, 2, 800))
    with pytest.raises(ValueError, match="channels"):
        ScaleDiscriminator(channels=())
