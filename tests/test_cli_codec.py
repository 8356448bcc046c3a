"""The codec CLI round-trips real audio files (several formats and rates), and reports bad files."""

import subprocess

import numpy as np
import pytest
import soundfile
import torch

from codec_testing import reference_auv, speechlike, tiny_model
from llmcodec.cli import main
from llmcodec.hub import ModelLoadError, load_codec, save_codec_folder


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_codec_folder(tiny_model(seed=31), tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture(scope="module")
def audio_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("audio")
    stereo = torch.stack([speechlike(44100, seed=1, sample_rate=44100), speechlike(44100, seed=2, sample_rate=44100)], 1)
    soundfile.write(folder / "stereo.flac", stereo.numpy(), 44100)
    soundfile.write(folder / "pcm.wav", (speechlike(12345, seed=3).numpy() * 20000).astype(np.int16), 16000)
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-i", str(folder / "pcm.wav"), str(folder / "compressed.mp3")], check=True
    )
    (folder / "broken.wav").write_bytes(b"RIFF not really a wav file")
    return folder


def test_reconstruct_encode_decode_round_trip(model_dir, audio_files, tmp_path, capsys):
    inputs = [str(audio_files / n) for n in ("stereo.flac", "pcm.wav", "compressed.mp3", "broken.wav")]
    code = main(["reconstruct", *inputs, "--model", str(model_dir), "--output-dir", str(tmp_path / "rec"), "--tokens", "--batch-size", "2"])
    assert code == 1  # one bad file: reported, the rest finished
    err = capsys.readouterr().err
    assert "failed: " in err and "broken.wav" in err and "3 of 4 file(s) done" in err
    assert f"model: {model_dir}" in err
    codes = np.load(tmp_path / "rec" / "stereo.npy")
    assert codes.shape == (50,) and codes.dtype == np.int32 and codes.min() >= 0 and codes.max() < 256
    text = (tmp_path / "rec" / "stereo.txt").read_text()
    assert text.startswith(f"<CODEC_{codes[0]}><CODEC_{codes[1]}>") and text.count("<CODEC_") == 50
    audio, rate = soundfile.read(tmp_path / "rec" / "pcm.wav")
    assert rate == 16000 and audio.shape == (12345 // 320 * 320,)
    assert np.load(tmp_path / "rec" / "compressed.npy").shape[0] >= 38

    assert main(["encode", inputs[1], "--model", str(model_dir), "--output-dir", str(tmp_path / "enc")]) == 0
    assert np.array_equal(np.load(tmp_path / "enc" / "pcm.npy"), np.load(tmp_path / "rec" / "pcm.npy"))
    assert main(["decode", str(tmp_path / "enc" / "pcm.npy"), "--model", str(model_dir), "--output-dir", str(tmp_path / "dec")]) == 0
    decoded, _ = soundfile.read(tmp_path / "dec" / "pcm.wav")
    reconstructed, _ = soundfile.read(tmp_path / "rec" / "pcm.wav")
    assert np.abs(decoded - reconstructed).max() < 1e-3


def test_convert_then_load_with_every_model_spec(tmp_path):
    reference = reference_auv(released=False, seed=6)
    raw = tmp_path / "llm-codec.pt"
    torch.save(reference.state_dict(), raw)
    assert main(["convert", str(raw), str(tmp_path / "exported")]) == 0
    with pytest.raises(FileExistsError):
        main(["convert", str(raw), str(tmp_path / "exported")])
    clip = speechlike(8000)[None, None]
    expected = load_codec(raw).encode(clip).audio_codes
    assert torch.equal(load_codec(tmp_path / "exported").encode(clip).audio_codes, expected)
    assert torch.equal(load_codec(tmp_path).encode(clip).audio_codes, expected)  # folder holding llm-codec.pt
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="neither"):
        load_codec(tmp_path / "empty")
    with pytest.raises(ModelLoadError, match="not an existing file"):
        load_codec(tmp_path / "no-such-model")


def test_push_refuses_a_non_exported_folder(tmp_path, capsys):
    with pytest.raises(ModelLoadError, match="not an exported"):
        main(["push", str(tmp_path), "someone/something"])


def test_push_reports_an_unreachable_hub(model_dir, monkeypatch, capsys):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("HF_TOKEN", "hf_dummy")
    assert main(["push", str(model_dir), "someone/something"]) == 2
    assert "could not upload to the Hugging Face Hub" in capsys.readouterr().err


def test_decode_rejects_bad_code_files(model_dir, tmp_path, capsys):
    np.save(tmp_path / "floats.npy", np.array([1.5, 2.0]))
    np.save(tmp_path / "range.npy", np.array([1, 9999]))
    code = main(["decode", str(tmp_path / "floats.npy"), str(tmp_path / "range.npy"), "--model", str(model_dir), "--output-dir", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 1 and "integers" in err and "outside [0, 256)" in err
