"""llmcodec.long_audio: long lossless files are read, coded and written window by window with the codes and
audio of the in-memory windowed path, and never read whole."""

import numpy as np
import pytest
import soundfile
import torch

from codec_testing import speechlike, tiny_model
from llmcodec.audio import load_audio, save_audio
from llmcodec.cli import main
from llmcodec.hub import save_codec_folder
from llmcodec.long_audio import AudioWindowReader, decode_to_wav, encode_file_windowed, readable_in_windows

CHUNK = dict(chunk_length_s=1.0, chunk_context_s=0.3)


@pytest.fixture(scope="module")
def model():
    return tiny_model(seed=35)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("long")
    mono = speechlike(16000 * 4 + 123, seed=1).numpy()
    soundfile.write(folder / "mono16k.wav", mono, 16000, subtype="PCM_16")
    stereo = np.stack([speechlike(44100 * 3 + 7, seed=2, sample_rate=44100).numpy()] * 2, axis=1) * [1.0, 0.5]
    soundfile.write(folder / "stereo44k.flac", stereo, 44100, subtype="PCM_24")
    soundfile.write(folder / "float22k.wav", mono[: 22050 * 3], 22050, subtype="FLOAT")
    return folder


def test_window_reads_equal_the_whole_file(files):
    for name, tolerance in (("mono16k.wav", 0.0), ("stereo44k.flac", 1e-6), ("float22k.wav", 1e-6)):
        whole, _ = load_audio(files / name)
        with AudioWindowReader(files / name, 16000) as reader:
            assert reader.num_samples == whole.numel()
            for start, stop in ((0, 5000), (4999, 33333), (whole.numel() - 10, whole.numel()), (77, 78)):
                torch.testing.assert_close(reader.read(start, stop), whole[start:stop], rtol=0, atol=tolerance)


def test_windowed_encode_and_decode_equal_the_in_memory_windowing(model, files, tmp_path):
    for name in ("mono16k.wav", "stereo44k.flac", "float22k.wav"):
        assert readable_in_windows(files / name)
        whole, _ = load_audio(files / name)
        with torch.inference_mode():
            expected = model.encode(whole[None, None], **CHUNK).audio_codes[0].numpy()
            audio = model.decode(torch.from_numpy(expected)[None], **CHUNK).audio_values[0, 0]
        codes, finite = encode_file_windowed(model, files / name, **CHUNK)
        assert finite and np.array_equal(codes, expected), name
        save_audio(tmp_path / "expected.wav", audio, 16000)
        decode_to_wav(model, codes, tmp_path / "streamed.wav", **CHUNK)
        assert (tmp_path / "streamed.wav").read_bytes() == (tmp_path / "expected.wav").read_bytes(), name


def test_lossy_files_are_not_read_in_windows(files, tmp_path):
    soundfile.write(tmp_path / "x.ogg", np.zeros(16000, dtype=np.float32), 16000)
    (tmp_path / "y.wav").write_bytes(b"RIFF broken")
    assert not readable_in_windows(tmp_path / "x.ogg") and not readable_in_windows(tmp_path / "y.wav")


def test_the_cli_never_reads_a_long_file_whole(model, files, tmp_path, monkeypatch):
    import llmcodec.audio

    folder = save_codec_folder(model, tmp_path / "model")
    args = ["--model", str(folder), "--chunk-seconds", "1", "--chunk-context-seconds", "0.3", "--dtype", "float32"]
    whole, _ = load_audio(files / "mono16k.wav")
    with torch.inference_mode():  # the in-memory windowing, as before files were read in windows
        expected = model.encode(whole[None, None], **CHUNK).audio_codes[0]
        save_audio(tmp_path / "expected.wav", model.decode(expected[None], **CHUNK).audio_values[0, 0], 16000)
    reads = []
    original_read = soundfile.SoundFile.read

    def counting_read(self, frames=-1, *rest, **kwargs):
        reads.append(frames)
        return original_read(self, frames, *rest, **kwargs)

    def refuse(*args, **kwargs):
        raise AssertionError("the long file was decoded whole")

    monkeypatch.setattr(soundfile.SoundFile, "read", counting_read)
    monkeypatch.setattr(llmcodec.audio, "load_audio", refuse)
    out = tmp_path / "windowed"
    assert main(["reconstruct", str(files / "mono16k.wav"), *args, "--output-dir", str(out), "--tokens"]) == 0
    # One window of 1 s plus 0.3 s of context on each side and the STFT's reach: never the 4 s file.
    assert reads and max(reads) <= 16000 * 1.6 + 480 and sum(reads) >= 16000 * 4
    assert np.array_equal(np.load(out / "mono16k.npy"), expected.numpy())
    assert (out / "mono16k.wav").read_bytes() == (tmp_path / "expected.wav").read_bytes()
    assert (out / "mono16k.txt").read_text().count("<CODEC_") == np.load(out / "mono16k.npy").size


def test_a_level_normalising_model_is_read_whole(files, tmp_path):
    from llmcodec.cli_codec import _codes_in_windows

    normalising = tiny_model(seed=35, normalize_level_dbfs=-26.0)
    assert _codes_in_windows(files / "mono16k.wav", tiny_model(seed=35), 1.0)
    assert not _codes_in_windows(files / "mono16k.wav", normalising, 1.0)
    with pytest.raises(ValueError, match="needs the whole item"):
        encode_file_windowed(normalising, files / "mono16k.wav", **CHUNK)
