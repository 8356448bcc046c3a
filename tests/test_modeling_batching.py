"""A padded batch gives each item the codes and audio it gets alone."""

import torch

from codec_testing import speechlike, tiny_model
from llmcodec.modeling import LLMCodecFeatureExtractor

LENGTHS = [16000, 9001, 400, 12345, 640]


def _encode_batch(model, clips):
    features = LLMCodecFeatureExtractor()([c.numpy() for c in clips], sampling_rate=16000, return_tensors="pt")
    with torch.inference_mode():
        return model.encode(features["input_values"], features["padding_mask"])


def test_batched_codes_equal_single_item_codes():
    model = tiny_model(seed=3)
    clips = [speechlike(n, seed=i) for i, n in enumerate(LENGTHS)]
    batched = _encode_batch(model, clips)
    for i, clip in enumerate(clips):
        with torch.inference_mode():
            alone = model.encode(clip[None, None])
        frames = alone.audio_codes.shape[1]
        assert frames == len(clip) // 320
        assert torch.equal(batched.audio_codes[i, :frames], alone.audio_codes[0])
        assert batched.audio_codes_mask[i, :frames].all() and not batched.audio_codes_mask[i, frames:].any()
        assert (batched.audio_codes[i, frames:] == -1).all()
        assert torch.allclose(batched.latents[i, :frames], alone.latents[0], atol=1e-5)


def test_batched_decode_equals_single_item_decode():
    model = tiny_model(seed=4)
    clips = [speechlike(n, seed=10 + i) for i, n in enumerate(LENGTHS)]
    batched = _encode_batch(model, clips)
    with torch.inference_mode():
        decoded = model.decode(batched.audio_codes, batched.audio_codes_mask)
    assert decoded.audio_values.shape == (len(clips), 1, batched.audio_codes.shape[1] * 320)
    for i in range(len(clips)):
        frames = int(batched.audio_codes_mask[i].sum())
        with torch.inference_mode():
            alone = model.decode(batched.audio_codes[i : i + 1, :frames]).audio_values[0, 0]
        assert torch.allclose(decoded.audio_values[i, 0, : frames * 320], alone, atol=1e-5)
        assert decoded.audio_values[i, 0, frames * 320 :].abs().max().item() == 0.0 if frames * 320 < decoded.audio_values.shape[-1] else True
        assert decoded.padding_mask[i].sum() == frames * 320


def test_forward_pads_reconstruction_to_input_length():
    model = tiny_model(seed=5)
    clip = speechlike(16000 + 100)
    with torch.inference_mode():
        output = model(clip[None, None])
    assert output.audio_values.shape == (1, 1, 16100)
    assert output.audio_values[0, 0, 16000:].abs().max() == 0
    assert output.loss is None
