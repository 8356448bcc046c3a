"""Classical-codec baselines (Codec2, Opus) through the Debian tools.

Requires the Debian packages ``codec2`` and ``opus-tools`` (tests fail, not skip, without them) and
``espeak-ng`` for the speech clip.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from codec_testing import espeak_speech

from llmcodec.evaluation import baselines
from llmcodec.evaluation.metrics import compute_metrics

SR = 16_000

# Floors per baseline on the espeak-ng clip below (the `speech` fixture), a margin under the measured values
# (espeak-ng 1.51; measured as `compute_metrics(speech, run_baseline(name, speech).audio, 16000)`):
#   codec2_700C  PESQ 1.168 STOI 0.710 mel 3.31   (no delay compensation: STOI 0.475)
#   codec2_1200  PESQ 1.281 STOI 0.827 mel 2.64   (no delay compensation: STOI 0.631)
#   codec2_3200  PESQ 1.520 STOI 0.872 mel 2.71   (no delay compensation: STOI 0.660)
#   opus_6kbps   PESQ 1.504 STOI 0.887 mel 2.45
#   white noise  PESQ 1.018 STOI 0.416 mel 5.55   (must fail every row)
FLOORS = {  # name: (PESQ above, STOI above, mel distance below)
    "codec2_700C": (1.12, 0.65, 3.6),
    "codec2_1200": (1.22, 0.77, 2.9),
    "codec2_3200": (1.42, 0.82, 3.0),
    "opus_6kbps": (1.40, 0.83, 2.7),
}


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> torch.Tensor:
    text = "The birch canoe slid on the smooth planks, glue the sheet to the dark blue background."
    return espeak_speech(tmp_path_factory.mktemp("speech"), text, SR)


@pytest.fixture(scope="module")
def results(speech: torch.Tensor) -> dict[str, baselines.BaselineResult]:
    for tool, package in (("c2enc", "codec2"), ("opusenc", "opus-tools")):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} missing: apt-get install -y {package}")
    return {name: baselines.run_baseline(name, speech) for name in baselines.BASELINE_NAMES}


def test_every_baseline_returns_same_length_finite_16k_audio(speech: torch.Tensor, results: dict) -> None:
    assert set(results) == {"codec2_700C", "codec2_1200", "codec2_3200", "opus_6kbps"}
    for name, result in results.items():
        assert result.name == name
        assert result.audio.shape == speech.shape and result.audio.dtype == torch.float32
        assert torch.isfinite(result.audio).all()
        assert result.audio.abs().max() > 0.01, f"{name} decoded silence"


def test_bitrates(results: dict) -> None:
    assert [results[f"codec2_{m}"].bitrate_bps for m in ("700C", "1200", "3200")] == [700, 1200, 3200]
    assert results["opus_6kbps"].bitrate_bps == 6000
    # 700C packs 28-bit frames into 4 bytes (800 bps on disk); the others are byte-aligned.
    assert results["codec2_700C"].measured_bitrate_bps == pytest.approx(800, rel=0.05)
    assert results["codec2_3200"].measured_bitrate_bps == pytest.approx(3200, rel=0.05)
    assert 4000 < results["opus_6kbps"].measured_bitrate_bps < 12000  # VBR plus Ogg overhead


def test_reconstructions_resemble_the_input_and_higher_rates_do_better(speech: torch.Tensor, results: dict) -> None:
    scores = {name: compute_metrics(speech, r.audio, SR) for name, r in results.items()}
    noise = torch.randn(speech.numel(), generator=torch.Generator().manual_seed(0)) * speech.pow(2).mean().sqrt()
    noise_scores = compute_metrics(speech, noise, SR)
    for name, (pesq_min, stoi_min, mel_max) in FLOORS.items():
        row = {key: scores[name][key] for key in ("pesq", "stoi", "mel")}
        assert row["pesq"] > pesq_min and row["stoi"] > stoi_min and row["mel"] < mel_max, (name, row)
        # The floors are not met by noise at the same loudness.
        assert noise_scores["pesq"] < pesq_min and noise_scores["stoi"] < stoi_min and noise_scores["mel"] > mel_max
    for low, high in (("700C", "1200"), ("1200", "3200")):
        assert scores[f"codec2_{high}"]["stoi"] > scores[f"codec2_{low}"]["stoi"]
        assert scores[f"codec2_{high}"]["pesq"] > scores[f"codec2_{low}"]["pesq"]
    # The decoded audio is roughly time-aligned with the input (codec delay removed; parametric
    # Codec2 does not keep phase, so waveform cross-correlation is only a coarse check).
    for name, result in results.items():
        x, y = speech.numpy(), result.audio.numpy()
        lag = np.argmax(np.correlate(y[:SR], x[:SR], "full")) - (SR - 1)
        assert abs(lag) < 200, (name, lag)


def test_missing_tool_names_the_apt_package(monkeypatch: pytest.MonkeyPatch, speech: torch.Tensor) -> None:
    monkeypatch.setattr(baselines.shutil, "which", lambda tool: None)
    with pytest.raises(baselines.MissingToolError, match="apt-get install -y codec2"):
        baselines.codec2(speech, "1200")
    with pytest.raises(baselines.MissingToolError, match="apt-get install -y opus-tools"):
        baselines.opus(speech)
    assert baselines.available_baselines() == []


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="unknown Codec2 mode"):
        baselines.codec2(torch.zeros(SR), "2048")
    with pytest.raises(ValueError, match="unknown baseline"):
        baselines.run_baseline("mp3", torch.zeros(SR))
    with pytest.raises(ValueError, match="NaN"):
        baselines.opus(torch.full((SR,), float("nan")))
