"""Long files window by window: memory stays flat with the length of the audio.

`encode_file_windowed` reads a lossless file (WAV, FLAC, AIFF: PCM or float samples, read by libsndfile) one
window at a time and encodes each window with its context, exactly as `LLMCodecModel.encode(...,
chunk_length_s=...)` windows audio held in memory, so the codes are the same. `decode_to_wav` decodes codes
window by window into a wav written piece by piece (through a temporary file renamed into place), exactly as
`LLMCodecModel.decode(..., chunk_length_s=...)` does in memory.

Resampling a window: `torchaudio.functional.resample` computes each block of `new / gcd` output samples from
a fixed span of input samples, so a window read with a few blocks of margin and cut at block boundaries
gives the samples the whole file would.

A level-normalising model (`config.normalize_level_dbfs`) scales each item by the RMS of all of it, which a
window does not see: `encode_file_windowed` refuses such a model and the CLI reads those files whole.

Files in lossy formats (mp3, ogg, m4a ...) are decoded whole by `load_audio` (about 4 bytes per sample at
the file's rate and channels, plus the 16 kHz copy), as before.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import soundfile
import torch

from llmcodec.audio import AudioReadError, _check_regular_file, resample, warn_about_peak, warn_if_truncated
from llmcodec.files import write_atomically

# Containers and sample encodings that libsndfile and ffmpeg decode to the same float values.
LOSSLESS_FORMATS = frozenset({"WAV", "WAVEX", "FLAC", "AIFF", "W64", "RF64"})
LOSSLESS_SUBTYPES = frozenset({"PCM_S8", "PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"})
_LOWPASS_FILTER_WIDTH, _ROLLOFF = 6, 0.99  # torchaudio.functional.resample's defaults


class NonFiniteAudioError(ValueError):
    """The model produced NaN or Inf audio; nothing was written."""


def readable_in_windows(path: str | os.PathLike) -> bool:
    """Whether `path` is a lossless file that `AudioWindowReader` reads exactly as `load_audio` does."""
    try:
        info = soundfile.info(str(path))
    except Exception:  # noqa: BLE001 - not a libsndfile format: read whole by load_audio
        return False
    return info.format in LOSSLESS_FORMATS and info.subtype in LOSSLESS_SUBTYPES and info.frames > 0


class AudioWindowReader:
    """Reads ranges of a file's mono signal at `target_sr` without decoding the whole file.

    Samples equal those of `load_audio(path, target_sr)`. Use as a context manager; reads must go forward
    (windows may overlap) for the suspicious-audio checks, which run once, at `close()`.
    """

    def __init__(self, path: str | os.PathLike, target_sr: int):
        self.path = Path(path)
        _check_regular_file(self.path)
        self._file = soundfile.SoundFile(str(self.path))
        self.source_sr, self.target_sr = int(self._file.samplerate), int(target_sr)
        self.source_frames = int(self._file.frames)
        gcd = math.gcd(self.source_sr, self.target_sr)
        self._in_block, self._out_block = self.source_sr // gcd, self.target_sr // gcd
        width = math.ceil(_LOWPASS_FILTER_WIDTH * self._in_block / (_ROLLOFF * min(self._in_block, self._out_block)))
        self._margin_blocks = width // self._in_block + 2
        self.num_samples = math.ceil(self._out_block * self.source_frames / self._in_block)
        self._peak, self._beyond, self._scanned = 0.0, 0, 0

    def __enter__(self) -> AudioWindowReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close(check=exc[0] is None)

    def _read_source(self, start: int, stop: int) -> torch.Tensor:
        self._file.seek(start)
        data = self._file.read(stop - start, dtype="float32", always_2d=True)
        channels = torch.from_numpy(np.ascontiguousarray(data.T))
        if not torch.isfinite(channels).all():
            raise AudioReadError(f"{self.path}: decoded audio contains NaN or Inf samples")
        if stop > self._scanned:  # statistics over each source sample once (windows overlap)
            fresh = channels[:, max(0, self._scanned - start) :].abs()
            self._peak = max(self._peak, float(fresh.max()) if fresh.numel() else 0.0)
            self._beyond += int((fresh > 1.0).sum())
            self._scanned = stop
        return channels.mean(dim=0)

    def read(self, start: int, stop: int) -> torch.Tensor:
        """Samples `[start, stop)` of the mono signal at `target_sr`, `(stop - start,)` float32."""
        start, stop = max(0, start), min(self.num_samples, stop)
        if self._in_block == self._out_block:
            return self._read_source(start, stop)
        first_block, end_block = start // self._out_block, -(-stop // self._out_block)
        source_start = max(0, first_block - self._margin_blocks) * self._in_block
        source_stop = min(self.source_frames, (end_block + self._margin_blocks) * self._in_block)
        piece = resample(self._read_source(source_start, source_stop), self.source_sr, self.target_sr)
        offset = source_start // self._in_block * self._out_block
        return piece[start - offset : stop - offset].contiguous()

    def close(self, check: bool = True) -> None:
        """Closes the file; with `check`, warns (once) about samples beyond full scale or a truncated wav."""
        self._file.close()
        if check:
            warn_about_peak(self.path, self._peak, self._beyond, self.source_frames * self._file.channels)
            warn_if_truncated(self.path, self.source_frames, self.source_sr)


def window_plan(num_frames: int, chunk_frames: int | None, context_frames: int) -> list[tuple[int, int, int, int]]:
    """`(start, end, left, right)` frames of each window: frames `[start, end)` are kept, `[left, right)` coded.

    The grid of `LLMCodecModel`'s windowed encode and decode; None (or a sequence that fits one window)
    gives a single window over everything.
    """
    if chunk_frames is None or num_frames <= chunk_frames:
        return [(0, num_frames, 0, num_frames)]
    return [
        (start, min(start + chunk_frames, num_frames), max(0, start - context_frames),
         min(num_frames, start + chunk_frames + context_frames))
        for start in range(0, num_frames, chunk_frames)
    ]


def chunk_frames(model, chunk_length_s: float | None, chunk_context_s: float) -> tuple[int | None, int]:
    """Window and context sizes in frames for `chunk_length_s` / `chunk_context_s` (as the model rounds them)."""
    if chunk_length_s is None:
        return None, 0
    rate = model.config.frame_rate
    return max(1, int(round(chunk_length_s * rate))), int(round(chunk_context_s * rate))


def encode_file_windowed(
    model,
    path: str | os.PathLike,
    *,
    chunk_length_s: float | None,
    chunk_context_s: float = 5.0,
    codebook_domain: str | None = None,
    device: str | torch.device | None = None,
    compute_dtype: str | torch.dtype | None = None,
    progress: bool = False,
) -> tuple[np.ndarray, bool]:
    """Encodes a lossless file window by window; returns `(codes (T,) int64, encoder output finite)`.

    `progress` shows a bar over the windows. Raises `AudioReadError` for a file that cannot be read, or shorter
    than one code.
    """
    from tqdm.auto import tqdm

    from llmcodec.batching import _compute_context

    if getattr(model.config, "normalize_level_dbfs", None) is not None:
        raise ValueError("a level-normalising model (normalize_level_dbfs) needs the whole item: use encode_batch")
    hop, reach = model.config.hop_length, (model.config.n_fft - model.config.hop_length) // 2
    device = torch.device(device) if device is not None else model.device
    frames, context = chunk_frames(model, chunk_length_s, chunk_context_s)
    pieces, finite = [], True
    with AudioWindowReader(path, model.config.sampling_rate) as reader:
        total = reader.num_samples
        if total < hop:
            raise AudioReadError(f"{path}: {total} samples is shorter than one code ({hop} samples)")
        windows = window_plan(total // hop, frames, context)
        bar = tqdm(windows, desc="encode windows", unit="window", leave=False, disable=not progress or len(windows) == 1)
        for start, end, left, right in bar:
            # Audio past the window's last frame, up to the STFT's reach, as the in-memory windowing reads it.
            waveform = reader.read(left * hop, min(total, right * hop + reach))
            with torch.inference_mode(), _compute_context(device, compute_dtype):
                encoded = model.encode(waveform[None, None].to(device), codebook_domain=codebook_domain)
            keep = slice(start - left, end - left)
            pieces.append(encoded.audio_codes[0, keep].cpu())
            finite = finite and bool(torch.isfinite(encoded.latents_before_quantization[0, keep]).all())
    return torch.cat(pieces).numpy(), finite


def decode_to_wav(
    model,
    codes: np.ndarray | torch.Tensor,
    path: str | os.PathLike,
    *,
    chunk_length_s: float | None,
    chunk_context_s: float = 5.0,
    device: str | torch.device | None = None,
    compute_dtype: str | torch.dtype | None = None,
    progress: bool = False,
) -> Path:
    """Decodes `(T,)` codes window by window into a 16-bit wav at `path`, written atomically.

    `progress` shows a bar over the windows. Raises `NonFiniteAudioError` (and writes nothing) when the model
    produces NaN or Inf audio.
    """
    from tqdm.auto import tqdm

    from llmcodec.batching import _compute_context

    codes = torch.as_tensor(np.asarray(codes) if not isinstance(codes, torch.Tensor) else codes).reshape(-1).long()
    hop, rate = model.config.hop_length, model.config.sampling_rate
    device = torch.device(device) if device is not None else model.device
    frames, context = chunk_frames(model, chunk_length_s, chunk_context_s)

    def write(target: str) -> None:
        with soundfile.SoundFile(target, "w", samplerate=rate, channels=1, subtype="PCM_16", format="WAV") as out:
            windows = window_plan(codes.numel(), frames, context)
            for start, end, left, right in tqdm(windows, desc="decode windows", unit="window", leave=False,
                                                disable=not progress or len(windows) == 1):
                with torch.inference_mode(), _compute_context(device, compute_dtype):
                    audio = model.decode(codes[None, left:right].to(device)).audio_values[0, 0]
                audio = audio[(start - left) * hop : (end - left) * hop].float()
                if not bool(torch.isfinite(audio).all()):
                    raise NonFiniteAudioError("the model produced non-finite audio (NaN or Inf)")
                out.write(np.clip(audio.cpu().numpy(), -1.0, 1.0))

    return write_atomically(path, write, ".wav")
