"""Decoding one audio item for training: a path, bytes or a ``datasets`` audio dict -> ``(T,)`` float32 mono at
16 kHz. Files are read by the project's one audio reader, :func:`llmcodec.audio.load_audio`; in-memory bytes (a
``datasets`` audio cell) by soundfile, or torchcodec for what soundfile cannot read. Failures raise
:class:`AudioDecodeError` so the dataset can skip and count the one bad file (``audio_dataset``)."""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import soundfile as sf
import torch

from llmcodec.audio import resample

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000


class DataError(ValueError):
    """A dataset cannot be used for training (raised before training starts)."""


class AudioDecodeError(RuntimeError):
    """One audio item could not be read."""


# --------------------------------------------------------------------------------------------- decode


def decode_audio(value: Any) -> tuple[torch.Tensor, int]:
    """Decode one audio cell.

    Accepts a path, raw bytes, a ``datasets`` audio dict (``{"array", "sampling_rate"}`` or
    ``{"bytes", "path"}``), or a torchcodec ``AudioDecoder``.

    Returns:
        ``(wave, sample_rate)`` with ``wave`` float32 of shape ``(C, T)`` (``C = 1`` for a file: the reader
        averages its channels).

    Raises:
        AudioDecodeError: if the value cannot be decoded or holds no samples.
    """
    try:
        wave, sr = _decode(value)
    except AudioDecodeError:
        raise
    except Exception as e:
        raise AudioDecodeError(f"cannot decode audio {_describe(value)}: {type(e).__name__}: {e}") from e
    if wave.numel() == 0:
        raise AudioDecodeError(f"audio {_describe(value)} has no samples")
    if not torch.isfinite(wave).all():
        raise AudioDecodeError(f"audio {_describe(value)} contains NaN or inf")
    return wave, sr


def _decode(value: Any) -> tuple[torch.Tensor, int]:
    if hasattr(value, "get_all_samples"):  # torchcodec AudioDecoder (datasets >= 4 decoded Audio)
        s = value.get_all_samples()
        return s.data.float(), int(s.sample_rate)
    if isinstance(value, Mapping):
        if value.get("array") is not None:
            arr = np.asarray(value["array"], dtype=np.float32)
            if arr.ndim == 1:
                arr = arr[None]
            elif arr.ndim == 2 and arr.shape[0] > arr.shape[1]:
                arr = arr.T  # (T, C) -> (C, T)
            return torch.from_numpy(np.ascontiguousarray(arr)), int(value["sampling_rate"])
        if value.get("bytes"):
            return _decode_bytes(value["bytes"], value.get("path"))
        if value.get("path"):
            return _decode_path(value["path"])
        raise AudioDecodeError(f"audio dict without array, bytes or path: keys {sorted(value)}")
    if isinstance(value, (bytes, bytearray)):
        return _decode_bytes(bytes(value), None)
    if isinstance(value, (str, os.PathLike)):
        return _decode_path(os.fspath(value))
    raise AudioDecodeError(f"unsupported audio value of type {type(value).__name__}")


def _decode_path(path: str) -> tuple[torch.Tensor, int]:
    from llmcodec.audio import AudioReadError, load_audio

    try:
        wave, sample_rate = load_audio(path, target_sr=None)  # mono (T,) at the file's own rate
    except AudioReadError as error:
        raise AudioDecodeError(str(error)) from error
    return wave[None], int(sample_rate)


def _decode_bytes(data: bytes, path: str | None) -> tuple[torch.Tensor, int]:
    try:
        x, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
        return torch.from_numpy(x.T.copy()), int(sr)
    except Exception as sf_error:
        return _torchcodec(data, sf_error, path or "<bytes>")


def _torchcodec(source: str | bytes, sf_error: Exception, name: str) -> tuple[torch.Tensor, int]:
    # soundfile has no mp3/m4a/opus-in-mp4 on every libsndfile; torchcodec (FFmpeg) reads them.
    try:
        from torchcodec.decoders import AudioDecoder

        s = AudioDecoder(source).get_all_samples()
        return s.data.float(), int(s.sample_rate)
    except Exception as tc_error:
        raise AudioDecodeError(
            f"cannot decode audio {name}: soundfile: {sf_error}; torchcodec: {type(tc_error).__name__}: {tc_error}"
        ) from tc_error


def to_mono(wave: torch.Tensor, sample_rate: int, target_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """Average channels and resample.

    Args:
        wave: ``(C, T)`` or ``(T,)``.

    Returns:
        float32 ``(T',)`` at ``target_rate``.
    """
    x = wave.float()
    if x.dim() == 2:
        x = x.mean(dim=0)
    if sample_rate != target_rate:
        x = resample(x, sample_rate, target_rate)
    return x.contiguous()


def _describe(value: Any) -> str:
    if isinstance(value, Mapping):
        return repr(value.get("path") or "<in-memory>")
    if isinstance(value, (str, os.PathLike)):
        return repr(os.fspath(value))
    return f"<{type(value).__name__}>"
