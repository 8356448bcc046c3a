"""Codec-SUPERB metrics checked against independent computations, identities and degradations.

Needs the Debian package ``espeak-ng`` (speech for the degradation tests) and the pip package
``praat-parselmouth`` (F0Corr); both fail loudly when missing.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile as sf
import torch
import torchaudio
from pesq import pesq
from pystoi import stoi as pystoi_reference

from codec_testing import espeak_speech

from llmcodec.evaluation import spectral_losses
from llmcodec.evaluation.f0corr import F0CorrError, dtw_path, f0_correlation, pitch_contour
from llmcodec.evaluation.metrics import (
    METRIC_NAMES,
    InvalidAudioError,
    MetricOptions,
    aggregate_metrics,
    compute_metrics,
)
from llmcodec.evaluation.stoi import StoiError, codec_superb_stoi, pystoi_stoi

SR = 16_000


def harmonic(seconds: float = 2.0, sample_rate: int = SR, f0: float = 140.0, vibrato_hz: float = 30.0) -> np.ndarray:
    """Voiced-like test tone: 10 harmonics (1/k amplitudes), sinusoidal f0 glide, syllable-rate AM."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    freq = f0 + vibrato_hz * np.sin(2 * np.pi * 0.8 * t)
    phase = 2 * np.pi * np.cumsum(freq) / sample_rate
    tone = sum(np.sin(k * phase) / k for k in range(1, 11))
    envelope = 0.3 + 0.7 * np.sin(2 * np.pi * 2.5 * t) ** 2
    return (0.1 * tone * envelope).astype(np.float32)


def add_noise(audio: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal(audio.size).astype(np.float32)
    return audio + noise * np.std(audio) * 10 ** (-snr_db / 20)


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """~3 s of espeak-ng speech at 16 kHz."""
    return espeak_speech(tmp_path_factory.mktemp("speech"), "Seven quick brown foxes jump over the lazy dog near the river.", SR).numpy()


# --- mel / STFT / waveform -------------------------------------------------------------------


def slaney_filterbank(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """librosa.filters.mel defaults written out independently: Slaney scale and area norm, (n_mels, bins)."""

    def hz_to_mel(f: np.ndarray) -> np.ndarray:
        f = np.asarray(f, dtype=np.float64)
        linear = f / (200.0 / 3)
        log = 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
        return np.where(f >= 1000.0, log, linear)

    def mel_to_hz(m: np.ndarray) -> np.ndarray:
        linear = m * (200.0 / 3)
        log = 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0))
        return np.where(m >= 15.0, log, linear)

    bins = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sample_rate / 2), n_mels + 2))
    lower = (bins[None, :] - edges[:-2, None]) / (edges[1:-1] - edges[:-2])[:, None]
    upper = (edges[2:, None] - bins[None, :]) / (edges[2:] - edges[1:-1])[:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    return weights * (2.0 / (edges[2:] - edges[:-2]))[:, None]


@pytest.mark.parametrize("sample_rate", [16_000, 44_100])
@pytest.mark.parametrize(("window", "n_mels"), [(2048, 150), (512, 80)])
def test_torchaudio_mel_filterbank_matches_librosa_slaney(sample_rate: int, window: int, n_mels: int) -> None:
    ours = spectral_losses._mel_spectrogram(sample_rate, window, n_mels).mel_scale.fb.numpy().T
    expected = slaney_filterbank(sample_rate, window, n_mels)
    # torchaudio builds the triangles in float32: agreement to float32 precision of the peak weight.
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-5 * expected.max())


def independent_two_scale_loss(x: np.ndarray, y: np.ndarray, sample_rate: int, mel: bool) -> float:
    total = 0.0
    for window, n_mels in zip((2048, 512), (150, 80)):
        spec = lambda a: torch.stft(  # noqa: E731
            torch.from_numpy(a).double(), window, window // 4, window=torch.hann_window(window, dtype=torch.float64),
            center=True, pad_mode="reflect", return_complex=True,
        ).abs().numpy()
        mx, my = spec(x), spec(y)
        if mel:
            fb = slaney_filterbank(sample_rate, window, n_mels)
            mx, my = fb @ mx, fb @ my
        log = lambda m: np.log10(np.maximum(m, 1e-5) ** 2)  # noqa: E731
        total += np.abs(log(mx) - log(my)).mean() + np.abs(mx - my).mean()
    return float(total)


def test_mel_stft_waveform_match_independent_computation() -> None:
    x = harmonic(1.5)
    y = add_noise(x, 10)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    assert spectral_losses.mel_distance(tx, ty, SR) == pytest.approx(independent_two_scale_loss(x, y, SR, True), rel=2e-3)
    assert spectral_losses.stft_distance(tx, ty) == pytest.approx(independent_two_scale_loss(x, y, SR, False), rel=2e-3)
    assert spectral_losses.waveform_distance(tx, ty) == pytest.approx(np.abs(x - y).mean(), rel=1e-5)


def test_identity_scores() -> None:
    x = harmonic(2.0)
    result = compute_metrics(x, x.copy(), SR)
    assert result["errors"] == {}
    assert result["mel"] == 0.0 and result["stft"] == 0.0 and result["waveform"] == 0.0
    assert result["stoi"] == pytest.approx(1.0, abs=1e-4)  # the port's 1e-10 terms: not exactly 1
    assert result["f0corr"] == pytest.approx(1.0, abs=1e-6)
    assert result["pesq"] == pytest.approx(pesq(SR, x, x, "wb"), abs=1e-6)
    assert result["pesq"] > 4.5


# --- PESQ / STOI against the libraries --------------------------------------------------------


def test_pesq_matches_pesq_package(speech: np.ndarray) -> None:
    degraded = add_noise(speech, 15)
    assert compute_metrics(speech, degraded, SR)["pesq"] == pytest.approx(pesq(SR, speech, degraded, "wb"), abs=1e-6)


def test_pesq_resamples_a_48k_pair_to_16k(speech: np.ndarray) -> None:
    ref48 = torchaudio.functional.resample(torch.from_numpy(speech), SR, 48_000)
    deg48 = torchaudio.functional.resample(torch.from_numpy(add_noise(speech, 15)), SR, 48_000)
    expected = pesq(
        SR,
        torchaudio.functional.resample(ref48, 48_000, SR).numpy(),
        torchaudio.functional.resample(deg48, 48_000, SR).numpy(),
        "wb",
    )
    assert compute_metrics(ref48, deg48, 48_000)["pesq"] == pytest.approx(expected, abs=1e-6)


def test_textbook_stoi_is_pystoi(speech: np.ndarray) -> None:
    degraded = add_noise(speech, 0)
    result = compute_metrics(speech, degraded, SR, options=MetricOptions.textbook())
    assert result["stoi"] == pytest.approx(pystoi_reference(speech, degraded, SR), abs=1e-9)


def test_codec_superb_stoi_port_agrees_with_pystoi_at_10k(speech: np.ndarray) -> None:
    # At 10 kHz no resampler is involved; the port's remaining quirks move the score very little.
    ref10 = torchaudio.functional.resample(torch.from_numpy(speech), SR, 10_000).numpy()
    for snr in (-5, 5):
        deg10 = add_noise(ref10, snr)
        assert codec_superb_stoi(ref10, deg10, 10_000) == pytest.approx(pystoi_reference(ref10, deg10, 10_000), abs=0.01)


def test_stoi_and_f0_run_at_16k_for_a_48k_reference(speech: np.ndarray) -> None:
    ref48 = torchaudio.functional.resample(torch.from_numpy(speech), SR, 48_000)
    deg48 = torchaudio.functional.resample(torch.from_numpy(add_noise(speech, 5)), SR, 48_000)
    quirky = compute_metrics(ref48, deg48, 48_000)
    ref16 = torchaudio.functional.resample(ref48, 48_000, SR).numpy()
    deg16 = torchaudio.functional.resample(deg48, 48_000, SR).numpy()
    assert quirky["stoi"] == pytest.approx(codec_superb_stoi(ref16, deg16, SR), abs=1e-9)
    native = compute_metrics(ref48, deg48, 48_000, options=MetricOptions(intelligibility_at_16k=False))
    assert native["stoi"] == pytest.approx(codec_superb_stoi(ref48.numpy(), deg48.numpy(), 48_000), abs=1e-9)


def test_more_noise_is_monotonically_worse(speech: np.ndarray) -> None:
    rows = [compute_metrics(speech, add_noise(speech, snr), SR) for snr in (30, 15, 5, -5)]
    for name in ("mel", "stft", "waveform"):
        values = [row[name] for row in rows]
        assert values == sorted(values), (name, values)
    for name in ("pesq", "stoi"):
        values = [row[name] for row in rows]
        assert values == sorted(values, reverse=True), (name, values)


# --- F0Corr ------------------------------------------------------------------------------------


def test_f0_assumed_22050_rate_rescales_pitch() -> None:
    tone = harmonic(1.0, f0=200.0, vibrato_hz=0.0)
    true_rate = pitch_contour(tone, SR, assumed_sample_rate=None)
    quirk = pitch_contour(tone, SR)  # Praat told 22,050 Hz
    assert np.median(true_rate[true_rate > 0]) == pytest.approx(200.0, rel=0.01)
    assert np.median(quirk[quirk > 0]) == pytest.approx(200.0 * 22050 / SR, rel=0.01)


def test_f0corr_degrades_with_a_different_contour() -> None:
    x = harmonic(2.0)
    other = harmonic(2.0, vibrato_hz=-30.0)  # mirrored pitch glide
    assert f0_correlation(x, x, SR) == pytest.approx(1.0, abs=1e-9)
    # DTW absorbs much of a timing difference, so a mirrored glide still correlates partly (~0.83).
    assert f0_correlation(x, other, SR) < 0.95


def test_f0corr_without_voiced_frames_is_a_failure() -> None:
    noise = (0.1 * np.random.default_rng(1).standard_normal(SR)).astype(np.float32)
    with pytest.raises(F0CorrError, match="no voiced frames in the degraded"):
        f0_correlation(harmonic(1.0), noise, SR)


def test_dtw_path_is_optimal() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=7), rng.normal(size=9)
    path = dtw_path(a, b)
    assert tuple(path[0]) == (0, 0) and tuple(path[-1]) == (6, 8)
    assert all(tuple(step) in {(0, 1), (1, 0), (1, 1)} for step in np.diff(path, axis=0))
    # Brute-force dynamic programme for the optimal cost.
    cost = np.abs(a[:, None] - b[None, :])
    best = np.full((8, 10), np.inf)
    best[0, 0] = 0.0
    for i in range(1, 8):
        for j in range(1, 10):
            best[i, j] = cost[i - 1, j - 1] + (0.0 if i == j == 1 else min(best[i - 1, j - 1], best[i - 1, j], best[i, j - 1]))
    assert cost[path[:, 0], path[:, 1]].sum() == pytest.approx(best[7, 9])


# --- bad input and failures ---------------------------------------------------------------------


def test_rate_and_length_mismatch_are_aligned() -> None:
    x = harmonic(1.0)
    at_8k = torchaudio.functional.resample(torch.from_numpy(x), SR, 8_000)
    result = compute_metrics(x, at_8k, SR, degraded_sample_rate=8_000)
    assert result["num_samples"] == x.size and result["errors"] == {}
    assert result["stoi"] > 0.8  # band-limited copy, still intelligible
    longer = np.concatenate([x, np.zeros(320, np.float32)])
    assert compute_metrics(x, longer, SR)["num_samples"] == x.size + 320  # pad (Codec-SUPERB)
    cropped = compute_metrics(x, longer, SR, options=MetricOptions.textbook())
    assert cropped["num_samples"] == x.size and cropped["mel"] == 0.0


def test_silent_reference_is_recorded_as_failure_not_a_number() -> None:
    silent = np.zeros(SR, np.float32)
    degraded = add_noise(harmonic(1.0), 10)
    result = compute_metrics(silent, degraded, SR)
    for name in ("pesq", "stoi"):
        assert math.isnan(result[name]) and "silent" in result["errors"][name]
    assert result["f0corr"] == 0.0 and "silent" in result["errors"]["f0corr"]  # Codec-SUPERB's F0Corr by default
    assert math.isfinite(result["mel"])
    strict = compute_metrics(silent, degraded, SR, options=MetricOptions(f0corr_fallback=False))
    assert math.isnan(strict["f0corr"]) and "silent" in strict["errors"]["f0corr"]
    compat = compute_metrics(silent, degraded, SR, options=MetricOptions.codec_superb_compat())
    assert (compat["pesq"], compat["stoi"], compat["f0corr"]) == (1.0, 0.0, 0.0)
    assert set(compat["errors"]) == {"pesq", "stoi", "f0corr"}


def test_too_short_clip_fails_each_metric_with_a_reason() -> None:
    x = harmonic(0.05)  # 800 samples: shorter than the 2048-sample window's reflect padding
    result = compute_metrics(x, x, SR)
    assert math.isnan(result["mel"]) and "too short" in result["errors"]["mel"]
    assert math.isnan(result["stft"]) and math.isnan(result["pesq"]) and math.isnan(result["stoi"])
    assert result["waveform"] == 0.0
    with pytest.raises(StoiError):
        pystoi_stoi(x, x, SR)
    assert compute_metrics(x, x, SR, options=MetricOptions.codec_superb_compat())["pesq"] == 1.0


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_samples_raise(bad: float) -> None:
    x = harmonic(0.5)
    y = x.copy()
    y[100] = bad
    with pytest.raises(InvalidAudioError, match="degraded contains 1 NaN/Inf"):
        compute_metrics(x, y, SR)


def test_multichannel_and_empty_input_raise() -> None:
    with pytest.raises(InvalidAudioError, match="mono"):
        compute_metrics(np.zeros((2, 100), np.float32), np.zeros(100, np.float32), SR)
    with pytest.raises(InvalidAudioError, match="empty"):
        compute_metrics(np.zeros(0, np.float32), np.zeros(100, np.float32), SR)


def test_aggregate_skips_failures_and_counts_them() -> None:
    rows = [
        {"mel": 1.0, "pesq": 2.0, "errors": {}},
        {"mel": 3.0, "pesq": math.nan, "errors": {"pesq": "NoUtterancesError"}},
        {"mel": math.nan, "pesq": 1.0, "errors": {"mel": "too short", "pesq": "BufferTooShortError"}},
    ]
    summary = aggregate_metrics(rows)
    assert set(summary) == set(METRIC_NAMES)
    assert summary["mel"] == {"mean": 2.0, "count": 2, "failed": 1, "fallback": 0}
    assert summary["pesq"] == {"mean": 1.5, "count": 2, "failed": 1, "fallback": 1}
    assert summary["stoi"] == {"mean": None, "count": 0, "failed": 3, "fallback": 0}


# --- pinned against Codec-SUPERB's own metric code ---------------------------------------------


def reference_clips() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Fixed, generated (reference, degraded) pairs at 16 kHz, float32, 2 s each (deterministic)."""
    rng = np.random.default_rng(20_260_501)
    t = np.arange(2 * SR) / SR
    gate = (0.2 + 0.8 * (np.sin(2 * np.pi * 1.5 * t) > -0.3)).astype(np.float64)
    tones = sum(
        amp * np.sin(2 * np.pi * freq * t + phase)
        for freq, amp, phase in zip(rng.uniform(100, 4000, 12), rng.uniform(0.01, 0.06, 12), rng.uniform(0, 2 * np.pi, 12))
    ) * gate
    smeared = np.convolve(tones, np.ones(5) / 5, mode="same") * 0.7 + 0.002 * rng.standard_normal(t.size)
    voiced = harmonic(2.0)
    hiss = 0.05 * rng.standard_normal(t.size)
    return {
        "voiced_vs_noisy_10db": (voiced, add_noise(voiced, 10, seed=7)),
        "voiced_vs_mirrored_glide": (voiced, harmonic(2.0, vibrato_hz=-30.0)),
        "seeded_sines_vs_smeared": (tones.astype(np.float32), smeared.astype(np.float32)),
        "unvoiced_noise_vs_noise": (hiss.astype(np.float32), (0.8 * hiss + 0.01 * rng.standard_normal(t.size)).astype(np.float32)),
    }


# Codec-SUPERB's own SoundCodec/metrics.py (voidful/Codec-SUPERB at commit
# cfccafce7cc37287a71af95fe44df9d8b65ed49f) on reference_clips(): get_metrics(AudioSignal(ref, 16000),
# AudioSignal(deg, 16000)) in a scratch venv with its requirements (descript-audiotools 0.7.2, librosa 0.11.0,
# torchmetrics 1.9.0, praat-parselmouth 0.4.7, pesq 0.0.4, scipy 1.17.1, torch 2.11). Only the numbers are kept.
CODEC_SUPERB_VALUES = {
    "voiced_vs_noisy_10db": {"mel": 7.609637260437012, "stft": 14.883488655090332, "waveform": 0.015352028422057629,
                             "pesq": 1.0142903327941895, "stoi": 0.7479272273551777, "f0corr": 0.999533474445343},
    "voiced_vs_mirrored_glide": {"mel": 2.274409294128418, "stft": 1.8572616577148438, "waveform": 0.0654158815741539,
                                 "pesq": 1.0175985097885132, "stoi": 0.7485789264465909, "f0corr": 0.8326925039291382},
    "seeded_sines_vs_smeared": {"mel": 4.362220287322998, "stft": 7.598235607147217, "waveform": 0.04195012152194977,
                                "pesq": 1.2266179323196411, "stoi": 0.9595939177804601, "f0corr": 0.0},
    "unvoiced_noise_vs_noise": {"mel": 0.3874507248401642, "stft": 0.8901975154876709, "waveform": 0.011238211765885353,
                                "pesq": 4.264626502990723, "stoi": 0.9328955821089254, "f0corr": 0.0},
}
# Upstream runs mel/STFT (audiotools) and its Pearson correlation (torchmetrics) in float32; ours differ by < 1e-6
# relative there. STOI and PESQ agree to the last digit.
TOLERANCE = {"mel": 1e-5, "stft": 1e-5, "waveform": 1e-6, "pesq": 1e-9, "stoi": 1e-9, "f0corr": 1e-6}


@pytest.mark.parametrize("clip", sorted(CODEC_SUPERB_VALUES))
def test_metrics_match_codec_superb_reference_values(clip: str) -> None:
    reference, degraded = reference_clips()[clip]
    result = compute_metrics(reference, degraded, SR)
    for name, expected in CODEC_SUPERB_VALUES[clip].items():
        assert result[name] == pytest.approx(expected, rel=TOLERANCE[name], abs=1e-12), (clip, name)


def test_strict_f0corr_leaves_unvoiced_clips_out() -> None:
    reference, degraded = reference_clips()["unvoiced_noise_vs_noise"]
    default = compute_metrics(reference, degraded, SR)
    assert default["f0corr"] == 0.0 and "no voiced frames" in default["errors"]["f0corr"]
    assert MetricOptions().describe()["f0corr_failures"].startswith("0.0")
    strict_options = MetricOptions(f0corr_fallback=False)
    strict = compute_metrics(reference, degraded, SR, options=strict_options)
    assert math.isnan(strict["f0corr"]) and strict_options.describe()["f0corr_failures"].startswith("null")
    assert math.isnan(compute_metrics(reference, degraded, SR, options=MetricOptions.textbook())["f0corr"])
    # Means: the default counts the clip as a 0.0 (a fallback), the strict variant skips it.
    voiced = compute_metrics(*reference_clips()["voiced_vs_mirrored_glide"], SR)
    assert aggregate_metrics([voiced, default])["f0corr"] == {
        "mean": pytest.approx(voiced["f0corr"] / 2), "count": 2, "failed": 0, "fallback": 1}
    assert aggregate_metrics([voiced, strict])["f0corr"]["mean"] == pytest.approx(voiced["f0corr"])
    evaluate_row = {"f0corr": 0.0, "metric_errors": {"f0corr": "F0CorrError: no voiced frames"}}
    assert aggregate_metrics([evaluate_row])["f0corr"]["fallback"] == 1  # evaluate's rows name it metric_errors


def test_metrics_cli_says_which_f0corr_convention_it_used(tmp_path, capsys) -> None:
    import argparse
    import json

    from llmcodec import cli_evaluation

    reference, degraded = reference_clips()["unvoiced_noise_vs_noise"]
    sf.write(tmp_path / "ref.wav", reference, SR, subtype="FLOAT")
    sf.write(tmp_path / "deg.wav", degraded, SR, subtype="FLOAT")
    parser = argparse.ArgumentParser(prog="llmcodec")
    cli_evaluation.add_subcommands(parser.add_subparsers(dest="command", required=True))
    results = []
    for extra in ([], ["--strict-f0corr"]):
        args = parser.parse_args(["metrics", str(tmp_path / "ref.wav"), str(tmp_path / "deg.wav"), *extra])
        assert args.func(args) == 0
        results.append(json.loads(capsys.readouterr().out))
    default, strict = results
    assert default["f0corr"] == 0.0 and default["f0corr_failures"].startswith("0.0 (Codec-SUPERB")
    assert strict["f0corr"] is None and strict["f0corr_failures"].startswith("null")
    assert "no voiced frames" in default["errors"]["f0corr"] and "no voiced frames" in strict["errors"]["f0corr"]
