"""llmcodec.audio: outputs get normal permissions; suspicious input (beyond full scale, truncated wav) warns."""

import os
import struct
import warnings

import numpy as np
import pytest
import soundfile
import torch

from llmcodec.audio import SuspiciousAudioWarning, load_audio, save_array, save_audio, save_text


@pytest.fixture
def umask():
    """Sets a umask for one test and restores the previous one."""
    previous = os.umask(0o022)
    yield os.umask
    os.umask(previous)


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)])
def test_outputs_honour_the_umask(tmp_path, umask, mask, expected):
    umask(mask)
    written = [
        save_audio(tmp_path / "a.wav", torch.zeros(320), 16000),
        save_array(tmp_path / "a.npy", np.arange(3)),
        save_text(tmp_path / "a.txt", "<CODEC_1>"),
    ]
    for path in written:
        assert oct(path.stat().st_mode & 0o777) == oct(expected), path.name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npy", "a.txt", "a.wav"]  # no temporary left


def _load_quietly(path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        waveform, rate = load_audio(path)
    return waveform, [str(w.message) for w in caught if issubclass(w.category, SuspiciousAudioWarning)]


def test_float_audio_beyond_full_scale_warns_with_the_peak(tmp_path):
    soundfile.write(tmp_path / "loud.wav", np.linspace(-5, 5, 1600, dtype=np.float32), 16000, subtype="FLOAT")
    waveform, messages = _load_quietly(tmp_path / "loud.wav")
    assert len(messages) == 1 and "reach 5" in messages[0] and "unscaled" not in messages[0]
    assert float(waveform.abs().max()) == pytest.approx(5.0)  # warned, not silently rescaled


def test_int16_values_stored_as_float_get_the_scaling_hint(tmp_path):
    soundfile.write(tmp_path / "raw.wav", np.linspace(-32767, 32767, 1600, dtype=np.float32), 16000, subtype="FLOAT")
    _, messages = _load_quietly(tmp_path / "raw.wav")
    assert len(messages) == 1 and "32767" in messages[0] and "divide int16 values by 32768" in messages[0]


def test_truncated_wav_warns_with_declared_and_present_lengths(tmp_path):
    soundfile.write(tmp_path / "full.wav", np.zeros(16000, dtype=np.int16), 16000, subtype="PCM_16")
    data = (tmp_path / "full.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(data[: len(data) // 2])
    waveform, messages = _load_quietly(tmp_path / "cut.wav")
    assert len(messages) == 1 and "truncated" in messages[0]
    assert "declares 16000 samples" in messages[0] and f"holds {waveform.numel()}" in messages[0]


def test_clean_and_streamed_wavs_do_not_warn(tmp_path):
    soundfile.write(tmp_path / "ok.wav", np.linspace(-1, 1, 1600, dtype=np.float32), 16000, subtype="FLOAT")
    soundfile.write(tmp_path / "pcm.wav", np.zeros(1600, dtype=np.int16), 16000, subtype="PCM_16")
    # A wav written to a pipe does not know its length: data size 0xFFFFFFFF means "unknown", not "longer".
    streamed = bytearray((tmp_path / "pcm.wav").read_bytes())
    offset = streamed.index(b"data") + 4
    streamed[offset : offset + 4] = struct.pack("<I", 0xFFFFFFFF)
    (tmp_path / "streamed.wav").write_bytes(bytes(streamed))
    for name in ("ok.wav", "pcm.wav", "streamed.wav"):
        assert _load_quietly(tmp_path / name)[1] == [], name


def test_a_folder_a_fifo_and_a_missing_file_are_each_named(tmp_path):
    from llmcodec.audio import AudioReadError

    (tmp_path / "folder.wav").mkdir()
    os.mkfifo(tmp_path / "pipe.wav")  # reading it would block forever: refused from its type alone
    cases = {"folder.wav": "is a folder", "pipe.wav": "is not a regular file (a FIFO)", "missing.wav": "no such file"}
    for name, message in cases.items():
        with pytest.raises(AudioReadError, match=message.replace("(", r"\(").replace(")", r"\)")):
            load_audio(tmp_path / name)


def test_audio_extensions_are_one_list_for_every_reader():
    from llmcodec.audio import AUDIO_EXTENSIONS

    assert set(AUDIO_EXTENSIONS) >= {".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac", ".webm", ".aiff", ".aif"}
    assert all(ext == ext.lower() and ext.startswith(".") for ext in AUDIO_EXTENSIONS)


def test_find_audio_files_walks_folders_in_a_fixed_order(tmp_path):
    from llmcodec.audio import AudioReadError, find_audio_files

    for relative in ("b/2.wav", "b/1.FLAC", "a.mp3", "notes.txt", ".hidden/x.wav", "b/.x.wav.tmp123.wav"):
        (tmp_path / "data" / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "data" / relative).write_bytes(b"")
    explicit = tmp_path / "data" / "notes.txt"  # named explicitly: kept whatever its suffix
    found = find_audio_files([explicit, tmp_path / "data", explicit, tmp_path / "missing.wav"])
    relative = [p.relative_to(tmp_path).as_posix() for p in found]
    assert relative == ["data/notes.txt", "data/a.mp3", "data/b/1.FLAC", "data/b/2.wav", "missing.wav"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(AudioReadError, match="no audio files"):
        find_audio_files([tmp_path / "empty"])
