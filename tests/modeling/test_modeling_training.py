"""Training-mode outputs: VQ loss, straight-through latents, frozen BatchNorm."""

import torch

from codec_testing import speechlike, tiny_model


def test_training_forward_returns_vq_loss_and_gradients_reach_the_encoder():
    model = tiny_model(seed=11).train()
    audio = torch.stack([speechlike(8000, seed=1), speechlike(8000, seed=2)])[:, None]
    output = model(audio)
    assert output.loss is not None and output.loss.dim() == 0 and output.loss > 0
    assert output.vq_loss.shape == (2,)
    reconstruction = output.audio_values.pow(2).mean()
    (reconstruction + output.loss).backward()
    encoder_grad = model.encoder.stft_frontend.projection.weight.grad
    assert encoder_grad is not None and encoder_grad.abs().sum() > 0  # through the straight-through estimator
    assert model.quantizer.codebook.weight.grad.abs().sum() > 0  # codebook loss
    assert model.decoder.istft_head.projection.weight.grad.abs().sum() > 0


def test_vq_loss_matches_its_definition():
    model = tiny_model(seed=12).train()
    output = model.encode(speechlike(6400, seed=3)[None, None])
    projected = output.projected_latents
    quantized = model.quantizer.codebook.weight[output.audio_codes]
    expected = 1.25 * (projected - quantized).pow(2).mean()  # commitment 0.25 + codebook 1.0, same value
    assert torch.allclose(output.vq_loss[0], expected, atol=1e-6)


def test_angular_commitment_adds_one_minus_cosine_to_its_code():
    model = tiny_model(seed=12, commitment_angular_weight=2.0).train()
    output = model.encode(speechlike(6400, seed=3)[None, None])
    projected = output.projected_latents
    quantized = model.quantizer.codebook.weight[output.audio_codes]
    cosine = torch.nn.functional.cosine_similarity(projected, quantized, dim=-1)
    expected = 1.25 * (projected - quantized).pow(2).mean() + 2.0 * (1 - cosine).mean()
    assert torch.allclose(output.vq_loss[0], expected, atol=1e-6)


def test_vq_loss_ignores_padded_frames():
    model = tiny_model(seed=13).train()
    clip = speechlike(6400, seed=4)
    alone = model.encode(clip[None, None]).vq_loss[0]
    padded = torch.cat([clip, torch.zeros(3200)])[None, None]
    mask = torch.cat([torch.ones(6400), torch.zeros(3200)])[None]
    assert torch.allclose(model.encode(padded, mask).vq_loss[0], alone, atol=1e-6)


def test_batchnorm_stays_frozen_in_training_mode():
    model = tiny_model(seed=14).train()
    norm = model.encoder.conformer.layers[0].conv_module.conv_norm
    before = norm.running_mean.clone()
    model(speechlike(8000)[None, None])
    assert not norm.training
    assert torch.equal(norm.running_mean, before)
    unfrozen = tiny_model(seed=14, freeze_batchnorm_in_training=False).train()
    assert unfrozen.encoder.conformer.layers[0].conv_module.conv_norm.training


def test_angular_commitment_weight_is_validated_and_off_by_default():
    import pytest

    from llmcodec.modeling import LLMCodecConfig

    assert LLMCodecConfig().commitment_angular_weight == 0.0  # the released recipe's loss is unchanged
    for bad in (-0.5, float("nan")):
        with pytest.raises(ValueError, match="commitment_angular_weight"):
            LLMCodecConfig(commitment_angular_weight=bad)
