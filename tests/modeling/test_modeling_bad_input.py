"""Bad input to the model gets a clear error that names the problem."""

import pytest
import torch

from codec_testing import speechlike, tiny_model


@pytest.fixture(scope="module")
def model():
    return tiny_model(seed=8)


@pytest.mark.parametrize(
    "audio, message",
    [
        (torch.zeros(1, 1, 0), "empty"),
        (torch.zeros(1, 1, 100), "shorter than one hop"),
        (torch.full((1, 1, 1000), float("nan")), "NaN or Inf"),
        (torch.tensor([[[0.0] * 999 + [float("inf")]]]), "NaN or Inf"),
        (torch.zeros(1, 2, 1000), "channels"),
        (torch.zeros(1000), "shape"),
    ],
)
def test_bad_audio(model, audio, message):
    with pytest.raises(ValueError, match=message):
        model.encode(audio)


def test_integer_audio_refused(model):
    with pytest.raises(TypeError, match="int16"):
        model.encode(torch.zeros(1, 1, 1000, dtype=torch.int16))


def test_float64_audio_is_cast(model):
    audio = speechlike(4000).double()[None, None]
    with torch.inference_mode():
        assert torch.equal(model.encode(audio).audio_codes, model.encode(audio.float()).audio_codes)


def test_bad_padding_masks(model):
    audio = speechlike(4000)[None, None]
    with pytest.raises(ValueError, match="does not match"):
        model.encode(audio, torch.ones(1, 3999))
    holes = torch.ones(1, 4000)
    holes[0, 100] = 0
    with pytest.raises(ValueError, match="right-padded"):
        model.encode(audio, holes)


def test_unknown_codebook_domain(model):
    with pytest.raises(ValueError, match="unknown codebook_domain"):
        model.encode(speechlike(4000)[None, None], codebook_domain="birdsong")


@pytest.mark.parametrize(
    "codes, error, message",
    [
        (torch.tensor([[1.0, 2.0]]), TypeError, "integer"),
        (torch.tensor([[0, 256]]), ValueError, r"outside \[0, 256\)"),
        (torch.tensor([[-1, 3]]), ValueError, "outside"),
        (torch.zeros(1, 0, dtype=torch.long), ValueError, "no frames"),
        (torch.zeros(0, 5, dtype=torch.long), ValueError, "empty batch"),
        (torch.tensor([[-1, 3]], dtype=torch.int8), ValueError, r"outside \[0, 256\): found values \[-1\]"),
        (torch.tensor([[3, 300]], dtype=torch.int16), ValueError, r"found values \[300\]"),
        (torch.tensor([[3, 2**31 - 1]], dtype=torch.int32), ValueError, r"found values \[2147483647\]"),
    ],
)
def test_bad_codes(model, codes, error, message):
    with pytest.raises(error, match=message):
        model.decode(codes)


def test_empty_latent_batch_is_refused(model):
    with pytest.raises(ValueError, match="batch, frames >= 1"):
        model.decode(latents=torch.zeros(0, 5, model.config.hidden_size))


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int8, torch.int16, torch.int32])
def test_narrow_integer_codes_decode_like_int64(dtype):
    # A codebook larger than the dtype's range: the bound must not wrap (20480 is 0 in uint8 arithmetic).
    model = tiny_model(seed=8, codebook_size=20480, codebook_partitions={})
    codes = torch.tensor([[0, 5, 100, 127]])
    with torch.inference_mode():
        expected = model.decode(codes).audio_values
        assert torch.equal(model.decode(codes.to(dtype)).audio_values, expected)


def test_padded_codes_need_a_mask(model):
    encoded = model.encode(
        torch.stack([speechlike(8000), torch.cat([speechlike(4000), torch.zeros(4000)])])[:, None],
        torch.tensor([[1] * 8000, [1] * 4000 + [0] * 4000]),
    )
    with pytest.raises(ValueError, match="audio_codes_mask"):
        model.decode(encoded.audio_codes)
    assert model.decode(encoded.audio_codes, encoded.audio_codes_mask).audio_values.shape == (2, 1, 8000)


def test_speech_partition_restricts_codes(model):
    with torch.inference_mode():
        codes = model.encode(speechlike(16000)[None, None], codebook_domain="other").audio_codes
    assert int(codes.min()) >= 128
