"""The evaluation commands' options: the shared spellings (old ones still accepted), and every bad value refused in
one line before anything runs or is written."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from cli_testing import exit_status
from llmcodec.cli import build_parser, main

SR = 16_000


@pytest.fixture()
def data(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    for i in range(2):
        sf.write(root / f"{i}.wav", (0.1 * np.random.default_rng(i).standard_normal(SR)).astype(np.float32), SR)
    return root


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize(
    "command, change, message",
    [
        ("evaluate", ["--batch-size", "-1"], "--batch-size"),
        ("evaluate", ["--batch-size", "0"], "--batch-size"),
        ("evaluate", ["--limit", "-1"], "--limit"),
        ("evaluate", ["--limit", "0"], "--limit"),
        ("evaluate", ["--num-plots", "-2"], "--num-plots"),
        ("evaluate", ["--chunk-seconds", "nan"], "--chunk-seconds"),
        ("evaluate", ["--chunk-seconds", "-5"], "--chunk-seconds"),
        ("evaluate", ["--chunk-seconds", "inf"], "--chunk-seconds"),
        ("salmon", ["--clip-seconds", "-2"], "--clip-seconds"),
        ("salmon", ["--clip-seconds", "nan"], "--clip-seconds"),
        ("salmon", ["--salmon-pairs", "0"], "--salmon-pairs"),
        ("token-lm", ["--heads", "0"], "--heads"),
        ("token-lm", ["--layers", "-1"], "--layers"),
        ("token-lm", ["--epochs", "nan"], "--epochs"),
        ("token-lm", ["--eval-fraction", "1.5"], "--eval-fraction"),
        ("token-lm", ["--learning-rate", "0"], "--learning-rate"),
        ("token-lm", ["--heads", "3", "--kv-heads", "2"], "multiple of --kv-heads"),
        ("token-lm", ["--salmon", "--perturbations", "echo"], "--perturbations"),
    ],
)
def test_bad_numbers_are_refused_before_anything_runs(data, tmp_path, capsys, command, change, message) -> None:
    out = tmp_path / "out"
    argv = [command, "--data", str(data), "--output-dir", str(out), *change]
    if command == "salmon":
        argv += ["--lm", str(tmp_path / "no-lm")]
    assert exit_status(argv) == 2
    assert message in one_error_line(capsys)
    assert not out.exists()  # nothing evaluated, nothing written


def test_a_dataset_folder_with_a_loading_script_is_refused_and_never_run(tmp_path, capsys) -> None:
    folder = tmp_path / "scripted"
    folder.mkdir()
    (folder / "scripted.py").write_text(f"open({str(tmp_path / 'marker')!r}, 'w').write('ran')\n")
    (folder / "data.csv").write_text("audio\nx.wav\n")
    for command in ("evaluate", "token-lm"):
        assert exit_status([command, "--dataset", str(folder), "--output-dir", str(tmp_path / command)]) == 2
        assert "loading script" in one_error_line(capsys)
    assert not (tmp_path / "marker").exists()


def test_shared_spellings_and_old_ones() -> None:
    parser = build_parser()
    new = parser.parse_args(["token-lm", "--model", "m", "--data", "d", "--output-dir", "o"])
    old = parser.parse_args(["token-lm", "--codec", "m", "--data", "d", "--output", "o"])
    assert (new.model, new.output_dir, new.device) == (old.model, old.output_dir, old.device) == ("m", "o", "cpu")
    for command in ("evaluate", "salmon"):
        extra = ["--lm", "l"] if command == "salmon" else []
        args = parser.parse_args([command, "--data", "d", "--output", "o", *extra])
        assert args.output_dir == "o" and args.device == "cpu" and args.model is None
    salmon = parser.parse_args(["salmon", "--codec", "m", "--lm", "l", "--data", "d", "--output-dir", "o"])
    assert salmon.model == "m"
    help_text = parser._subparsers._group_actions[0].choices["token-lm"].format_help()
    assert "--model" in help_text and "--codec" not in help_text and "--output " not in help_text


def test_limit_keeps_the_first_items(data, tmp_path) -> None:
    """`--limit 1` evaluates exactly the first file (a negative limit once dropped the last file instead)."""
    from codec_testing import tiny_model
    from llmcodec.hub import save_codec_folder

    save_codec_folder(tiny_model(), tmp_path / "model")
    assert main(["evaluate", "--model", str(tmp_path / "model"), "--data", str(data), "--output-dir",
                 str(tmp_path / "out"), "--limit", "1", "--num-plots", "0", "--no-token-stability"]) == 0
    rows = [json.loads(line) for line in (tmp_path / "out" / "rows.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["0.wav"]
