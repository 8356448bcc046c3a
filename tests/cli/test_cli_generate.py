"""`llmcodec generate`: a token LM trained here with `llmcodec token-lm` continues a real prompt, offline and
streaming, and an `llmcodec lm build` artifact works unchanged; bad input gets one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile

from cli_testing import exit_status
from llmcodec.cli import main
from llmcodec.cli_demo import EXAMPLE_CLIP
from llmcodec.hub import DEFAULT_MODEL_DIR

HOP = 320


@pytest.fixture(scope="module")
def token_lm(tmp_path_factory):
    """`llmcodec token-lm` on four 1 s pieces of the real ARCTIC clip with a tiny LM; returns OUT/lm."""
    root = tmp_path_factory.mktemp("token_lm")
    audio, rate = soundfile.read(EXAMPLE_CLIP, dtype="float32")
    (root / "data").mkdir()
    for i in range(4):
        soundfile.write(root / "data" / f"piece{i}.wav", audio[i * rate : (i + 1) * rate], rate)
    status = main([
        "token-lm", "--model", str(DEFAULT_MODEL_DIR), "--data", str(root / "data"), "--output-dir", str(root / "out"),
        "--epochs", "2", "--hidden-size", "32", "--layers", "1", "--heads", "2", "--kv-heads", "1",
        "--max-codes", "48", "--batch-size", "4",
    ])
    assert status == 0
    return root / "out" / "lm"


def read(path):
    audio, rate = soundfile.read(path, dtype="float32")
    assert rate == 16000
    return audio


def test_generates_audio_from_a_trained_token_lm(token_lm, tmp_path, capsys):
    argv = ["generate", "--lm", str(token_lm), "--prompt", str(EXAMPLE_CLIP), "--seconds", "0.5",
            "--output-dir", str(tmp_path)]
    assert main(argv) == 0
    out = tmp_path / "arctic_a0007.continuation.wav"
    audio = read(out)
    assert audio.shape == (25 * HOP,)  # 0.5 s = 25 codes, the prompt's audio not included
    assert np.abs(audio).max() > 1e-3  # sound, not silence
    err = capsys.readouterr().err
    assert "wrote" in err
    assert "25/25" in err and "code/s" in err  # a progress bar of codes, with its rate and time left
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind
    assert exit_status(argv) == 2 and "--overwrite" in capsys.readouterr().err  # an existing continuation is kept
    assert main([*argv, "--overwrite"]) == 0


def test_the_old_output_spelling_still_writes_that_file(token_lm, tmp_path):
    out = tmp_path / "named.wav"
    assert main(["generate", "--lm", str(token_lm), "--prompt", str(EXAMPLE_CLIP), "--seconds", "0.1",
                 "--output", str(out)]) == 0
    assert read(out).shape == (5 * HOP,)


def test_stream_gives_the_codes_and_length_of_offline_decode(token_lm, tmp_path, capsys):
    common = ["generate", "--lm", str(token_lm), "--prompt", str(EXAMPLE_CLIP), "--seconds", "0.2", "--seed", "3",
              "--include-prompt"]
    assert main([*common, "--output", str(tmp_path / "offline.wav")]) == 0
    assert main([*common, "--output", str(tmp_path / "stream.wav"), "--stream"]) == 0
    assert "first audio after" in capsys.readouterr().err
    offline, streamed = read(tmp_path / "offline.wav"), read(tmp_path / "stream.wav")
    assert offline.shape == streamed.shape == ((200 + 10) * HOP,)  # prompt (4 s) + 10 codes
    # Same seed, same codes: the prompt parts (decoded with lookahead well inside it) agree closely.
    prompt = slice(0, 150 * HOP)
    error = np.sum((offline[prompt] - streamed[prompt]) ** 2) / np.sum(offline[prompt] ** 2)
    assert error < 0.5


def test_lm_artifact_works_unchanged(tmp_path):
    # The `llmcodec lm build` layout (AutoModelForCausalLM + extended tokenizer + audio_tokens_meta.json), on a
    # tiny byte-level base so it builds in a second; the real Qwen3 base is the slow test below.
    from tokenizer_fixtures import make_tiny_byte_tokenizer
    from transformers import Qwen3Config, Qwen3ForCausalLM

    from llmcodec.tokenizer import build_lm_artifact, extend_tokenizer

    tokenizer, _ = extend_tokenizer(make_tiny_byte_tokenizer())
    lm = Qwen3ForCausalLM(Qwen3Config(vocab_size=257, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                      num_attention_heads=2, num_key_value_heads=1, head_dim=16,
                                      tie_word_embeddings=True, pad_token_id=0, eos_token_id=0))
    build_lm_artifact(lm, tokenizer, tmp_path / "lm")
    out = tmp_path / "out.wav"
    assert main(["generate", "--lm", str(tmp_path / "lm"), "--prompt", str(EXAMPLE_CLIP), "--text", "Hello there.",
                 "--seconds", "0.2", "--output", str(out), "--stream"]) == 0
    assert read(out).shape == (10 * HOP,)


@pytest.mark.slow
def test_qwen3_lm_artifact_with_text(tmp_path):
    from llmcodec.tokenizer import build_lm_artifact, extend_tokenizer, load_offline_qwen3_tokenizer, tiny_random_qwen3

    tokenizer, _ = extend_tokenizer(load_offline_qwen3_tokenizer())
    build_lm_artifact(tiny_random_qwen3(), tokenizer, tmp_path / "lm")
    out = tmp_path / "out.wav"
    assert main(["generate", "--lm", str(tmp_path / "lm"), "--prompt", str(EXAMPLE_CLIP), "--text", "Hello there.",
                 "--seconds", "0.2", "--output", str(out)]) == 0
    assert read(out).shape == (10 * HOP,)


@pytest.mark.parametrize(
    "change, message",
    [
        (["--prompt", "missing.wav"], "missing.wav: no such file"),
        (["--seconds", "0"], "argument --seconds: must be a finite number of seconds > 0"),
        (["--seconds", "-1"], "argument --seconds: must be a finite number of seconds > 0"),
        (["--seconds", "inf"], "argument --seconds: must be a finite number of seconds > 0"),
        (["--seconds", "nan"], "argument --seconds: must be a finite number of seconds > 0"),
        (["--seconds", "1e9"], "--seconds 1e+09: at most 3600"),
        (["--temperature", "nan"], "argument --temperature: must be a finite number >= 0"),
        (["--temperature", "-1"], "argument --temperature: must be a finite number >= 0"),
        (["--top-k", "-3"], "argument --top-k: must be an integer >= 0"),
        (["--lm", str(DEFAULT_MODEL_DIR)], "is a codec folder, not an LM"),
        (["--lm", "EMPTY"], "is not an LM folder (no config.json)"),
        (["--text", "hi"], "--text needs an LM artifact"),
        (["--top-p", "0"], "argument --top-p: must be a finite number > 0 and <= 1"),
        (["--top-p", "nan"], "argument --top-p: must be a finite number > 0 and <= 1"),
    ],
)
def test_bad_input_gets_one_line(token_lm, tmp_path, capsys, change, message):
    (tmp_path / "EMPTY").mkdir()
    args = {"--lm": str(token_lm), "--prompt": str(EXAMPLE_CLIP), "--seconds": "0.2", "--output-dir": str(tmp_path / "o")}
    for flag, value in zip(change[::2], change[1::2]):
        args[flag] = str(tmp_path / value) if value in ("EMPTY", "missing.wav") else value
    argv = ["generate", *[item for pair in args.items() for item in pair]]
    assert exit_status(argv) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith(("llmcodec: error:", "llmcodec generate: error:"))]
    assert len(errors) == 1 and message in errors[0], err
    assert "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_token_lm_vocabulary_file_is_what_generation_reads(token_lm):
    vocab = json.loads((token_lm / "token_lm_vocab.json").read_text())
    assert vocab["kind"] == "codebook" and vocab["code_offset"] == 0 and vocab["bos_id"] == 20480


def test_an_lm_folder_with_custom_code_gets_one_line_and_never_runs(tmp_path, capsys, monkeypatch):
    from remote_code_testing import plant_remote_code

    questions = []
    monkeypatch.setattr("builtins.input", lambda prompt="": questions.append(prompt) or "y")
    folder = plant_remote_code(tmp_path / "lm", tmp_path / "marker")
    (folder / "token_lm_vocab.json").write_text(json.dumps(
        {"codebook_size": 20480, "code_offset": 0, "bos_id": 20480, "pad_id": 20481, "vocab_size": 20482, "kind": "codebook"}))
    status = main(["generate", "--lm", str(folder), "--prompt", str(EXAMPLE_CLIP), "--seconds", "0.2",
                   "--output", str(tmp_path / "o.wav")])
    err = capsys.readouterr().err
    assert status == 2 and questions == [] and not (tmp_path / "marker").exists()
    assert [line for line in err.splitlines() if line.strip()] == [line for line in err.splitlines() if line.startswith("llmcodec: error:")]
    assert "cannot load a causal LM" in err and "Traceback" not in err
