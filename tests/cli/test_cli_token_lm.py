"""`llmcodec token-lm` warm-start options, `paired-tests` and `code-agreement`: one-line errors, a real run."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from cli_testing import exit_status
from llmcodec.cli import main
from llmcodec.cli_options import DEFAULT_MODEL_DIR


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--vocab", "extend"], "--vocab extend needs --init-lm"),
        (["--init-layers", "2"], "--init-layers needs --init-lm"),
        (["--init-rows", "mean"], "--init-rows needs --init-lm"),
        (["--init-lm", "{tmp}"], "not a model folder"),
        (["--init-lm", "{lm}", "--vocab", "qwen"], "from scratch"),
        (["--init-lm", "{lm}", "--init-rows", "random"], "--init-rows must be one of"),
        (["--init-lm", "{lm}", "--init-rows", "artifact:{tmp}"], "not an LLM-Codec LM artifact"),
        (["--seeds", "0,x"], "--seeds"),
    ],
)
def test_bad_warm_start_options_fail_in_one_line(tmp_path, capsys, extra, message) -> None:
    lm = tmp_path / "lm"
    lm.mkdir()
    (lm / "config.json").write_text("{}")
    extra = [e.format(tmp=tmp_path, lm=lm) for e in extra]
    assert exit_status(["token-lm", "--data", str(tmp_path), "--output-dir", str(tmp_path / "out"), *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("llmcodec: error:") and message in err[0], err


def test_code_agreement_of_a_codec_with_itself(tmp_path, capsys) -> None:
    data = tmp_path / "data"
    data.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        sf.write(data / f"{i}.wav", (0.1 * rng.standard_normal(16000)).astype(np.float32), 16000)
    assert main(["code-agreement", "--model", str(DEFAULT_MODEL_DIR), "--other", str(DEFAULT_MODEL_DIR),
                 "--data", str(data), "--output-dir", str(tmp_path / "out")]) == 0
    result = json.loads((tmp_path / "out" / "code_agreement.json").read_text())
    assert result["files"] == 3 and result["frames"] == 150 and result["frame_agreement"]["mean"] == 1.0
    assert "same code on 100.00 % of frames" in capsys.readouterr().err


def test_paired_tests_needs_a_token_lm(tmp_path, capsys) -> None:
    assert exit_status(["paired-tests", "--lm", str(tmp_path), "--data", str(tmp_path), "--output-dir",
                      str(tmp_path / "o")]) == 2
    assert "--lm" in capsys.readouterr().err


def _speech_folder(folder):
    folder.mkdir()
    rng = np.random.default_rng(0)
    sf.write(folder / "0.wav", (0.1 * rng.standard_normal(16000)).astype(np.float32), 16000)
    return folder


@pytest.mark.parametrize("command", ["salmon", "paired-tests"])
def test_lm_commands_refuse_a_folder_that_is_not_a_token_lm(tmp_path, capsys, command) -> None:
    data = _speech_folder(tmp_path / "data")
    assert exit_status([command, "--lm", str(tmp_path), "--data", str(data), "--output-dir", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"llmcodec: error: --lm {tmp_path}: "), err


@pytest.mark.parametrize("command", ["salmon", "paired-tests"])
def test_lm_commands_refuse_a_codec_of_another_codebook(tmp_path, capsys, command) -> None:
    """An LM over 64 codes cannot score the bundled codec's 20,480 codes: one line, nothing scored."""
    from llmcodec.evaluation.token_lm_model import TokenLMConfig, build_lm
    from llmcodec.tokenizer.mapping import AudioTokenMap

    lm, vocab = tmp_path / "lm", AudioTokenMap.for_token_lm(64)
    build_lm(TokenLMConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                           num_key_value_heads=1, head_dim=16), vocab).save_pretrained(lm)
    vocab.save_token_lm(lm)
    data = _speech_folder(tmp_path / "data")
    capsys.readouterr()  # saving the LM shows a progress bar
    assert exit_status([command, "--model", str(DEFAULT_MODEL_DIR), "--lm", str(lm), "--data", str(data),
                        "--output-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()  # after transformers' loading bars
    assert err[-1] == "llmcodec: error: the codec has 20480 codes but the LM was trained on 64"
    assert not any("Traceback" in line for line in err)
    assert not (tmp_path / "out").exists()
