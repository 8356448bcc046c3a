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

# ---- Quality floors of the bundled default model (update these when the model is replaced) ----------------
# Measured on llmcodec/assets/examples/arctic_a0007.wav (4 s of real CMU ARCTIC speech, 200 frames) with
#     OMP_NUM_THREADS=1 .venv/bin/python tests/test_default_model.py
# which prints the shipped model's scores beside white noise's. Measured (default model v6, issue 10):
#     shipped model:        PESQ-WB 1.392  STOI 0.842  mel 0.995  186 distinct codes
#     white noise:          PESQ-WB 1.043  STOI 0.418  mel 5.213
# (v5: PESQ-WB 1.238  STOI 0.810  mel 1.019  176 distinct codes; v4: PESQ-WB 1.124  STOI 0.735  mel 1.133  174 distinct codes; v3: PESQ-WB 1.084  STOI 0.699  mel 1.279  165 distinct codes; v2: 1.068 / 0.677 / 1.466, 159 distinct codes; v1, model a34c338: 1.122 / 0.656 / 1.771, 65
#  distinct codes; a random-init model scored 1.073 / 0.504 / 3.243 and a zeroed decoder is silent.) PESQ-WB of this
# small codec sits just above noise's, so its floor has a small margin; STOI, mel and the code count separate the
# model from noise and untrained models.
DEFAULT_MODEL_FLOORS = {
    "pesq_min": 1.30,
    "stoi_min": 0.80,
    "mel_max": 1.08,  # mel distance: lower is better
    "distinct_codes_min": 160,
}


@pytest.fixture(scope="module")
def model():
    return load_codec(DEFAULT_MODEL_DIR)


def test_folder_is_hub_ready_and_under_25_mb():
    files = {p.name: p.stat().st_size for p in DEFAULT_MODEL_DIR.iterdir() if p.is_file()}
    for name in ("config.json", "model.safetensors", "preprocessor_config.json", "README.md",
                 "configuration_llmcodec.py", "modeling_llmcodec.py", "feature_extraction_llmcodec.py",
                 "streaming_llmcodec.py"):
        assert name in files, name
    assert sum(files.values()) <= MAX_BYTES
    config = json.loads((DEFAULT_MODEL_DIR / "config.json").read_text())
    assert config["model_type"] == "llmcodec" and config["dtype"] == "float32"
    card = (DEFAULT_MODEL_DIR / "README.md").read_text()
    for section in ("## Training", "## Quality", "## Token learnability", "Codec2 1200", "PESQ-WB"):
        assert section in card, section


def test_bundled_remote_code_matches_the_package_sources():
    # A stale copy would make AutoModel(trust_remote_code=True) run different code than LLMCodecModel.
    for name in ("configuration_llmcodec.py", "modeling_llmcodec.py", "feature_extraction_llmcodec.py",
                 "streaming_llmcodec.py"):
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


def reconstruction_scores(model) -> dict:
    """Scores of `model` on the bundled clip, and of white noise at the clip's RMS, with the floors' keys."""
    audio, _ = soundfile.read(EXAMPLE_CLIP, dtype="float32")
    waveform = torch.from_numpy(audio)
    with torch.inference_mode():
        codes = model.encode(waveform[None, None]).audio_codes
        reconstruction = model.decode(codes).audio_values[0, 0]
    noise = torch.randn(waveform.numel(), generator=torch.Generator().manual_seed(0)) * waveform.pow(2).mean().sqrt()
    scores = {}
    for name, degraded in (("model", reconstruction[: waveform.numel()]), ("white_noise", noise)):
        metrics = compute_metrics(waveform, degraded, 16000)
        scores[name] = {"pesq": metrics["pesq"], "stoi": metrics["stoi"], "mel": metrics["mel"],
                        "pesq_error": metrics["errors"].get("pesq")}
    scores["model"]["distinct_codes"] = int(codes.unique().numel())
    return scores


def floor_failures(row: dict) -> list[str]:
    floors = DEFAULT_MODEL_FLOORS
    failed = []
    if not row["pesq"] > floors["pesq_min"]:  # NaN (a failed PESQ) fails too
        failed.append(f"PESQ {row['pesq']:.3f} <= {floors['pesq_min']}")
    if not row["stoi"] > floors["stoi_min"]:
        failed.append(f"STOI {row['stoi']:.3f} <= {floors['stoi_min']}")
    if not row["mel"] < floors["mel_max"]:
        failed.append(f"mel {row['mel']:.3f} >= {floors['mel_max']}")
    if "distinct_codes" in row and not row["distinct_codes"] > floors["distinct_codes_min"]:
        failed.append(f"{row['distinct_codes']} distinct codes <= {floors['distinct_codes_min']}")
    return failed


@pytest.fixture(scope="module")
def scores(model):
    return reconstruction_scores(model)


def test_reconstructs_real_speech_recognisably(scores):
    # The bundled clip is a real recording (CMU ARCTIC) of a voice the model never trained on.
    assert scores["model"]["pesq_error"] is None
    assert floor_failures(scores["model"]) == [], scores["model"]


def test_white_noise_fails_the_floors(scores):
    # Guards the floors themselves: a "reconstruction" that is noise at the right loudness must not pass.
    assert len(floor_failures(scores["white_noise"])) >= 3, scores["white_noise"]


if __name__ == "__main__":  # prints the measurements the floors above come from
    import pprint

    pprint.pprint(reconstruction_scores(load_codec(DEFAULT_MODEL_DIR)))
