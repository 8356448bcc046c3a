"""LLMCodecFeatureExtractor warns (with the peak) about float audio beyond full scale, and passes it unchanged."""

import logging

import numpy as np
import pytest

from llmcodec.modeling import LLMCodecFeatureExtractor


@pytest.mark.parametrize(
    "audio, expected",
    [
        (np.linspace(-5, 5, 1600, dtype=np.float32), "reaches 5, beyond"),
        (np.linspace(-32767, 32767, 1600).astype(np.int16).astype(np.float32), "divide int16 by 32768"),
    ],
)
def test_float_audio_beyond_full_scale_warns(caplog, audio, expected):
    with caplog.at_level(logging.WARNING):
        features = LLMCodecFeatureExtractor()(audio, sampling_rate=16000, return_tensors="np")
    assert [r.getMessage() for r in caplog.records if expected in r.getMessage()]
    assert np.array_equal(features["input_values"][0, 0], audio)  # not silently rescaled or clipped


def test_full_scale_audio_and_integer_pcm_do_not_warn(caplog):
    with caplog.at_level(logging.WARNING):
        LLMCodecFeatureExtractor()(np.linspace(-1, 1, 1600, dtype=np.float32), sampling_rate=16000)
        LLMCodecFeatureExtractor()(np.full(1600, 32767, dtype=np.int16), sampling_rate=16000)  # scaled: no warning
    assert not [r for r in caplog.records if "full scale" in r.getMessage()]
