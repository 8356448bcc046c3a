"""benchmarks/token_stability/latent_margin.py: the latent-shift probe runs on a folder of .wav files."""

from __future__ import annotations

import json

import pytest
import soundfile as sf

from codec_testing import speechlike, tiny_model_dir_fixture
from script_loading import load_script

model_dir = tiny_model_dir_fixture(seed=5)


@pytest.fixture(scope="module")
def latent_margin():
    return load_script("benchmarks/token_stability/latent_margin.py")


def test_probe_writes_the_tables_for_every_file(latent_margin, model_dir, tmp_path):
    data, out = tmp_path / "data", tmp_path / "out"
    for i, folder in enumerate(("alsa", "conditions")):
        (data / folder).mkdir(parents=True)
        sf.write(data / folder / f"clip{i}.wav", speechlike(16000, seed=i).numpy(), 16000)

    assert latent_margin.main([str(model_dir), "--data", str(data), "--out", str(out)]) == 0

    result = json.loads((out / "latent_margin.json").read_text())["results"][0]
    assert result["files"] == 2
    assert result["frames"] == sum(b["frames"] for b in result["by_loudness"]["noise"]) > 0
    assert 0.0 <= result["unchanged"]["noise"] <= 1.0 and 0.0 <= result["unchanged"]["gain"] <= 1.0
    assert result["second_code_gap_deg"]["median"] >= 0.0
    assert f"`{model_dir}`" in (out / "latent_margin.md").read_text()


def test_default_data_is_the_heldout_set(latent_margin, model_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no data/heldout here
    with pytest.raises(SystemExit, match="no .wav files under data/heldout"):
        latent_margin.main([str(model_dir), "--out", str(tmp_path / "out")])
