"""`llmcodec demo`: the quick start's main job (codes, LLM tokens, metrics, written outputs)."""

import shutil

import numpy as np
import pytest
import soundfile
import torch

from codec_testing import tiny_model_dir_fixture
from llmcodec.cli import main
from llmcodec.cli_demo import EXAMPLE_CLIP, QWEN3_FIRST_AUDIO_ID, run_demo
from llmcodec.tokenizer.mapping import AudioTokenMap


model_dir = tiny_model_dir_fixture(seed=5)


def test_bundled_example_clip_is_real_16khz_speech():
    audio, rate = soundfile.read(EXAMPLE_CLIP)
    assert rate == 16000 and audio.ndim == 1 and audio.shape[0] == 64000
    assert 0.01 < np.abs(audio).max() <= 1.0


def test_demo_prints_codes_tokens_and_metrics_and_writes_outputs(model_dir, tmp_path, capsys):
    result = run_demo(model_spec=str(model_dir), output_dir=tmp_path, compare_codec2=False)
    printed = capsys.readouterr().out
    assert f"model: {model_dir}" in printed and "PESQ-WB" in printed and "STOI" in printed
    codes = result["codes"]
    assert result["num_codes"] == codes.numel() == 200  # 4.0 s at 50 codes/s
    token_map = AudioTokenMap(QWEN3_FIRST_AUDIO_ID, n_codes=256)
    assert np.array_equal(token_map.text_to_codes(result["token_text"]), codes.numpy())
    assert np.array_equal(result["token_ids"], QWEN3_FIRST_AUDIO_ID + codes.numpy())
    assert f"<CODEC_{int(codes[0])}>" in printed
    for name in ("pesq", "stoi", "mel"):
        assert np.isfinite(result["metrics"][name])
    audio, rate = soundfile.read(result["outputs"]["wav"])
    assert rate == 16000 and audio.shape == (64000,)
    assert np.array_equal(np.load(result["outputs"]["codes"]), codes.numpy())
    assert result["outputs"]["tokens"].read_text().strip() == result["token_text"]


@pytest.mark.skipif(shutil.which("c2enc") is None, reason="codec2 (c2enc) is not installed")
def test_demo_compares_with_codec2_1200(model_dir, tmp_path, capsys):
    result = run_demo(model_spec=str(model_dir), output_dir=tmp_path)
    assert "Codec2 1200 bps:" in capsys.readouterr().out
    assert result["codec2_1200"]["stoi"] > 0.5  # Codec2 is intelligible on real speech


def test_demo_cli_reports_an_unreadable_file(model_dir, tmp_path, capsys):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF not audio")
    assert main(["demo", str(bad), "--model", str(model_dir), "--output-dir", str(tmp_path / "out")]) == 1
    assert "bad.wav" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_convert_stores_half_precision_weights_that_load_as_float32(model_dir, tmp_path, capsys):
    assert main(["convert", str(model_dir), str(tmp_path / "fp16"), "--storage-dtype", "float16"]) == 0
    assert "MiB" in capsys.readouterr().out
    full = (model_dir / "model.safetensors").stat().st_size
    half = (tmp_path / "fp16" / "model.safetensors").stat().st_size
    assert half < 0.6 * full
    from llmcodec.hub import load_codec

    loaded = load_codec(tmp_path / "fp16")
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    original = load_codec(model_dir)
    rounded = load_codec(model_dir).half().float()
    for (name, a), b in zip(loaded.state_dict().items(), rounded.state_dict().values()):
        assert torch.equal(a, b), name  # exactly the fp16-rounded weights, upcast
    clip = torch.from_numpy(soundfile.read(EXAMPLE_CLIP, dtype="float32")[0])[None, None]
    agree = (loaded.encode(clip).audio_codes == original.encode(clip).audio_codes).float().mean()
    assert agree > 0.9


def test_convert_adds_the_card_extra(model_dir, tmp_path):
    extra = tmp_path / "extra.md"
    extra.write_text("## Training\n\nMeasured things.\n")
    assert main(["convert", str(model_dir), str(tmp_path / "out"), "--card-extra", str(extra)]) == 0
    card = (tmp_path / "out" / "README.md").read_text()
    assert card.startswith("---\n") and "## Training\n\nMeasured things." in card
