"""Spectrogram comparison PNG and the ``llmcodec metrics`` subcommand."""

from __future__ import annotations

import argparse
import json

import matplotlib.image
import numpy as np
import pytest
import soundfile as sf
import torch
import torchaudio

from llmcodec import cli_evaluation
from llmcodec.errors import UserError
from llmcodec.evaluation.plots import plot_spectrogram_comparison

SR = 16_000


def tone(seconds: float = 1.5, sample_rate: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    phase = 2 * np.pi * np.cumsum(140 + 30 * np.sin(2 * np.pi * 0.8 * t)) / sample_rate
    envelope = 0.3 + 0.7 * np.sin(2 * np.pi * 2.5 * t) ** 2
    return (0.1 * envelope * sum(np.sin(k * phase) / k for k in range(1, 11))).astype(np.float32)


def test_spectrogram_comparison_writes_a_png(tmp_path) -> None:
    x = tone()
    y = x + 0.01 * np.random.default_rng(0).standard_normal(x.size).astype(np.float32)
    path = plot_spectrogram_comparison(x, y[: SR], SR, tmp_path / "sub" / "cmp.png", title="test")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 600


def run_cli(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    # Only this module's subcommands: the full dispatcher imports other teams' modules.
    parser = argparse.ArgumentParser(prog="llmcodec")
    cli_evaluation.add_subcommands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code = args.func(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_metrics_cli_prints_json(tmp_path, capsys) -> None:
    x = tone()
    sf.write(tmp_path / "ref.wav", x, SR)
    sf.write(tmp_path / "deg.wav", x + 0.01 * np.random.default_rng(0).standard_normal(x.size), SR)
    code, out, _ = run_cli(["metrics", str(tmp_path / "ref.wav"), str(tmp_path / "deg.wav")], capsys)
    assert code == 0
    result = json.loads(out)
    assert result["mode"] == "codec_superb" and result["errors"] == {}
    for name in ("mel", "stft", "waveform", "pesq", "stoi", "f0corr"):
        assert isinstance(result[name], float)
    code, out, _ = run_cli(["metrics", str(tmp_path / "ref.wav"), str(tmp_path / "deg.wav"), "--textbook"], capsys)
    assert code == 0 and json.loads(out)["mode"] == "textbook"


def test_metrics_cli_failures_are_null_with_reason(tmp_path, capsys) -> None:
    sf.write(tmp_path / "silent.wav", np.zeros(SR, np.float32), SR)
    sf.write(tmp_path / "deg.wav", tone(1.0), SR)
    code, out, _ = run_cli(["metrics", str(tmp_path / "silent.wav"), str(tmp_path / "deg.wav")], capsys)
    result = json.loads(out)
    assert code == 0 and result["pesq"] is None and "silent" in result["errors"]["pesq"]


def test_metrics_cli_resamples_a_different_rate(tmp_path, capsys) -> None:
    x = tone()
    # Float WAVs: 16-bit quantisation noise alone fills this tone's empty STOI bands (STOI ~0.9).
    sf.write(tmp_path / "ref.wav", x, SR, subtype="FLOAT")
    at_24k = torchaudio.functional.resample(torch.from_numpy(x), SR, 24_000).numpy()
    sf.write(tmp_path / "deg.wav", at_24k, 24_000, subtype="FLOAT")
    code, out, _ = run_cli(["metrics", str(tmp_path / "ref.wav"), str(tmp_path / "deg.wav")], capsys)
    result = json.loads(out)
    assert code == 0 and result["degraded_sample_rate"] == 24_000 and result["stoi"] > 0.99


def test_metrics_cli_unreadable_file(tmp_path, capsys) -> None:
    (tmp_path / "bad.wav").write_bytes(b"not audio")
    sf.write(tmp_path / "ref.wav", tone(), SR)
    with pytest.raises(UserError, match="cannot read degraded file"):  # one line, exit 2 (llmcodec.cli)
        run_cli(["metrics", str(tmp_path / "ref.wav"), str(tmp_path / "bad.wav")], capsys)
