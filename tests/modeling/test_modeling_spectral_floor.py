"""The front end's optional spectral floor (`config.spectral_floor`): features of bins far below it stay put."""

import pytest
import torch

from codec_testing import speechlike, tiny_model

from llmcodec.modeling import LLMCodecConfig
from llmcodec.modeling.stft_llmcodec import spectral_features


def _stft(audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    spec = torch.stft(audio, 1280, hop_length=320, window=torch.hann_window(1280), return_complex=True)
    return spec.real, spec.imag


def test_floor_zero_is_the_released_feature():
    real, imag = _stft(speechlike(16000)[None])
    features = spectral_features(real, imag, 0.0)
    expected_log = torch.log(torch.sqrt(real.pow(2) + imag.pow(2)) + 1e-5)
    torch.testing.assert_close(features[:, : real.shape[1]], expected_log)
    torch.testing.assert_close(features[:, real.shape[1]:], torch.atan2(imag, real))


def test_faint_noise_moves_floored_features_far_less():
    # Voiced speech is a few strong harmonics: most bins sit far below them, where the noise decides the features.
    t = torch.arange(16000) / 16000
    audio = sum(0.05 * torch.sin(2 * torch.pi * f0 * t) for f0 in (150.0, 300.0, 450.0))[None]
    noisy = audio + 10 ** (-70 / 20) * torch.randn(audio.shape, generator=torch.Generator().manual_seed(0))
    clean_bins, noisy_bins = _stft(audio), _stft(noisy)
    change = {
        floor: (spectral_features(*noisy_bins, floor) - spectral_features(*clean_bins, floor)).abs().mean()
        for floor in (0.0, 0.1)
    }
    assert change[0.1] < 0.1 * change[0.0], change


def test_loud_bins_keep_their_phase_under_the_floor():
    real = torch.tensor([[[30.0]], [[0.001]]])
    imag = torch.tensor([[[30.0]], [[0.001]]])
    phase = spectral_features(real, imag, 0.05)[:, 1, 0]
    assert phase[0] == pytest.approx(torch.pi / 4, rel=1e-4)
    assert abs(float(phase[1])) < 1e-3


def test_model_with_a_floor_encodes_and_saves_it(tmp_path):
    model = tiny_model(spectral_floor=0.05)
    with torch.inference_mode():
        codes = model.encode(speechlike(16000)[None]).audio_codes
    assert codes.shape == (1, 50)
    model.save_pretrained(tmp_path)
    assert LLMCodecConfig.from_pretrained(tmp_path).spectral_floor == 0.05


@pytest.mark.parametrize("floor", [-0.1, float("nan"), float("inf")])
def test_a_bad_floor_is_refused(floor):
    with pytest.raises(ValueError, match="spectral_floor"):
        LLMCodecConfig(spectral_floor=floor)
