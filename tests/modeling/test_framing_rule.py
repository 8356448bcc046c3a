"""One framing rule everywhere: the same file gives identical codes through every path.

Rule (README "Command line"): ``L`` samples at 16 kHz give ``floor(L / 320)`` codes (the last partial
frame is dropped) and audio longer than 60 s is coded in 60 s windows with 5 s of context. Paths:
the Codec-SUPERB adapter (single and batch), ``llmcodec encode``, ``llmcodec evaluate`` (its
``codes.jsonl``), ``llmcodec tokenize-audio`` and the ``tokenize_audio()`` function with its defaults.
A 22,050 Hz file whose 16 kHz length is not a whole number of frames exercises resampling and the
partial frame; a 61.3 s file (slow, opt-in) exercises the windows, and a fast test checks that every
path's window defaults agree.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from codec_testing import tiny_model
from llmcodec.audio import load_audio
from llmcodec.cli import build_parser, main
from llmcodec.evaluation.evaluate import EvaluateConfig
from llmcodec.evaluation.soundcodec_adapter import LLMCodecSoundCodec
from llmcodec.modeling import LLMCodecModel
from llmcodec.tokenizer import AudioTokenMap
from llmcodec.tokenizer.tokenize_audio import FileSource, tokenize_audio

HOP = 320


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("framing") / "model"
    tiny_model(seed=0).save_pretrained(folder)  # big enough that 60 s windows change a long file's codes
    return folder


def write_noise(folder: Path, name: str, rate: int, seconds: float) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    audio = 0.1 * np.random.default_rng(len(name)).standard_normal(int(seconds * rate))
    sf.write(folder / name, audio.astype(np.float32), rate, subtype="PCM_16")
    return folder / name


def codes_through_every_path(path: Path, model_dir: Path, work: Path) -> dict[str, list[int]]:
    """The codes of one file from each entry point, keyed by path name."""
    codes: dict[str, list[int]] = {}
    model = str(model_dir)
    adapter = LLMCodecSoundCodec(model_path=model, device="cpu")
    array, rate = sf.read(path)  # as Codec-SUPERB reads its cached originals: float64
    item = {"audio": {"array": array, "sampling_rate": rate}}
    codes["adapter extract_unit"] = adapter.extract_unit(item).unit[0].tolist()
    codes["adapter batch_extract_unit"] = adapter.batch_extract_unit([item]).units[0][0].tolist()

    # float32 explicitly: `--dtype auto` picks bfloat16 on CPUs with native bf16, which changes codes (not framing).
    assert main(["encode", str(path), "--model", model, "--output-dir", str(work / "enc"), "--dtype", "float32"]) == 0
    codes["llmcodec encode"] = np.load(work / "enc" / f"{path.stem}.npy").tolist()

    assert main(["evaluate", "--model", model, "--data", str(path.parent), "--output", str(work / "eval"),
                 "--num-plots", "0"]) == 0
    (logged,) = [json.loads(line) for line in (work / "eval" / "codes.jsonl").read_text().splitlines()]
    codes["llmcodec evaluate"] = logged["codes"]

    token_map = AudioTokenMap(first_id=0, n_codes=adapter.model.config.codebook_size)

    def read_tokens(folder: Path) -> list[int]:
        (line,) = [line for f in sorted(folder.glob("*.jsonl")) for line in f.read_text().splitlines()]
        return token_map.text_to_codes(json.loads(line)["audio_tokens"]).tolist()

    assert main(["tokenize-audio", str(path), "--model", model, "--output-dir", str(work / "tok"),
                 "--no-dataset", "--no-progress", "--device", "cpu"]) == 0
    codes["llmcodec tokenize-audio"] = read_tokens(work / "tok")
    tokenize_audio(adapter.model, FileSource([str(path)]), work / "tok_api", progress=False)
    codes["tokenize_audio()"] = read_tokens(work / "tok_api")
    return codes


def assert_one_rule(codes: dict[str, list[int]], path: Path) -> None:
    waveform, _ = load_audio(path, target_sr=16_000)
    reference = codes["llmcodec encode"]
    assert len(reference) == waveform.numel() // HOP  # floor: the partial last frame is dropped
    for route, found in codes.items():
        assert found == reference, f"{route} disagrees with llmcodec encode"


def test_a_partial_frame_at_another_rate_gives_the_same_codes_everywhere(model_dir, tmp_path, capsys) -> None:
    path = write_noise(tmp_path / "data", "short22k.wav", 22_050, 1.37)
    assert round(1.37 * 22_050 * 16_000 / 22_050) % HOP != 0  # there is a partial frame to get wrong
    assert_one_rule(codes_through_every_path(path, model_dir, tmp_path), path)
    capsys.readouterr()


@pytest.mark.slow
def test_a_long_file_gives_the_same_windowed_codes_everywhere(model_dir, tmp_path, capsys) -> None:
    path = write_noise(tmp_path / "data", "long16k.wav", 16_000, 61.3)
    waveform, _ = load_audio(path, target_sr=16_000)
    model = LLMCodecModel.from_pretrained(model_dir).eval()
    with torch.inference_mode():  # guard: the windows matter for this file, so agreement is not trivial
        whole = model.encode(waveform[None, None]).audio_codes
        windowed = model.encode(waveform[None, None], chunk_length_s=60.0, chunk_context_s=5.0).audio_codes
    assert not torch.equal(whole, windowed)
    codes = codes_through_every_path(path, model_dir, tmp_path)
    assert_one_rule(codes, path)
    assert codes["llmcodec encode"] == windowed[0].tolist()
    capsys.readouterr()


def test_every_path_has_the_same_window_defaults() -> None:
    """The fast stand-in for the slow test: 60 s windows and 5 s context wherever a default is set."""
    parser = build_parser()
    encode = parser.parse_args(["encode", "x.wav", "--output-dir", "o"])
    assert (encode.chunk_seconds, encode.chunk_context_seconds) == (60.0, 5.0)
    assert parser.parse_args(["evaluate", "--data", "d", "--output", "o"]).chunk_seconds == 60.0
    assert parser.parse_args(["tokenize-audio", "x.wav", "--output-dir", "o"]).chunk_seconds == 60.0
    assert EvaluateConfig().chunk_length_s == 60.0
    assert inspect.signature(tokenize_audio).parameters["chunk_length_s"].default == 60.0
    assert (LLMCodecSoundCodec.chunk_length_s, LLMCodecSoundCodec.chunk_context_s) == (60.0, 5.0)
    for method in (LLMCodecModel.encode, LLMCodecModel.decode):  # evaluate / tokenize-audio use its context
        assert inspect.signature(method).parameters["chunk_context_s"].default == 5.0
