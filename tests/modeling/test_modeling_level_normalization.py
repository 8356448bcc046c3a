"""Optional level normalisation (`config.normalize_level_dbfs`): codes independent of the input's level,
the level restored on decode, off by default."""

import pytest
import torch

from codec_testing import speechlike, tiny_model

from llmcodec.modeling import LLMCodecConfig


def _rms_db(x: torch.Tensor) -> float:
    return float(20 * torch.log10(x.pow(2).mean().sqrt()))


def test_off_by_default_codes_follow_the_level():
    model = tiny_model()
    assert model.config.normalize_level_dbfs is None
    audio = speechlike(32000)[None]
    with torch.inference_mode():
        encoded = model.encode(audio)
        quieter = model.encode(audio * 10 ** (-12 / 20))
    assert encoded.audio_scales is None
    assert not torch.equal(encoded.audio_codes, quieter.audio_codes)


@pytest.mark.parametrize("gain_db", [-1.0, 1.0, -20.0])
def test_codes_do_not_depend_on_the_input_level(gain_db):
    model = tiny_model(normalize_level_dbfs=-23.0)
    audio = speechlike(32000)[None]
    with torch.inference_mode():
        reference = model.encode(audio)
        scaled = model.encode(audio * 10 ** (gain_db / 20))
    changed = (reference.audio_codes != scaled.audio_codes).float().mean()
    assert changed <= 0.01, f"{changed:.1%} of codes changed under a {gain_db} dB gain"
    ratio = float(reference.audio_scales / scaled.audio_scales)
    assert ratio == pytest.approx(10 ** (gain_db / 20), rel=1e-4)


def test_decode_with_the_scales_restores_the_input_level():
    model = tiny_model(normalize_level_dbfs=-23.0)
    audio = speechlike(32000)[None] * 10 ** (-30 / 20)
    with torch.inference_mode():
        encoded = model.encode(audio)
        at_input_level = model.decode(encoded.audio_codes, audio_scales=encoded.audio_scales).audio_values
        at_model_level = model.decode(encoded.audio_codes).audio_values
    # Undoing the gain changes the decoded level by exactly the gain encode applied.
    gain_db = 20 * float(torch.log10(encoded.audio_scales[0]))
    assert _rms_db(at_model_level) - _rms_db(at_input_level) == pytest.approx(gain_db, abs=1e-3)


def test_padding_does_not_change_an_items_gain():
    model = tiny_model(normalize_level_dbfs=-23.0)
    short, long = speechlike(16000, seed=1), speechlike(32000, seed=2)
    batch = torch.zeros(2, long.numel())
    batch[0, : short.numel()], batch[1] = short, long
    mask = torch.zeros_like(batch, dtype=torch.long)
    mask[0, : short.numel()], mask[1] = 1, 1
    with torch.inference_mode():
        together = model.encode(batch[:, None], mask)
        alone = model.encode(short[None, None])
    assert float(together.audio_scales[0]) == pytest.approx(float(alone.audio_scales[0]), rel=1e-5)
    frames = alone.audio_codes.shape[1]
    assert torch.equal(together.audio_codes[0, :frames], alone.audio_codes[0])


def test_near_silence_is_not_amplified_past_the_cap():
    model = tiny_model(normalize_level_dbfs=-23.0, normalize_max_gain_db=40.0)
    with torch.inference_mode():
        encoded = model.encode(torch.full((1, 1, 16000), 1e-7))
    assert float(encoded.audio_scales[0]) == pytest.approx(100.0)


def test_training_forward_returns_audio_at_the_input_level():
    model = tiny_model(normalize_level_dbfs=-23.0).train()
    audio = speechlike(16000)[None] * 0.01
    output = model(audio)
    normalised = tiny_model(normalize_level_dbfs=-23.0).train()(audio * 10)
    # Same codes (level-free) and the reconstruction scaled back by the same factor of 10.
    assert torch.equal(output.audio_codes, normalised.audio_codes)
    assert torch.allclose(output.audio_values * 10, normalised.audio_values, atol=1e-5)


def test_bad_scales_and_levels_are_refused():
    model = tiny_model(normalize_level_dbfs=-23.0)
    codes = torch.zeros(2, 10, dtype=torch.long)
    with pytest.raises(ValueError, match="one gain per item"):
        model.decode(codes, audio_scales=torch.ones(3))
    with pytest.raises(ValueError, match="finite and positive"):
        model.decode(codes, audio_scales=torch.tensor([1.0, float("nan")]))
    with pytest.raises(ValueError, match="normalize_level_dbfs"):
        LLMCodecConfig(normalize_level_dbfs=6.0)


def test_batch_encoder_and_decoder_carry_the_scales():
    from llmcodec.batching import decode_batch, encode_batch

    model = tiny_model(normalize_level_dbfs=-23.0)
    quiet, loud = speechlike(16000, seed=3) * 0.01, speechlike(24000, seed=4)
    codes, scales = encode_batch(model, [quiet, loud], sampling_rate=16000, return_scales=True)
    assert scales[0] == pytest.approx(100 * scales[1], rel=0.2)  # the quiet clip got the larger gain
    restored = decode_batch(model, codes, audio_scales=scales)
    at_model_level = decode_batch(model, codes)
    for item, (a, b, scale) in enumerate(zip(restored, at_model_level, scales)):
        assert torch.allclose(a * scale, b, atol=1e-6), item
    plain = tiny_model()
    assert encode_batch(plain, [loud], sampling_rate=16000, return_scales=True)[1] == [None]
