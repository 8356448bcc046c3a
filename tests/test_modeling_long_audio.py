"""Windowed encoding/decoding of long audio."""

import pytest
import torch

from codec_testing import speechlike, tiny_model


@pytest.fixture(scope="module")
def model_and_audio():
    return tiny_model(seed=6), speechlike(16000 * 24 + 123, seed=6)[None, None]


def test_windowed_encode_agrees_with_whole_file(model_and_audio):
    model, audio = model_and_audio
    with torch.inference_mode():
        whole = model.encode(audio)
        windowed = model.encode(audio, chunk_length_s=5.0, chunk_context_s=2.0)
    assert windowed.audio_codes.shape == whole.audio_codes.shape
    agreement = (windowed.audio_codes == whole.audio_codes).float().mean().item()
    assert agreement >= 0.97
    # Away from window borders (more context than the model's receptive field matters for) codes match.
    assert torch.equal(windowed.audio_codes[:, :100], whole.audio_codes[:, :100]) or agreement > 0.99


def test_windowed_decode_is_close_to_whole_decode(model_and_audio):
    model, audio = model_and_audio
    with torch.inference_mode():
        codes = model.encode(audio).audio_codes
        whole = model.decode(codes).audio_values
        windowed = model.decode(codes, chunk_length_s=5.0, chunk_context_s=2.0).audio_values
    assert windowed.shape == whole.shape
    relative = (windowed - whole).norm() / whole.norm()
    assert relative < 0.1


def test_windowed_batch_with_padding_matches_items_alone(model_and_audio):
    model, audio = model_and_audio
    short = audio[..., : 16000 * 7 + 5]
    batch = torch.zeros(2, 1, audio.shape[-1])
    batch[0] = audio[0]
    batch[1, :, : short.shape[-1]] = short[0]
    mask = torch.zeros(2, audio.shape[-1], dtype=torch.long)
    mask[0] = 1
    mask[1, : short.shape[-1]] = 1
    with torch.inference_mode():
        batched = model.encode(batch, mask, chunk_length_s=5.0, chunk_context_s=2.0)
        alone = model.encode(short, chunk_length_s=5.0, chunk_context_s=2.0)
    frames = alone.audio_codes.shape[1]
    assert torch.equal(batched.audio_codes[1, :frames], alone.audio_codes[0])
    assert (batched.audio_codes[1, frames:] == -1).all()


def test_windowing_refused_in_training_mode(model_and_audio):
    model, audio = model_and_audio
    model.train()
    try:
        with pytest.raises(ValueError, match="inference"):
            model.encode(audio, chunk_length_s=5.0)
    finally:
        model.eval()
