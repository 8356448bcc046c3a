"""`llmcodec tokenizer build` and `llmcodec lm build`."""

from __future__ import annotations

import argparse
import json

import torch
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM

from llmcodec import cli, cli_tokenizer


def _run(argv: list[str]) -> int:
    # Only this module's subcommands: other CLI modules belong to parallel work and may not exist yet.
    parser = argparse.ArgumentParser(prog="llmcodec")
    sub = parser.add_subparsers(dest="command")
    cli_tokenizer.add_subcommands(sub)
    args = parser.parse_args(argv)
    return args.func(args)


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
    assert _run(["tokenizer", "build", "--base", "offline", str(tok_dir)]) == 0
    assert "<CODEC_0> = id 151669, len(tokenizer) = 172149" in capsys.readouterr().out
    assert json.loads((tok_dir / "audio_tokens_meta.json").read_text())["first_id"] == 151_669
    assert _run(["tokenizer", "build", str(tok_dir)]) == 1  # exists, no --overwrite
    assert "already exists" in capsys.readouterr().err

    emb = tmp_path / "audio.safetensors"
    rows = torch.randn(20_480, 32)
    save_file({"audio_embeddings": rows}, str(emb))
    argv = ["lm", "build", "--base-lm", "tiny-random", "--tokenizer", str(tok_dir), "--audio-embeddings", str(emb),
            str(lm_dir)]
    assert _run(argv) == 0
    model = AutoModelForCausalLM.from_pretrained(lm_dir)
    assert torch.equal(model.get_input_embeddings().weight[151_669:], rows)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audio.safetensors", "lm", "tok"]

    bad = tmp_path / "bad.safetensors"
    save_file({"x": torch.zeros(10, 32)}, str(bad))
    argv[argv.index(str(emb))] = str(bad)
    assert _run(argv + ["--overwrite"]) == 1
    assert "shape (10, 32), expected (20480, hidden)" in capsys.readouterr().err
    assert torch.equal(AutoModelForCausalLM.from_pretrained(lm_dir).get_input_embeddings().weight[151_669:], rows)


def test_build_from_a_folder_reuses_complete_codec_set(tmp_path, capsys):
    from conftest_tokenizer import make_tiny_byte_tokenizer

    from llmcodec.tokenizer import extend_tokenizer, save_extended_tokenizer

    tok, report = extend_tokenizer(make_tiny_byte_tokenizer(), n_audio_tokens=20480, warn_non_qwen=False)
    save_extended_tokenizer(tok, report.meta, tmp_path / "base")
    assert _run(["tokenizer", "build", "--base", str(tmp_path / "base"), str(tmp_path / "out")]) == 0
    assert "reused 20480 audio tokens: <CODEC_0> = id 257" in capsys.readouterr().out
    assert json.loads((tmp_path / "out" / "audio_tokens_meta.json").read_text())["first_id"] == 257
    tok.add_tokens(["<AUV_0>"])
    tok.save_pretrained(tmp_path / "mixed")
    assert _run(["tokenizer", "build", "--base", str(tmp_path / "mixed"), str(tmp_path / "out2")]) == 1
    assert "both <CODEC_n> and legacy" in capsys.readouterr().err
