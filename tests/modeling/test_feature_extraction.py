"""LLMCodecFeatureExtractor: shapes, padding masks, dtype handling and refusals."""

import numpy as np
import pytest

from llmcodec.modeling import LLMCodecFeatureExtractor


@pytest.fixture
def extractor():
    return LLMCodecFeatureExtractor()


def test_batch_is_padded_with_a_mask(extractor):
    out = extractor([np.ones(100, np.float32), np.ones(70, np.float32)], sampling_rate=16000, return_tensors="pt")
    assert tuple(out["input_values"].shape) == (2, 1, 100)
    assert out["input_values"].dtype.is_floating_point
    assert out["padding_mask"].tolist()[1] == [1] * 70 + [0] * 30
    assert float(out["input_values"][1, 0, 70:].abs().sum()) == 0.0


def test_pad_to_hop_multiple(extractor):
    out = extractor(np.ones(1000, np.float32), sampling_rate=16000, pad_to_multiple_of="hop", return_tensors="np")
    assert out["input_values"].shape == (1, 1, 1280)


def test_wrong_sampling_rate_is_refused(extractor):
    with pytest.raises(ValueError, match="44100 Hz"):
        extractor(np.zeros(100), sampling_rate=44100)


def test_int16_is_scaled_and_float64_cast(extractor):
    pcm = np.array([16384, -32768, 0], dtype=np.int16)
    out = extractor(pcm, sampling_rate=16000, return_tensors="np")
    assert out["input_values"].dtype == np.float32
    np.testing.assert_allclose(out["input_values"][0, 0], [0.5, -1.0, 0.0])
    assert extractor(np.zeros(10, np.float64), sampling_rate=16000, return_tensors="np")["input_values"].dtype == np.float32


def test_stereo_is_downmixed_or_refused(extractor):
    stereo = np.stack([np.ones(50), -np.ones(50) * 0.5]).astype(np.float32)
    out = extractor(stereo, sampling_rate=16000, return_tensors="np")
    np.testing.assert_allclose(out["input_values"][0, 0], np.full(50, 0.25))
    with pytest.raises(ValueError, match="downmix"):
        LLMCodecFeatureExtractor(downmix=False)(stereo, sampling_rate=16000)


@pytest.mark.parametrize(
    "audio, message",
    [(np.zeros(0, np.float32), "empty"), (np.array([0.0, np.nan], np.float32), "NaN"), (np.zeros((3, 2)), "channels, samples")],
)
def test_bad_audio(extractor, audio, message):
    with pytest.raises(ValueError, match=message):
        extractor(audio, sampling_rate=16000)


def test_round_trip_through_save_pretrained(tmp_path):
    # Non-default settings, so a setting dropped on save (and silently back at its default) is caught.
    custom = LLMCodecFeatureExtractor(sampling_rate=24000, hop_length=480, padding_value=0.25, downmix=False)
    custom.save_pretrained(tmp_path)
    loaded = LLMCodecFeatureExtractor.from_pretrained(tmp_path)
    assert (loaded.sampling_rate, loaded.hop_length, loaded.padding_value, loaded.downmix) == (24000, 480, 0.25, False)
    out = loaded([np.ones(1000, np.float32), np.ones(10, np.float32)], sampling_rate=24000,
                 pad_to_multiple_of="hop", return_tensors="np")
    assert out["input_values"].shape == (2, 1, 1440)
    assert (out["input_values"][1, 0, 10:] == 0.25).all()
    with pytest.raises(ValueError, match="16000 Hz"):
        loaded(np.zeros(100, np.float32), sampling_rate=16000)
    with pytest.raises(ValueError, match="downmix"):
        loaded(np.ones((2, 50), np.float32), sampling_rate=24000)
