"""User errors end in one line `llmcodec: error: ...` and exit status 2, found before any work; --debug re-raises."""

import json

import numpy as np
import pytest
import soundfile

import llmcodec.cli_codec as cli_codec
import llmcodec.precision as precision
from codec_testing import speechlike, tiny_model_dir_fixture
from llmcodec.cli import main
from llmcodec.hub import ModelLoadError


model_dir = tiny_model_dir_fixture(seed=32)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("audio") / "clip.wav"
    soundfile.write(path, speechlike(6400).numpy(), 16000)
    return path


def _error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if "error" in line]


def _refused(argv, capsys) -> str:
    """Runs the CLI, checks it refused the command in one error line without loading a model; returns the line."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "model:" not in err, err
    lines = _error_lines(err)
    assert len(lines) == 1 and lines[0].startswith("llmcodec: error: "), err
    return lines[0]


def _bad_folders(root, model_dir):
    truncated = root / "truncated"
    truncated.mkdir()
    for name in ("config.json", "preprocessor_config.json"):
        (truncated / name).write_bytes((model_dir / name).read_bytes())
    weights = (model_dir / "model.safetensors").read_bytes()
    (truncated / "model.safetensors").write_bytes(weights[: len(weights) // 2])
    invalid = root / "invalid-config"
    invalid.mkdir()
    (invalid / "config.json").write_text('{"model_type": "llmcodec", "hidden_size": 64,')
    wrong_values = root / "wrong-values"
    wrong_values.mkdir()
    config = json.loads((model_dir / "config.json").read_text())
    (wrong_values / "config.json").write_text(json.dumps(dict(config, hidden_size="large")))
    (wrong_values / "model.safetensors").write_bytes(weights)
    return truncated, invalid, wrong_values


def test_model_loading_failures_are_one_line(model_dir, clip, tmp_path, capsys, monkeypatch):
    truncated, invalid, wrong_values = _bad_folders(tmp_path, model_dir)
    (tmp_path / "empty").mkdir()
    monkeypatch.chdir(tmp_path)
    cases = [
        ("exportd/", "exportd/: no such file or folder"),
        ("./foo", "no such file or folder"),
        ("truncated/modle", "no such file or folder"),  # a typo under an existing folder is not a Hub id
        ("llm-codec.pt", "no such file or folder"),
        (str(truncated), f"{truncated / 'model.safetensors'}: cannot read the weights"),
        (str(invalid), f"{invalid / 'config.json'}: invalid config.json (Expecting"),
        (str(wrong_values), "invalid config.json"),
        (str(tmp_path / "empty"), "neither an LLM-Codec folder"),
        (str(model_dir / "model.safetensors"), f"pass the folder {model_dir}"),
    ]
    for spec, message in cases:
        line = _refused(["encode", str(clip), "--model", spec, "--output-dir", str(tmp_path / "out")], capsys)
        assert message in line, (spec, line)


@pytest.mark.parametrize(
    "option, value",
    [
        ("--chunk-seconds", "nan"),
        ("--chunk-seconds", "inf"),
        ("--chunk-seconds", "-1"),
        ("--chunk-context-seconds", "-1"),
        ("--batch-size", "0"),
        ("--batch-size", "-1"),
        ("--batch-size", "two"),
    ],
)
def test_bad_option_values_are_one_line(clip, tmp_path, capsys, option, value):
    with pytest.raises(SystemExit) as raised:
        main(["reconstruct", str(clip), "--output-dir", str(tmp_path), option, value])
    err = capsys.readouterr().err
    assert raised.value.code == 2 and len(err.strip().splitlines()) == 1, err
    assert f"argument {option}: must be" in err and repr(value) in err
    assert not any(tmp_path.iterdir())


def test_unknown_codebook_domain_is_refused_before_any_file(model_dir, clip, tmp_path, capsys):
    assert main(["encode", str(clip), "--model", str(model_dir), "--output-dir", str(tmp_path), "--codebook-domain", "klingon"]) == 2
    lines = _error_lines(capsys.readouterr().err)
    assert lines == [lines[0]] and "unknown codebook_domain ['klingon']" in lines[0] and "speech" in lines[0]
    assert not list(tmp_path.glob("*.npy"))


def test_unwritable_output_folder_is_found_before_the_model_loads(clip, tmp_path, capsys):
    (tmp_path / "a-file").write_text("")
    for out in (tmp_path / "a-file", tmp_path / "a-file" / "sub"):
        line = _refused(["encode", str(clip), "--model", "never/loaded", "--output-dir", str(out)], capsys)
        assert str(out) in line and ("is a file" in line or "cannot write to the output folder" in line), line


def test_convert_into_an_existing_folder_is_refused_before_loading(model_dir, tmp_path, capsys):
    line = _refused(["convert", str(tmp_path / "no-such.pt"), str(model_dir)], capsys)
    assert f"{model_dir} exists and is not empty; pass --overwrite" in line


def test_debug_shows_the_traceback(clip, tmp_path):
    with pytest.raises(ModelLoadError, match="no such file or folder"):
        main(["--debug", "encode", str(clip), "--model", "./nope", "--output-dir", str(tmp_path)])


def test_bugs_still_raise_and_interrupts_exit_130(clip, tmp_path, monkeypatch, capsys):
    def raise_(error):
        def run(args):
            raise error

        return run

    argv = ["encode", str(clip), "--output-dir", str(tmp_path)]
    monkeypatch.setattr(cli_codec, "cmd_encode", raise_(KeyError("internal")))
    with pytest.raises(KeyError):  # not a user error: the traceback is kept
        main(argv)
    monkeypatch.setattr(cli_codec, "cmd_encode", raise_(KeyboardInterrupt()))
    assert main(argv) == 130 and "interrupted" in capsys.readouterr().err


@pytest.mark.parametrize(
    "dtype, flags, used, warned",
    [("auto", set(), "float32", False), ("auto", {"amx_bf16"}, "bfloat16", False), ("bfloat16", {"avx2"}, "bfloat16", True)],
)
def test_dtype_auto_and_the_slow_bf16_warning(model_dir, clip, tmp_path, capsys, monkeypatch, dtype, flags, used, warned):
    monkeypatch.setattr(precision, "_cpu_flags", lambda: set(flags))
    assert main(["encode", str(clip), "--model", str(model_dir), "--output-dir", str(tmp_path), "--dtype", dtype]) == 0
    err = capsys.readouterr().err
    assert f"on cpu, {used}" in err
    assert ("llmcodec: warning: --dtype bfloat16 on cpu without native bf16" in err) is warned
    assert np.load(tmp_path / "clip.npy").shape == (20,)


def test_suspicious_audio_warns_in_one_line(model_dir, tmp_path, capsys):
    soundfile.write(tmp_path / "loud.wav", 5 * speechlike(6400).numpy() / np.abs(speechlike(6400).numpy()).max(), 16000, subtype="FLOAT")
    assert main(["encode", str(tmp_path / "loud.wav"), "--model", str(model_dir), "--output-dir", str(tmp_path)]) == 0
    warning = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(warning) == 1 and warning[0].startswith("llmcodec: warning: ") and "samples reach 5" in warning[0]
