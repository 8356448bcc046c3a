"""Token stability: exact shares with a stand-in codec, the bundled model on a real clip, and `llmcodec evaluate`."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
import torch

from codec_testing import tiny_model
from llmcodec.cli import main
from llmcodec.evaluation.token_stability import (
    TokenStabilityConfig,
    deduplicate,
    quantize_pcm,
    safe_gain_db,
    share_unchanged,
    speech_frames,
    summarize_stability,
    token_stability,
    unit_edits,
    white_noise,
    window_settings,
)
from llmcodec.hub import save_codec_folder

SR, HOP = 16_000, 320
BIN_DB = 6.0
EXAMPLE = "llmcodec/assets/examples/arctic_a0007.wav"


class EnergyCodec:
    """Stand-in codec: a frame's code is its RMS level in 6 dB bins, so codes are a known function of the signal.

    Windowed encoding marks the first frame of every window after the first (a "seam": code + 1000), so the
    windowed share is known exactly too; every call's window settings are recorded.
    """

    def __init__(self) -> None:
        self.config = SimpleNamespace(sampling_rate=SR, hop_length=HOP, frame_rate=SR / HOP)
        self.device = torch.device("cpu")
        self.windows: list[tuple[float, float]] = []
        self.inputs: list[torch.Tensor] = []

    def encode(self, input_values, padding_mask=None, chunk_length_s=None, chunk_context_s=5.0):
        assert padding_mask is None and input_values.shape[:2] == (1, 1)
        audio = input_values[0, 0].double()
        self.inputs.append(audio.clone())
        frames = audio[: audio.numel() // HOP * HOP].reshape(-1, HOP)
        level_db = 10 * torch.log10(frames.square().mean(dim=1).clamp(min=1e-20))
        codes = torch.floor(level_db / BIN_DB).long()
        if chunk_length_s is not None:
            self.windows.append((chunk_length_s, chunk_context_s))
            step = max(1, round(chunk_length_s * self.config.frame_rate))
            codes[step::step] += 1000
        return SimpleNamespace(audio_codes=codes[None])


def square_frames(levels_db: list[float], tail: int = 0) -> torch.Tensor:
    """One frame of a +-a square wave (RMS a) per level, plus ``tail`` samples of a partial frame."""
    signs = torch.tensor([1.0, -1.0]).repeat(HOP // 2)
    frames = [10 ** (db / 20) * signs for db in levels_db]
    return torch.cat([*frames, 0.01 * torch.ones(tail)]).float()


# 7 frames mid-bin (-27 dB in [-30, -24)) and 3 frames 0.5 dB under a bin edge: +1 dB moves exactly those 3.
LEVELS = [-27.0, -24.5, -27.0, -27.0, -24.5, -27.0, -27.0, -24.5, -27.0, -27.0]


def test_stand_in_codec_gives_the_exact_known_shares() -> None:
    codec = EnergyCodec()
    result = token_stability(codec, square_frames(LEVELS, tail=100))
    assert result["frames"] == 10  # floor framing: the 100-sample partial frame has no code
    assert result["gain_db"] == 1.0
    assert result["gain"] == pytest.approx(0.7)  # the three frames by a bin edge cross it
    assert result["noise"] == 1.0 and result["int16"] == 1.0  # 45+ dB below the bin margins: unchanged
    # 10 frames (0.2 s) is not longer than the 2 s short window, so two windows of 5 frames: one seam.
    assert codec.windows == [(0.1, 0.05)]
    assert result["windowed"] == pytest.approx(0.9)
    assert (result["window_s"], result["context_s"]) == codec.windows[0]


def test_speech_frame_share_and_ued_of_the_stand_in_codec() -> None:
    # Three silent frames (-93 dB, mid-bin) never count as speech; the +1 dB gain moves exactly the three frames by a
    # bin edge.
    levels = [-93.0, -93.0, -93.0, *LEVELS]
    result = token_stability(EnergyCodec(), square_frames(levels))
    assert result["speech_frames"] == 10
    assert result["gain_speech"] == pytest.approx(0.7)
    assert result["gain"] == pytest.approx(0.7 * 10 / 13 + 3 / 13)  # the silent frames are unchanged
    # Deduplicated reference: [-16, -5] (every speech frame codes -5). With +1 dB the three edge frames code -4:
    # [-16, -5, -4, -5, -4, -5, -4, -5], six inserted runs. UED counts runs, so it can exceed 1.
    assert (result["gain_ued_edits"], result["ued_length"]) == (6, 2)
    assert result["int16_ued_edits"] == 0


def test_speech_frames_by_level() -> None:
    audio = square_frames([-90.0, -60.0, -20.0, -30.0, -50.0, -25.0])
    # -60 dBFS is under the absolute floor; -90 too; -50 is 30 dB under the loud frames: still speech.
    assert speech_frames(audio, HOP).tolist() == [False, False, True, True, True, True]


def test_unit_edit_distance_on_deduplicated_strings() -> None:
    assert deduplicate(torch.tensor([5, 5, 7, 7, 7, 5])) == [5, 7, 5]
    # A repeated code is not an edit (deduplication); a substituted run is one.
    assert unit_edits(torch.tensor([1, 1, 2, 3]), torch.tensor([1, 2, 2, 3])) == (0, 3)
    assert unit_edits(torch.tensor([1, 2, 3]), torch.tensor([1, 4, 3])) == (1, 3)


def test_ued_is_micro_averaged_over_files() -> None:
    per_file = {"a": {"noise": 0.5, "noise_ued_edits": 1, "ued_length": 10, "window_s": 1.0, "context_s": 0.1},
                "b": {"noise": 0.9, "noise_ued_edits": 9, "ued_length": 30, "window_s": 1.0, "context_s": 0.1}}
    summary = summarize_stability(per_file)
    assert summary["ued"]["noise"] == pytest.approx(10 / 40)  # not the mean of 0.1 and 0.3


def test_each_perturbed_copy_reaches_the_codec() -> None:
    codec = EnergyCodec()
    signal = square_frames(LEVELS) + 1e-3 * torch.linspace(0, 1, 10 * HOP)  # values off the 16-bit grid
    token_stability(codec, signal)
    reference = quantize_pcm(signal, 24).double()
    found = {"reference": 0, "int16": 0, "noise": 0, "gain": 0}
    for audio in codec.inputs:
        if torch.equal(audio, reference):
            found["reference"] += 1  # the one-pass and the windowed encode
        elif torch.equal(audio, quantize_pcm(signal, 16).double()):
            found["int16"] += 1
        elif torch.allclose(audio, reference * 10 ** (1 / 20), atol=1e-7):
            found["gain"] += 1
        elif 20 * math.log10(float((audio - reference).square().mean().sqrt())) == pytest.approx(-70, abs=0.5):
            found["noise"] += 1
    assert found == {"reference": 2, "int16": 1, "noise": 1, "gain": 1}
    assert not torch.equal(reference, quantize_pcm(signal, 16).double())  # the int16 copy really differs


def test_gain_goes_down_where_up_would_clip() -> None:
    loud = torch.tensor([0.5, -0.95, 0.2])
    assert safe_gain_db(loud, 1.0) == -1.0
    assert safe_gain_db(loud * 0.5, 1.0) == 1.0
    codec = EnergyCodec()
    # Peak 0.94: +1 dB would clip, so -1 dB: -0.5 dB -> -1.5 dB stays in [-6, 0), -5.5 dB -> -6.5 dB crosses
    # the edge at -6 dB: exactly the second half changes.
    result = token_stability(codec, square_frames([-0.5] * 2 + [-5.5] * 2))
    assert result["gain_db"] == -1.0 and result["gain"] == pytest.approx(0.5)


def test_long_inputs_use_the_cli_windows_and_are_cropped() -> None:
    codec = EnergyCodec()
    result = token_stability(codec, 0.1 * torch.ones(int(130.5 * SR)))
    assert codec.windows == [(60.0, 5.0)]  # what `llmcodec encode` does by default
    assert result["seconds"] == 120.0 and result["frames"] == 6000  # cropped to max_seconds
    assert result["windowed"] == pytest.approx(1 - 1 / 6000)  # windows [0, 60 s), [60 s, 120 s): one seam
    assert window_settings(3001, 50.0, TokenStabilityConfig()) == (60.0, 5.0)
    assert window_settings(3000, 50.0, TokenStabilityConfig()) == (2.0, 1.0)  # 2 s windows, 1 s context
    assert window_settings(100, 50.0, TokenStabilityConfig()) == (1.0, 0.5)  # 2 s: two 1 s windows
    assert window_settings(101, 50.0, TokenStabilityConfig()) == (2.0, 1.0)


def test_share_is_aligned_on_the_common_frames() -> None:
    assert share_unchanged(torch.tensor([1, 2, 3, 4]), torch.tensor([1, 2, 0])) == pytest.approx(2 / 3)
    assert math.isnan(share_unchanged(torch.tensor([1]), torch.tensor([], dtype=torch.long)))
    with pytest.raises(ValueError, match="at least 2 codes"):
        token_stability(EnergyCodec(), torch.zeros(HOP + 10))


def test_perturbations_are_deterministic_and_at_their_levels() -> None:
    noise = white_noise(48_000, -70.0, seed=3)
    assert torch.equal(noise, white_noise(48_000, -70.0, seed=3))
    assert 20 * math.log10(float(noise.square().mean().sqrt())) == pytest.approx(-70.0, abs=0.1)
    x = torch.tensor([0.3, -0.7, 1.2, -1.5, 1e-7])
    q16, q24 = quantize_pcm(x, 16), quantize_pcm(x, 24)
    assert torch.equal(q16 * 2**15, torch.round(q16 * 2**15))  # whole 16-bit steps
    assert q16[2] == (2**15 - 1) / 2**15 and q16[3] == -1.0  # clipped as PCM clips
    assert q16[4] == 0.0 and q24[4] != 0.0  # below one int16 step, above one 24-bit step
    assert float((q24[:2] - x[:2]).abs().max()) <= 2**-24


def test_summary_means_skip_missing_values() -> None:
    per_file = {"a": {"noise": 0.5, "int16": 1.0, "gain": 0.2, "windowed": None, "window_s": 1.0, "context_s": 0.1},
                "b": {"noise": 0.7, "int16": 0.8, "gain": 0.4, "windowed": 0.6, "window_s": 1.0, "context_s": 0.1}}
    summary = summarize_stability(per_file)
    assert summary["mean"] == pytest.approx({"noise": 0.6, "int16": 0.9, "gain": 0.3, "windowed": 0.6})
    assert summary["count"]["windowed"] == 1 and summary["min"]["gain"] == 0.2
    assert summary["windows"] == [[1.0, 0.1]]


def test_bundled_default_model_on_a_real_clip() -> None:
    from llmcodec.audio import load_audio
    from llmcodec.hub import load_codec

    model = load_codec()
    waveform, _ = load_audio(EXAMPLE, target_sr=SR)
    result = token_stability(model, waveform)
    assert result["frames"] == waveform.numel() // HOP
    for name in ("noise", "int16", "gain", "windowed"):
        assert 0.0 <= result[name] <= 1.0, name
    # Storage precision is the smaller change (int16 steps are about 30 dB below -70 dBFS noise).
    assert result["int16"] > result["noise"]
    # No perturbation at all leaves every code in place: the model is deterministic, the shares are not noise.
    identity = token_stability(model, waveform, TokenStabilityConfig(noise_dbfs=-math.inf, gain_db=0.0))
    assert identity["noise"] == 1.0 and identity["gain"] == 1.0


def write_voiced(path, seconds: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    x = 0.1 * np.sin(2 * np.pi * 140 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)) + 0.01 * rng.standard_normal(t.size)
    sf.write(path, x.astype(np.float32), SR)


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stability") / "model"
    save_codec_folder(tiny_model(seed=0), folder)
    return folder


def test_evaluate_cli_reports_token_stability(tiny_folder, tmp_path, capsys) -> None:
    data = tmp_path / "data"
    data.mkdir()
    write_voiced(data / "a.wav", 2.3, 0)
    write_voiced(data / "b.wav", 0.8, 1)
    write_voiced(data / "one_code.wav", 0.03, 2)  # 480 samples: one code, too short for the metric alone
    out = tmp_path / "out"
    assert main(["evaluate", "--model", str(tiny_folder), "--data", str(data), "--output", str(out),
                 "--num-plots", "0"]) == 0
    rows = {r["id"]: r for r in map(json.loads, (out / "rows.jsonl").read_text().splitlines())}
    assert all(r["status"] == "ok" for r in rows.values())  # the metric failing never fails the file
    assert "token_stability" in rows["one_code.wav"]["metric_errors"]
    entry = json.loads((out / "summary.json").read_text())["systems"]["llmcodec"]["token_stability"]
    assert sorted(entry["per_file"]) == ["a.wav", "b.wav"] and entry["files"] == 2
    for name in ("noise", "int16", "gain", "windowed"):
        values = [rows[i][f"stability_{name}"] for i in ("a.wav", "b.wav")]
        assert all(0.0 <= v <= 1.0 for v in values)
        assert entry["mean"][name] == pytest.approx(sum(values) / 2)
    assert (rows["a.wav"]["stability_window_s"], rows["a.wav"]["stability_context_s"]) == (2.0, 1.0)
    assert (rows["b.wav"]["stability_window_s"], rows["b.wav"]["stability_context_s"]) == (0.4, 0.2)
    report = (out / "report.md").read_text()
    assert "## Token stability" in report and "| a.wav |" in report
    assert "stability_noise" in (out / "rows.csv").read_text().splitlines()[0]
    assert "llmcodec token stability (codes unchanged, mean of 2 files): noise" in capsys.readouterr().err

    off = tmp_path / "off"
    assert main(["evaluate", "--model", str(tiny_folder), "--data", str(data), "--output", str(off),
                 "--num-plots", "0", "--no-token-stability"]) == 0
    assert "token_stability" not in json.loads((off / "summary.json").read_text())["systems"]["llmcodec"]
    assert "Token stability" not in (off / "report.md").read_text()
    assert "stability_noise" not in (off / "rows.jsonl").read_text()


def test_token_stability_command(tiny_folder, tmp_path, capsys) -> None:
    write_voiced(tmp_path / "a.wav", 1.3, 0)
    assert main(["token-stability", str(tmp_path / "a.wav"), "--model", str(tiny_folder), "--json"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert list(summary["per_file"]) == [str(tmp_path / "a.wav")] and summary["files"] == 1
    assert "mean of 1 file(s): noise" in captured.err
    assert main(["token-stability", str(tmp_path / "a.wav"), str(tmp_path / "missing.wav"),
                 "--model", str(tiny_folder)]) == 1  # one bad file fails alone
    err = capsys.readouterr().err
    assert err.count("missing.wav") == 1 and "mean of 1 file(s)" in err
