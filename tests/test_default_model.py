"""The bundled default model (llmcodec/assets/default-model): a Hub-ready folder, small enough for git,
the CLI's default, and it reconstructs real speech recognisably."""

import filecmp
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from llmcodec.cli import main
from llmcodec.cli_codec import DEFAULT_MODEL_DIR, resolve_model_spec
from llmcodec.cli_demo import EXAMPLE_CLIP
from llmcodec.evaluation.metrics import compute_metrics
from llmcodec.hub import load_codec

REPO = Path(__file__).resolve().parents[1]
MAX_BYTES = 25 * 10**6


@pytest.fixture(scope="module")
def model():
    return load_codec(DEFAULT_MODEL_DIR)


def test_folder_is_hub_ready_and_under_25_mb():
    files = {p.name: p.stat().st_size for p in DEFAULT_MODEL_DIR.iterdir() if p.is_file()}
    for name in ("config.json", "model.safetensors", "preprocessor_config.json", "README.md",
                 "configuration_llmcodec.py", "modeling_llmcodec.py", "feature_extraction_llmcodec.py"):
        assert name in files, name
    assert sum(files.values()) <= MAX_BYTES
    config = json.loads((DEFAULT_MODEL_DIR / "config.json").read_text())
    assert config["model_type"] == "llmcodec" and config["dtype"] == "float32"
    card = (DEFAULT_MODEL_DIR / "README.md").read_text()
    for section in ("## Training", "## Quality", "## Token learnability", "Codec2 1200", "PESQ-WB"):
        assert section in card, section


def test_bundled_remote_code_matches_the_package_sources():
    # A stale copy would make AutoModel(trust_remote_code=True) run different code than LLMCodecModel.
    for name in ("configuration_llmcodec.py", "modeling_llmcodec.py", "feature_extraction_llmcodec.py"):
        assert filecmp.cmp(DEFAULT_MODEL_DIR / name, REPO / "modeling_llmcodec" / name, shallow=False), name


def test_interface_matches_the_released_codec(model):
    config = model.config
    assert (config.sampling_rate, config.frame_rate, config.codebook_size) == (16000, 50, 20480)
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_cli_uses_it_by_default(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("LLMCODEC_MODEL", raising=False)
    assert resolve_model_spec(None) == str(DEFAULT_MODEL_DIR)
    assert main(["encode", str(EXAMPLE_CLIP), "--output-dir", str(tmp_path)]) == 0
    assert f"model: {DEFAULT_MODEL_DIR}" in capsys.readouterr().err
    assert np.load(tmp_path / "arctic_a0007.npy").shape == (200,)


def test_loads_with_automodel_remote_code(model):
    from transformers import AutoFeatureExtractor, AutoModel

    remote = AutoModel.from_pretrained(DEFAULT_MODEL_DIR, trust_remote_code=True).eval()
    fe = AutoFeatureExtractor.from_pretrained(DEFAULT_MODEL_DIR, trust_remote_code=True)
    audio, _ = soundfile.read(EXAMPLE_CLIP, dtype="float32")
    inputs = fe(audio, sampling_rate=16000, return_tensors="pt")
    with torch.inference_mode():
        codes = remote.encode(inputs["input_values"], inputs["padding_mask"]).audio_codes
        expected = model.encode(torch.from_numpy(audio)[None, None]).audio_codes
    assert torch.equal(codes, expected)


def test_reconstructs_real_speech_recognisably(model):
    # The bundled clip is a real recording (CMU ARCTIC) of a voice the model never trained on.
    audio, _ = soundfile.read(EXAMPLE_CLIP, dtype="float32")
    waveform = torch.from_numpy(audio)
    with torch.inference_mode():
        reconstruction = model.decode(model.encode(waveform[None, None]).audio_codes).audio_values[0, 0]
    metrics = compute_metrics(waveform, reconstruction[: waveform.numel()], 16000)
    # Thresholds sit a margin below the measured values in benchmarks/demo_model/results/.
    assert metrics["stoi"] > STOI_FLOOR
    assert metrics["pesq"] > PESQ_FLOOR
    codes = model.encode(waveform[None, None]).audio_codes
    assert codes.unique().numel() > 40  # measured: 65 distinct codes in these 200 frames


# Measured on this clip with the shipped weights: STOI 0.656, PESQ-WB 1.12 (Codec2 1200 bps: 0.789 / 1.51).
STOI_FLOOR = 0.6
PESQ_FLOOR = 1.05
