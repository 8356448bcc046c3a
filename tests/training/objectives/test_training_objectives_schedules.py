"""Schedules of the LLM-Codec recipe, checked at the recipe's landmark steps."""

import math

import pytest
import torch

from llmcodec.training.objectives import schedules


def test_gumbel_temperature_landmarks():
    assert schedules.gumbel_temperature(0) == pytest.approx(1.0)
    assert schedules.gumbel_temperature(10_000) == pytest.approx(0.65)
    assert schedules.gumbel_temperature(12_000) == pytest.approx(0.3 + 0.35 * (1 + math.cos(0.6 * math.pi)))
    assert schedules.gumbel_temperature(12_000) == pytest.approx(0.5418, abs=1e-4)
    assert schedules.gumbel_temperature(19_999) > 0.3
    assert schedules.gumbel_temperature(20_000) == 0.3
    assert schedules.gumbel_temperature(25_000) == 0.3
    # configurable start/end/steps
    assert schedules.gumbel_temperature(50, start=2.0, end=0.5, steps=100) == pytest.approx(1.25)
    with pytest.raises(ValueError, match="temperatures"):
        schedules.gumbel_temperature(0, end=0.0)


def test_ftp_ramp_landmarks():
    assert schedules.ftp_weight(0) == 0.0
    assert schedules.ftp_weight(10_000) == 0.0
    assert schedules.ftp_weight(11_000) == pytest.approx(0.1)
    assert schedules.ftp_weight(12_000) == pytest.approx(0.2)
    assert schedules.ftp_weight(25_000) == pytest.approx(0.2)


def test_lambda_ramp_generic_and_step_function():
    assert schedules.lambda_ramp(5, delay=10, ramp=4, max_value=2.0) == 0.0
    assert schedules.lambda_ramp(11, delay=10, ramp=4, max_value=2.0) == pytest.approx(0.5)
    assert schedules.lambda_ramp(100, delay=10, ramp=4, max_value=2.0) == pytest.approx(2.0)
    # ramp 0 (the recipe's lambda_gan): full weight from the delay on
    assert schedules.lambda_ramp(0, delay=0, ramp=0, max_value=1.0) == 1.0
    assert schedules.lambda_ramp(9, delay=10, ramp=0, max_value=1.0) == 0.0
    with pytest.raises(ValueError, match="step"):
        schedules.lambda_ramp(-1, 0, 1, 1.0)
    with pytest.raises(ValueError, match="ramp"):
        schedules.lambda_ramp(0, 0, -1, 1.0)


def test_sa_weights_first_active_step_and_ramp():
    assert schedules.sa_weights(12_000) == (0.0, 0.0)
    cos_w, ctr_w = schedules.sa_weights(12_001)
    assert cos_w == pytest.approx(0.1 / 2000) and ctr_w == pytest.approx(0.05 / 2000)
    assert schedules.sa_weights(13_000) == pytest.approx((0.05, 0.025))
    assert schedules.sa_weights(14_000) == pytest.approx((0.1, 0.05))
    assert schedules.sa_weights(20_000, ftp_enabled=False) == (0.0, 0.0)


def test_mel_weight_landmarks():
    assert schedules.mel_weight(0) == pytest.approx(1.5)
    assert schedules.mel_weight(10_000) == pytest.approx(0.75 + 0.375 * (1 + math.cos(0.2 * math.pi)))
    assert schedules.mel_weight(10_000) == pytest.approx(1.4283, abs=1e-4)
    assert schedules.mel_weight(25_000) == pytest.approx(1.125)
    assert schedules.mel_weight(50_000) == pytest.approx(0.75)
    assert schedules.mel_weight(80_000) == pytest.approx(0.75)


def test_cosine_with_warmup_factor():
    assert schedules.cosine_with_warmup_factor(0) == 0.0
    assert schedules.cosine_with_warmup_factor(1000) == pytest.approx(0.5)
    assert schedules.cosine_with_warmup_factor(2000) == pytest.approx(1.0)
    # the recipe: 25k of a 200k cosine leaves the LR at ~0.967 x base
    expected = 0.5 * (1 + math.cos(math.pi * 23_000 / 198_000))
    assert schedules.cosine_with_warmup_factor(25_000) == pytest.approx(expected)
    assert schedules.cosine_with_warmup_factor(25_000) == pytest.approx(0.967, abs=1e-3)
    assert schedules.cosine_with_warmup_factor(101_000) == pytest.approx(0.5)
    assert schedules.cosine_with_warmup_factor(200_000) == 0.0
    with pytest.raises(ValueError, match="warmup_steps"):
        schedules.cosine_with_warmup_factor(0, warmup_steps=10, total_steps=10)


def test_cosine_with_warmup_lambda_drives_lambdalr():
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=1.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedules.cosine_with_warmup_lambda(warmup_steps=4, total_steps=12))
    lrs = []
    for _ in range(6):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0, 0.5 * (1 + math.cos(math.pi / 8))])


def test_codec_gate_and_r1_cadence():
    assert not schedules.codec_update_enabled(9_999)
    assert schedules.codec_update_enabled(10_000)
    assert [s for s in range(40) if schedules.r1_due(s)] == [0, 16, 32]
    with pytest.raises(ValueError, match="every"):
        schedules.r1_due(3, every=0)


def test_the_loss_terms_weights_follow_the_recipe_schedules():
    from llmcodec.training.objectives.loss_terms import term_weights
    from llmcodec.training.trainer.arguments import LLMCodecTrainingArguments

    args = LLMCodecTrainingArguments(output_dir="unused")  # the recipe's defaults
    w = term_weights(args, 11_000)
    assert w["ftp"] == pytest.approx(0.1) and w["sa_cos"] == 0.0 and w["sa_ctr"] == 0.0
    assert w["mel"] == pytest.approx(schedules.mel_weight(11_000))
    assert (w["ms_mel"], w["cstft"], w["fm"]) == (0.5, 0.8, 1.5)
    assert term_weights(args, 14_000)["sa_cos"] == pytest.approx(0.1)
    assert term_weights(args, 14_000)["sa_ctr"] == pytest.approx(0.05)
