"""Audio file IO, the single home of reading audio: every command and library path reads files through here.

- `load_audio`: decode anything ffmpeg reads (torchcodec; libsndfile as fallback), downmix to mono, resample
  like the reference. Every failure is one `AudioReadError` naming the file (missing, a folder, a FIFO or
  device, undecodable, empty, NaN).
- `AUDIO_EXTENSIONS` and `find_audio_files`: which files of a folder are audio, in one deterministic order.
- `load_dataset_folder` (from `llmcodec.audio_datasets`): a `save_to_disk` folder or a `load_dataset` source.
- `save_audio` / `save_array` / `save_text`: atomic writes (`llmcodec.files.write_atomically`).

Resampling uses `torchaudio.functional.resample` with its default settings, which is exactly what the
reference `auv` encoder does with a non-16 kHz input, so codes match the reference for any input rate.
"""

from __future__ import annotations

import os
import struct
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import soundfile
import torch
import torchaudio

from llmcodec.audio_datasets import DatasetLoadError, load_dataset_folder  # noqa: F401 - re-exported
from llmcodec.files import why_not_a_readable_file, write_atomically

# Suffixes (lower case) read as audio when a folder is searched; a file named explicitly is read whatever
# its suffix. Every format here decodes through torchcodec (ffmpeg); wav/flac/ogg/aiff also through libsndfile.
AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac", ".webm", ".aiff", ".aif")


class AudioReadError(RuntimeError):
    """An audio file could not be read or decoded."""


class SuspiciousAudioWarning(UserWarning):
    """Audio that decodes but is probably not what the user meant (out-of-range samples, truncated file)."""


# Float samples this far past full scale are almost surely integer PCM stored as float without scaling.
_UNSCALED_PCM_PEAK = 256.0


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
    _check_regular_file(path)
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
    _warn_if_suspicious(path, data, sample_rate)
    if target_sr is not None:
        waveform = resample(waveform, sample_rate, target_sr)
    return waveform.contiguous(), sample_rate


def _check_regular_file(path: Path) -> None:
    """Raises `AudioReadError` saying what `path` is when it is not a readable regular file."""
    if (reason := why_not_a_readable_file(path)) is not None:
        raise AudioReadError(f"{path}: {reason.replace('a folder, not a file', 'a folder, not an audio file')}")


def find_audio_files(inputs: Iterable[str | os.PathLike]) -> list[Path]:
    """Files and folders -> audio files, in a deterministic order.

    Each input is taken in the order given: a folder becomes its audio files (suffix in `AUDIO_EXTENSIONS`,
    searched recursively, hidden files and folders skipped: they hold temporaries of interrupted writes),
    sorted by their path relative to the folder; anything else is kept as given (a missing or unreadable
    file is reported when it is read, so that it fails alone). A path listed twice is kept once.
    Raises `AudioReadError` for a folder without audio files.
    """
    found: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files = sorted(
                (p for p in path.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file()
                 and not any(part.startswith(".") for part in p.relative_to(path).parts)),
                key=lambda p: p.relative_to(path).as_posix(),
            )
            if not files:
                raise AudioReadError(f"{path}: no audio files ({', '.join(AUDIO_EXTENSIONS)}) in this folder")
            found += files
        else:
            found.append(path)
    return list(dict.fromkeys(found))


def _warn_if_suspicious(path: Path, data: torch.Tensor, sample_rate: int) -> None:
    """Warns (SuspiciousAudioWarning, with the numbers) about audio that decodes but is probably wrong.

    Such audio is still processed: a float file a little past full scale is legitimate, only the user knows.
    """
    magnitude = data.abs()
    warn_about_peak(path, float(magnitude.max()), int((magnitude > 1.0).sum()), data.numel())
    warn_if_truncated(path, data.shape[-1], sample_rate)


def warn_about_peak(path: Path, peak: float, beyond: int, total: int) -> None:
    """Warns when samples pass full scale: `beyond` of `total` samples (all channels) reach up to `peak`."""
    if peak > 1.0:
        hint = (
            "; it looks like integer PCM stored as float without scaling (divide int16 values by 32768)"
            if peak >= _UNSCALED_PCM_PEAK
            else ""
        )
        warnings.warn(
            f"{path}: samples reach {peak:g}, beyond the [-1, 1] full scale the codec expects "
            f"({beyond} of {total} samples){hint}",
            SuspiciousAudioWarning,
            stacklevel=3,
        )


def warn_if_truncated(path: Path, decoded: int, sample_rate: int) -> None:
    """Warns when a wav's header declares more sample frames than the `decoded` ones it holds."""
    if path.suffix.lower() == ".wav" and (declared := _declared_wav_frames(path)) is not None and declared > decoded:
        warnings.warn(
            f"{path}: the file is truncated: its header declares {declared} samples "
            f"({declared / sample_rate:.2f} s) but it holds {decoded} ({decoded / sample_rate:.2f} s)",
            SuspiciousAudioWarning,
            stacklevel=3,
        )


def _declared_wav_frames(path: Path) -> int | None:
    """Sample frames a RIFF/WAVE header declares for its data chunk (None: not a plain wav, or size unknown).

    Decoders (libsndfile, ffmpeg) silently return what is there, so a cut-off file needs the header to show.
    """
    with open(path, "rb") as handle:
        if handle.read(12)[8:12] != b"WAVE":
            return None
        block_align = None
        while len(header := handle.read(8)) == 8:
            chunk_id, size = header[:4], struct.unpack("<I", header[4:])[0]
            if chunk_id == b"fmt ":
                if size < 16:
                    return None
                block_align = struct.unpack("<H", handle.read(16)[12:14])[0]
                handle.seek(size - 16 + (size & 1), os.SEEK_CUR)
            elif chunk_id == b"data":
                # 0 and 0xFFFFFFFF mean "unknown" (streamed writers, RF64), not "empty".
                return None if not block_align or size in (0, 0xFFFFFFFF) else size // block_align
            else:
                handle.seek(size + (size & 1), os.SEEK_CUR)
    return None


def save_audio(path: str | os.PathLike, waveform: torch.Tensor | np.ndarray, sample_rate: int) -> Path:
    """Writes mono audio `(L,)` as 16-bit PCM wav atomically (temporary file, then rename)."""
    array = waveform.detach().float().cpu().numpy() if isinstance(waveform, torch.Tensor) else np.asarray(waveform)
    array = np.clip(array.reshape(-1), -1.0, 1.0)
    return write_atomically(
        path, lambda target: soundfile.write(target, array, sample_rate, subtype="PCM_16", format="WAV"), ".wav"
    )


def save_array(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Writes a `.npy` file atomically."""

    def write(target: str) -> None:
        with open(target, "wb") as handle:
            np.save(handle, array)

    return write_atomically(path, write, ".npy")


def save_text(path: str | os.PathLike, text: str) -> Path:
    """Writes a UTF-8 text file atomically."""
    return write_atomically(path, lambda target: Path(target).write_text(text, encoding="utf-8"), ".txt")
