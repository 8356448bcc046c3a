"""Audio file IO: decode anything ffmpeg reads (torchcodec), downmix to mono, resample like the reference.

Resampling uses `torchaudio.functional.resample` with its default settings, which is exactly what the
reference `auv` encoder does with a non-16 kHz input, so codes match the reference for any input rate.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import soundfile
import torch
import torchaudio


class AudioReadError(RuntimeError):
    """An audio file could not be read or decoded."""


def resample(waveform: torch.Tensor, orig_sr: int, target_sr: int) -> torch.Tensor:
    """Resamples `(..., L)` audio with torchaudio's default windowed-sinc (the reference's own resampling)."""
    if orig_sr == target_sr:
        return waveform
    return torchaudio.functional.resample(waveform, orig_freq=orig_sr, new_freq=target_sr)


def load_audio(path: str | os.PathLike, target_sr: int | None = 16000) -> tuple[torch.Tensor, int]:
    """Reads an audio file as mono float32.

    Returns `(waveform (L,), original_sample_rate)`; the waveform is at `target_sr` (or the file's own rate
    when `target_sr` is None). Multi-channel audio is averaged to mono.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioReadError(f"{path}: no such file")
    try:
        from torchcodec.decoders import AudioDecoder

        samples = AudioDecoder(str(path)).get_all_samples()
        data, sample_rate = samples.data, int(samples.sample_rate)
    except Exception as torchcodec_error:  # fall back to libsndfile (no ffmpeg needed for wav/flac/ogg)
        try:
            array, sample_rate = soundfile.read(str(path), dtype="float32", always_2d=True)
            data = torch.from_numpy(np.ascontiguousarray(array.T))
        except Exception as soundfile_error:
            raise AudioReadError(
                f"{path}: cannot decode audio (torchcodec: {torchcodec_error}; soundfile: {soundfile_error})"
            ) from soundfile_error
    if data.numel() == 0:
        raise AudioReadError(f"{path}: the file holds no audio samples")
    waveform = data.float().mean(dim=0)
    if not torch.isfinite(waveform).all():
        raise AudioReadError(f"{path}: decoded audio contains NaN or Inf samples")
    if target_sr is not None:
        waveform = resample(waveform, sample_rate, target_sr)
    return waveform.contiguous(), sample_rate


def _write_atomically(path: str | os.PathLike, suffix: str, write) -> Path:
    """Calls `write(temporary_path)` on a temporary file beside `path`, then renames it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(handle)
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    return path


def save_audio(path: str | os.PathLike, waveform: torch.Tensor | np.ndarray, sample_rate: int) -> Path:
    """Writes mono audio `(L,)` as 16-bit PCM wav atomically (temporary file, then rename)."""
    array = waveform.detach().float().cpu().numpy() if isinstance(waveform, torch.Tensor) else np.asarray(waveform)
    array = np.clip(array.reshape(-1), -1.0, 1.0)
    return _write_atomically(
        path, ".wav", lambda target: soundfile.write(target, array, sample_rate, subtype="PCM_16", format="WAV")
    )


def save_array(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Writes a `.npy` file atomically."""

    def write(target: str) -> None:
        with open(target, "wb") as handle:
            np.save(handle, array)

    return _write_atomically(path, ".npy", write)


def save_text(path: str | os.PathLike, text: str) -> Path:
    """Writes a UTF-8 text file atomically."""
    return _write_atomically(path, ".txt", lambda target: Path(target).write_text(text, encoding="utf-8"))
