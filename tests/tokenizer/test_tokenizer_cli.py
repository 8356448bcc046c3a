"""`llmcodec tokenizer build` and `llmcodec lm build`."""

from __future__ import annotations

import argparse
import json
import os
import stat

import torch
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM

from llmcodec import cli, cli_tokenizer


def _run(argv: list[str]) -> int:
    return cli.main(argv)


def test_registered_in_dispatcher():
    assert "llmcodec.cli_tokenizer" in cli.SUBCOMMAND_MODULES


def test_help_explains_tiny_random(capsys):
    parser = argparse.ArgumentParser(prog="llmcodec")
    cli_tokenizer.add_subcommands(parser.add_subparsers())
    try:
        parser.parse_args(["lm", "build", "--help"])
    except SystemExit:
        pass
    out = capsys.readouterr().out
    assert "tiny-random" in out and "randomly initialised tiny Qwen3" in out


def test_tokenizer_then_lm_build(tmp_path, capsys):
    tok_dir, lm_dir = tmp_path / "tok", tmp_path / "lm"
    assert _run(["tokenizer", "build", "--base", "offline", "--output-dir", str(tok_dir)]) == 0
    assert "<CODEC_0> = id 151669, len(tokenizer) = 172149" in capsys.readouterr().out
    assert json.loads((tok_dir / "audio_tokens_meta.json").read_text())["first_id"] == 151_669
    assert _run(["tokenizer", "build", str(tok_dir)]) == 2  # exists, no --overwrite (old positional spelling)
    assert "llmcodec: error: " in (err := capsys.readouterr().err) and "already exists" in err

    emb = tmp_path / "audio.safetensors"
    rows = torch.randn(20_480, 32)
    save_file({"audio_embeddings": rows}, str(emb))
    argv = ["lm", "build", "--base-lm", "tiny-random", "--tokenizer", str(tok_dir), "--audio-embeddings", str(emb),
            "--output-dir", str(lm_dir)]
    assert _run(argv) == 0
    model = AutoModelForCausalLM.from_pretrained(lm_dir)
    assert torch.equal(model.get_input_embeddings().weight[151_669:], rows)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audio.safetensors", "lm", "tok"]

    bad = tmp_path / "bad.safetensors"
    save_file({"x": torch.zeros(10, 32)}, str(bad))
    argv[argv.index(str(emb))] = str(bad)
    assert _run(argv + ["--overwrite"]) == 2
    assert "shape (10, 32), expected (20480, hidden)" in capsys.readouterr().err
    assert torch.equal(AutoModelForCausalLM.from_pretrained(lm_dir).get_input_embeddings().weight[151_669:], rows)


def test_build_from_a_folder_reuses_complete_codec_set(tmp_path, capsys):
    from tokenizer_fixtures import make_tiny_byte_tokenizer

    from llmcodec.tokenizer import extend_tokenizer, save_extended_tokenizer

    tok, report = extend_tokenizer(make_tiny_byte_tokenizer(), n_audio_tokens=20480, warn_non_qwen=False)
    save_extended_tokenizer(tok, report.meta, tmp_path / "base")
    assert _run(["tokenizer", "build", "--base", str(tmp_path / "base"), "--output-dir", str(tmp_path / "out")]) == 0
    assert "reused 20480 audio tokens: <CODEC_0> = id 257" in capsys.readouterr().out
    assert json.loads((tmp_path / "out" / "audio_tokens_meta.json").read_text())["first_id"] == 257
    tok.add_tokens(["<AUV_0>"])
    tok.save_pretrained(tmp_path / "mixed")
    assert _run(["tokenizer", "build", "--base", str(tmp_path / "mixed"), "--output-dir", str(tmp_path / "out2")]) == 2
    assert "both <CODEC_n> and legacy" in capsys.readouterr().err


def test_an_output_holding_an_input_is_refused_and_overwrite_keeps_other_files(tmp_path, capsys):
    proj = tmp_path / "proj"
    tok = proj / "tok"
    assert _run(["tokenizer", "build", "--base", "offline", "--output-dir", str(tok)]) == 0
    (proj / "notes.txt").write_text("mine")
    before = {p.name: p.read_bytes() for p in tok.iterdir()}
    capsys.readouterr()
    # The output folder contains the input tokenizer: --overwrite would have deleted it.
    argv = ["lm", "build", "--base-lm", "tiny-random", "--tokenizer", str(tok), "--output-dir", str(proj), "--overwrite"]
    assert _run(argv) == 2
    line = capsys.readouterr().err.strip()
    assert line.count("\n") == 0 and "contains the input" in line and str(tok) in line
    assert {p.name: p.read_bytes() for p in tok.iterdir()} == before and (proj / "notes.txt").read_text() == "mine"
    assert _run(["tokenizer", "build", "--base", str(tok), "--output-dir", str(tok / "inner"), "--overwrite"]) == 2
    assert "lies inside the input" in capsys.readouterr().err
    # --overwrite into a folder with other files replaces the artifact's files and keeps the rest.
    lm = tmp_path / "lm"
    lm.mkdir()
    (lm / "keep.md").write_text("mine")
    (lm / "model-00001-of-00002.safetensors").write_text("stale shard of an earlier artifact")
    argv = ["lm", "build", "--base-lm", "tiny-random", "--tokenizer", str(tok), "--output-dir", str(lm)]
    assert _run(argv) == 2 and "pass --overwrite" in capsys.readouterr().err
    assert _run(argv + ["--overwrite"]) == 0
    assert (lm / "keep.md").read_text() == "mine" and not (lm / "model-00001-of-00002.safetensors").exists()
    assert AutoModelForCausalLM.from_pretrained(lm).get_input_embeddings().weight.shape[0] == 172_149


def test_lm_artifact_files_follow_the_umask(tmp_path):
    tok = tmp_path / "tok"
    assert _run(["tokenizer", "build", "--base", "offline", "--output-dir", str(tok)]) == 0
    previous = os.umask(0o022)
    try:
        assert _run(["lm", "build", "--base-lm", "tiny-random", "--tokenizer", str(tok), "--output-dir", str(tmp_path / "lm")]) == 0
    finally:
        os.umask(previous)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "lm").iterdir()}
    assert modes["model.safetensors"] == 0o644 and set(modes.values()) == {0o644}, modes
    assert stat.S_IMODE((tmp_path / "lm").stat().st_mode) == 0o755
