"""ONNX Runtime backend: exported graphs give the PyTorch model's codes and audio on real speech.

The graphs compute the STFT as a DFT-basis convolution and the iSTFT as a matmul, so they round differently
from torch's FFT in the last bits: codes may differ only at near-ties, and decoded audio by float noise.
Measured on arctic_a0007.wav: every code equal (bundled model and the released size with random weights),
decoded audio within 1e-6 of torch.
"""

from __future__ import annotations

import json

import pytest
import torch

pytest.importorskip("onnxruntime", reason="the ONNX backend needs the onnx extra (onnxruntime not installed)")
pytest.importorskip("onnxscript", reason="export-onnx needs the onnx extra (onnxscript not installed)")

from codec_testing import randomize_batchnorm  # noqa: E402
from repo_paths import REPO_ROOT  # noqa: E402

from llmcodec.audio import load_audio  # noqa: E402
from llmcodec.cli import main  # noqa: E402
from llmcodec.hub import load_codec  # noqa: E402
from llmcodec.modeling import LLMCodecConfig, LLMCodecModel  # noqa: E402
from llmcodec.onnx_codec import OnnxCodec, export_to_folder  # noqa: E402

EXAMPLE = REPO_ROOT / "llmcodec" / "assets" / "examples" / "arctic_a0007.wav"
BUNDLED = REPO_ROOT / "llmcodec" / "assets" / "default-model"
MIN_EQUAL_CODES = 0.99  # codes may flip only at near-ties of the cosine search
AUDIO_TOLERANCE = 1e-5  # absolute, on audio peaking near 0.5


@pytest.fixture(scope="module")
def speech() -> torch.Tensor:
    waveform, _ = load_audio(EXAMPLE)
    return waveform


@pytest.fixture(scope="module")
def bundled(tmp_path_factory):
    model = load_codec(str(BUNDLED), device="cpu").eval()
    folder = export_to_folder(model, tmp_path_factory.mktemp("onnx-bundled"))
    return model, OnnxCodec(folder), folder


def _padded_pair(speech: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The clip and its first 1.9 s, right-padded into one batch `(2, 1, L)` with its mask `(2, L)`."""
    short = 30_400
    values = torch.zeros(2, 1, speech.numel())
    values[0, 0], values[1, 0, :short] = speech, speech[:short]
    mask = torch.zeros(2, speech.numel(), dtype=torch.bool)
    mask[0], mask[1, :short] = True, True
    return values, mask


def _check_parity(model, onnx_codec, values, mask, **kwargs) -> float:
    with torch.inference_mode():
        expected = model.encode(values, mask, **kwargs)
        got = onnx_codec.encode(values, mask, **kwargs)
        assert torch.equal(got.audio_codes_mask, expected.audio_codes_mask)
        valid = expected.audio_codes_mask
        share = float((got.audio_codes[valid] == expected.audio_codes[valid]).float().mean())
        assert share >= MIN_EQUAL_CODES, f"only {share:.4f} of the codes agree"
        assert (got.audio_codes[~valid] == -1).all()
        chunking = {k: v for k, v in kwargs.items() if k.startswith("chunk")}
        audio = model.decode(expected.audio_codes, valid, **chunking)
        onnx_audio = onnx_codec.decode(expected.audio_codes, valid, **chunking)
    assert torch.equal(onnx_audio.padding_mask, audio.padding_mask)
    difference = (onnx_audio.audio_values - audio.audio_values).abs().max().item()
    assert difference < AUDIO_TOLERANCE, f"decoded audio differs by {difference:g}"
    return share


def test_bundled_model_codes_and_audio_match_torch_on_speech(bundled, speech):
    model, onnx_codec, _ = bundled
    assert _check_parity(model, onnx_codec, speech[None, None], None) == 1.0
    assert _check_parity(model, onnx_codec, *_padded_pair(speech)) == 1.0


def test_long_audio_uses_the_models_windows(bundled, speech):
    model, onnx_codec, _ = bundled
    long = speech.repeat(3)[None, None]  # 12 s coded in 4 s windows with 1 s of context
    _check_parity(model, onnx_codec, long, None, chunk_length_s=4.0, chunk_context_s=1.0)


def test_codebook_domain_restricts_the_search(bundled, speech):
    model, onnx_codec, _ = bundled
    _check_parity(model, onnx_codec, *_padded_pair(speech), codebook_domain=["speech", "other"])
    with torch.inference_mode():
        codes = onnx_codec.encode(speech[None, None], codebook_domain="speech").audio_codes
    assert int(codes.max()) < 8192


def test_limits_are_refused_in_one_message(bundled):
    _, onnx_codec, _ = bundled
    too_long = torch.zeros(1, 1, 320 * (onnx_codec.max_frames + 1))
    with pytest.raises(ValueError, match="at most 4096 frames"):
        onnx_codec.encode(too_long)
    with pytest.raises(ValueError, match="audio_codes"):
        onnx_codec.decode(latents=torch.zeros(1, 5, onnx_codec.config.hidden_size))


def test_export_onnx_cli_keeps_an_existing_export(bundled, capsys):
    _, _, folder = bundled
    before = (folder / "encoder.onnx").stat().st_mtime_ns
    assert main(["export-onnx", "--output-dir", str(folder)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (folder / "encoder.onnx").stat().st_mtime_ns == before
    meta = json.loads((folder / "llmcodec_onnx.json").read_text())
    assert meta["config"]["hidden_size"] == 256 and meta["max_frames"] == 4096


def test_tokenize_audio_onnx_backend_writes_the_torch_records(bundled, speech, tmp_path):
    import soundfile

    _, _, folder = bundled
    clips = tmp_path / "clips"
    clips.mkdir()
    for i, (start, length) in enumerate([(0, 64000), (8000, 20000), (3000, 45000)]):
        soundfile.write(clips / f"c{i}.wav", speech[start : start + length].numpy(), 16000, subtype="FLOAT")
    records = {}
    for backend, model in (("torch", str(BUNDLED)), ("onnx", str(folder))):
        out = tmp_path / backend
        argv = ["tokenize-audio", str(clips), "--output-dir", str(out), "--model", model, "--backend", backend,
                "--no-progress", "--no-dataset", "--batch-size", "2"]
        assert main(argv) == 0
        records[backend] = (out / "codes-00000-of-00001.jsonl").read_text()
    assert records["onnx"] == records["torch"]


@pytest.mark.slow
def test_released_size_random_weights_match_torch_on_speech(speech, tmp_path):
    torch.manual_seed(0)
    model = LLMCodecModel(LLMCodecConfig()).eval()
    randomize_batchnorm(model)
    onnx_codec = OnnxCodec(export_to_folder(model, tmp_path), num_threads=2)
    assert _check_parity(model, onnx_codec, speech[None, None], None) == 1.0
    assert _check_parity(model, onnx_codec, *_padded_pair(speech)) == 1.0


def test_codec_cli_onnx_backend_reconstructs_like_torch(bundled, speech, tmp_path):
    import numpy as np
    import soundfile

    _, _, folder = bundled
    clip = tmp_path / "speech.wav"
    soundfile.write(clip, speech.numpy(), 16000, subtype="FLOAT")
    outputs = {}
    for backend, model in (("torch", str(BUNDLED)), ("onnx", str(folder))):
        out = tmp_path / backend
        assert main(["reconstruct", str(clip), "--output-dir", str(out), "--model", model, "--backend", backend]) == 0
        outputs[backend] = (np.load(out / "speech.npy"), soundfile.read(out / "speech.wav", dtype="float32")[0])
    assert np.array_equal(outputs["onnx"][0], outputs["torch"][0])
    assert np.abs(outputs["onnx"][1] - outputs["torch"][1]).max() <= 2 / 32768  # 16-bit wav: one step of rounding
    assert main(["decode", str(tmp_path / "onnx" / "speech.npy"), "--output-dir", str(tmp_path / "dec"),
                 "--model", str(folder), "--backend", "onnx", "--dtype", "bfloat16"]) == 2


def test_spectral_floor_and_level_normalisation_match_torch(speech, tmp_path):
    from codec_testing import tiny_model

    model = tiny_model(spectral_floor=0.1, normalize_level_dbfs=-20.0)
    randomize_batchnorm(model)
    onnx_codec = OnnxCodec(export_to_folder(model, tmp_path), num_threads=1)
    assert onnx_codec.config.spectral_floor == 0.1
    quiet = speech[None, None] * 0.05  # about -45 dBFS: normalisation scales it up 25 dB in both backends
    assert _check_parity(model, onnx_codec, quiet, None) == 1.0
