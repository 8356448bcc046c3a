"""The codec CLI round-trips real audio files (several formats and rates), and reports bad files.

Nothing is lost: an input is never overwritten, one bad file fails alone, --skip-existing regenerates what is
missing, and a model that outputs NaN is an error rather than a wav of -1.0.
"""

import os
import subprocess

import numpy as np
import pytest
import soundfile
import torch

from codec_testing import reference_auv, speechlike, tiny_model, tiny_model_dir_fixture
from llmcodec.cli import main
from llmcodec.hub import ModelLoadError, load_codec, save_codec_folder


model_dir = tiny_model_dir_fixture(seed=31)


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
    clip = speechlike(8000)[None, None]
    expected = load_codec(raw).encode(clip).audio_codes
    assert torch.equal(load_codec(tmp_path / "exported").encode(clip).audio_codes, expected)
    assert torch.equal(load_codec(tmp_path).encode(clip).audio_codes, expected)  # folder holding llm-codec.pt
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="neither"):
        load_codec(tmp_path / "empty")
    with pytest.raises(ModelLoadError, match="no such file or folder"):
        load_codec(tmp_path / "no-such-model")


def test_push_refuses_a_non_exported_folder(tmp_path, capsys):
    assert main(["push", str(tmp_path), "someone/something"]) == 2
    assert "not an exported" in capsys.readouterr().err


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


def _run(argv, capsys):
    code = main(argv)
    return code, capsys.readouterr().err


def test_an_input_is_never_overwritten(model_dir, audio_files, tmp_path, capsys):
    same = tmp_path / "same"
    same.mkdir()
    original = (audio_files / "pcm.wav").read_bytes()
    (same / "x.wav").write_bytes(original)
    other = tmp_path / "y.wav"
    other.write_bytes(original)
    os.link(same / "x.wav", same / "linked.npy")  # an output name that is a hard link to an input
    code, err = _run(["reconstruct", str(same / "x.wav"), str(other), "--model", str(model_dir), "--output-dir", str(same)], capsys)
    assert code == 1 and "would overwrite the input" in err and "1 of 2 file(s) done" in err
    assert (same / "x.wav").read_bytes() == original and not (same / "x.npy").exists()
    assert (same / "y.wav").is_file() and (same / "y.npy").is_file()  # the other file still finished
    code, err = _run(["encode", str(same / "linked.wav"), "--model", str(model_dir), "--output-dir", str(same)], capsys)
    assert code == 1 and "failed:" in err  # linked.wav does not exist: reported, no crash
    (same / "linked.wav").write_bytes(original)
    code, err = _run(["encode", str(same / "linked.wav"), str(same / "x.wav"), "--model", str(model_dir), "--output-dir", str(same)], capsys)
    assert code == 1 and "would overwrite the input" in err and (same / "x.wav").read_bytes() == original


def test_decode_one_bad_file_fails_alone_and_reads_token_text(model_dir, audio_files, tmp_path, capsys):
    assert main(["encode", str(audio_files / "pcm.wav"), "--model", str(model_dir), "--output-dir", str(tmp_path), "--tokens"]) == 0
    (tmp_path / "empty.npy").write_bytes(b"")
    np.savez(tmp_path / "archive.npz", codes=np.arange(5))
    os.rename(tmp_path / "archive.npz", tmp_path / "archive.npy")
    (tmp_path / "text.npy").write_text("<CODEC_1><CODEC_2>")
    (tmp_path / "weights.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    (tmp_path / "tokens.txt").write_text((tmp_path / "pcm.txt").read_text() + "\n")
    bad = ["empty.npy", "archive.npy", "text.npy", "weights.safetensors"]
    inputs = [str(tmp_path / n) for n in (*bad, "pcm.npy", "tokens.txt")]
    code, err = _run(["decode", *inputs, "--model", str(model_dir), "--output-dir", str(tmp_path / "out")], capsys)
    assert code == 1 and "2 of 6 file(s) done, 4 failed" in err
    assert "allow_pickle" not in err and "weights_only" not in err  # never advice to load unsafely
    for name, message in zip(bad, ["empty", ".npz archive", "not a .npy array", "decode reads .npy"]):
        assert any(name in line and message in line for line in err.splitlines()), (name, err)
    from_npy, _ = soundfile.read(tmp_path / "out" / "pcm.wav")
    from_text, _ = soundfile.read(tmp_path / "out" / "tokens.wav")
    assert from_npy.shape == (12345 // 320 * 320,) and np.array_equal(from_npy, from_text)


def test_skip_existing_regenerates_every_missing_output(model_dir, audio_files, tmp_path, capsys):
    argv = ["reconstruct", str(audio_files / "pcm.wav"), "--model", str(model_dir), "--output-dir", str(tmp_path), "--tokens"]
    assert main(argv) == 0
    kept = (tmp_path / "pcm.npy").stat().st_mtime_ns
    for missing in ("pcm.wav", "pcm.txt"):
        (tmp_path / missing).unlink()
        assert main([*argv, "--skip-existing"]) == 0
        assert (tmp_path / missing).is_file(), missing
    assert (tmp_path / "pcm.npy").stat().st_mtime_ns == kept  # outputs already there are left alone
    capsys.readouterr()
    assert main([*argv, "--skip-existing"]) == 0
    assert "skipped 1 file(s)" in capsys.readouterr().err


def test_a_model_that_outputs_nan_is_an_error_naming_it(audio_files, tmp_path, capsys):
    model = tiny_model(seed=31)
    with torch.no_grad():  # finite but huge: the decoder overflows to Inf/NaN (load-time checks cannot see it)
        model.decoder.istft_head.projection.weight.fill_(3e38)
    folder = save_codec_folder(model, tmp_path / "overflowing")
    code, err = _run(["reconstruct", str(audio_files / "pcm.wav"), "--model", str(folder), "--output-dir", str(tmp_path / "o")], capsys)
    assert code == 1 and f"model {folder} produced non-finite audio" in err
    assert not (tmp_path / "o" / "pcm.wav").exists()


def test_outputs_never_replace_a_file_this_run_did_not_write(model_dir, audio_files, tmp_path, capsys):
    model = ["--model", str(model_dir)]
    original = (audio_files / "pcm.wav").read_bytes()
    (tmp_path / "talk.wav").write_bytes(original)
    assert main(["encode", str(tmp_path / "talk.wav"), *model, "--output-dir", str(tmp_path)]) == 0
    # Decoding talk.npy into the same folder would replace the user's talk.wav with the reconstruction.
    code, err = _run(["decode", str(tmp_path / "talk.npy"), *model, "--output-dir", str(tmp_path)], capsys)
    assert code == 1 and f"{tmp_path / 'talk.wav'} already exists; pass --overwrite" in err
    assert (tmp_path / "talk.wav").read_bytes() == original
    # reconstruct song.flac beside an existing song.wav: the input fails whole (no .npy either).
    (tmp_path / "song.flac").write_bytes((audio_files / "stereo.flac").read_bytes())
    (tmp_path / "song.wav").write_bytes(original)
    code, err = _run(["reconstruct", str(tmp_path / "song.flac"), *model, "--output-dir", str(tmp_path)], capsys)
    assert code == 1 and "song.wav already exists" in err and "0 of 1 file(s) done" in err
    assert (tmp_path / "song.wav").read_bytes() == original and not (tmp_path / "song.npy").exists()
    # --overwrite replaces outputs (never an input); --skip-existing keeps them; both at once is refused.
    assert main(["reconstruct", str(tmp_path / "song.flac"), *model, "--output-dir", str(tmp_path), "--overwrite"]) == 0
    assert (tmp_path / "song.wav").read_bytes() != original and (tmp_path / "song.npy").is_file()
    assert main(["decode", str(tmp_path / "talk.npy"), *model, "--output-dir", str(tmp_path), "--skip-existing"]) == 0
    assert (tmp_path / "talk.wav").read_bytes() == original
    with pytest.raises(SystemExit) as raised:
        main(["decode", str(tmp_path / "talk.npy"), *model, "--output-dir", str(tmp_path), "--overwrite", "--skip-existing"])
    assert raised.value.code == 2


def test_a_full_disk_during_reconstruct_is_one_line_and_leaves_no_partial_file(model_dir, audio_files, tmp_path, capsys, monkeypatch):
    import llmcodec.files

    def full_disk(*args, **kwargs):  # libsndfile reports ENOSPC as a bare "System error"
        with open(args[0], "wb") as handle:
            handle.write(b"RIFF partial")
        raise soundfile.LibsndfileError(2)

    monkeypatch.setattr(soundfile, "write", full_disk)
    monkeypatch.setattr(llmcodec.files, "no_space_left", lambda folder: True)
    out = tmp_path / "out"
    code, err = _run(["reconstruct", str(audio_files / "pcm.wav"), "--model", str(model_dir), "--output-dir", str(out)], capsys)
    assert code == 2 and "Traceback" not in err
    assert [line for line in err.splitlines() if "error" in line] == [
        f"llmcodec: error: cannot write {out / 'pcm.wav'}: no space left on the device (nothing partial was left "
        "behind); free some space and run again"
    ]
    assert list(out.iterdir()) == []


def test_decode_names_a_folder_and_a_fifo_instead_of_blocking(model_dir, tmp_path, capsys):
    (tmp_path / "folder.npy").mkdir()
    os.mkfifo(tmp_path / "pipe.npy")  # np.load would wait for a writer forever
    code, err = _run(["decode", str(tmp_path / "folder.npy"), str(tmp_path / "pipe.npy"), "--model", str(model_dir),
                      "--output-dir", str(tmp_path / "out")], capsys)
    assert code == 1 and "0 of 2 file(s) done" in err
    assert f"failed: {tmp_path / 'folder.npy'}: is a folder" in err
    assert f"failed: {tmp_path / 'pipe.npy'}: is not a regular file (a FIFO)" in err


def test_a_level_normalising_model_decodes_codes_at_its_level_and_reconstructs_at_the_inputs(tmp_path):
    # Codes of a level-normalising model carry no level: `decode` writes audio at the model's level, while
    # `reconstruct` (which has the gain of encoding) restores the input's level.
    folder = tmp_path / "model"
    save_codec_folder(tiny_model(seed=5, normalize_level_dbfs=-20.0), folder)
    quiet = tmp_path / "in" / "quiet.wav"
    quiet.parent.mkdir()
    soundfile.write(quiet, (speechlike(32000).numpy() * 0.02).astype("float32"), 16000, subtype="FLOAT")
    common = ["--model", str(folder)]
    assert main(["reconstruct", str(quiet), "--output-dir", str(tmp_path / "rec"), *common]) == 0
    assert main(["encode", str(quiet), "--output-dir", str(tmp_path / "codes"), *common]) == 0
    assert main(["decode", str(tmp_path / "codes" / "quiet.npy"), "--output-dir", str(tmp_path / "dec"), *common]) == 0

    def rms_db(path) -> float:
        audio, _ = soundfile.read(path, dtype="float32")
        return float(20 * np.log10(np.sqrt(np.mean(audio**2))))

    reconstructed, decoded = rms_db(tmp_path / "rec" / "quiet.wav"), rms_db(tmp_path / "dec" / "quiet.wav")
    # The gain encode applied (30.7 dB here), up to the 16-bit rounding of the very quiet reconstruction.
    assert abs(decoded - reconstructed - (-20.0 - rms_db(quiet))) < 0.25
