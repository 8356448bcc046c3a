"""Recording conditions as data augmentation: level, rooms, background noise, band limits, lossy codecs.

The codec reconstructs what it is given, so a degraded crop is both the input and the target: the model learns to
code speech as users record it (quiet and loud, in rooms, through telephone bands and lossy codecs), not only as the
clean studio prompts of its corpus sound. Every draw comes from the caller's `torch.Generator`, so a seeded data
pipeline gives the same conditions on every run.

    conditions = RecordingConditions()                 # the defaults used for the bundled model
    degraded = conditions.apply(crop, generator)       # (L,) -> (L,) at 16 kHz
"""

from __future__ import annotations

import functools
import math
import shutil
import subprocess
from dataclasses import dataclass

import numpy as np
import torch
import torchaudio

SAMPLE_RATE = 16000


@dataclass(frozen=True)
class RecordingConditions:
    """What can happen to a crop, and how often. Each effect is drawn independently, in the order listed.

    Attributes:
        room_probability: convolve with a simulated room's impulse response (shoebox rooms, RT60 `rt60_s`).
        rt60_s: reverberation time range of the simulated rooms, seconds.
        band_probability: band-limit as a recording at a lower source rate would be (resampled to one of
            `band_rates` and back); 8 kHz also gets a telephone high-pass at 300 Hz.
        band_rates: source rates below 16 kHz to simulate.
        noise_probability: add white, pink or brown noise at an SNR drawn from `noise_snr_db`.
        noise_snr_db: SNR range, dB, relative to the crop's RMS.
        codec_probability: round-trip through a lossy codec (Opus or MP3 via ffmpeg; skipped without ffmpeg). An
            ffmpeg round trip costs a few hundred ms of a core, so keep it rare or run the data loader in workers.
        level_probability: scale to an RMS level drawn from `level_dbfs` (peaks kept below full scale).
        level_dbfs: RMS level range, dBFS.
    """

    room_probability: float = 0.25
    rt60_s: tuple[float, float] = (0.15, 0.7)
    band_probability: float = 0.25
    band_rates: tuple[int, ...] = (8000, 12000)
    noise_probability: float = 0.3
    noise_snr_db: tuple[float, float] = (25.0, 50.0)
    codec_probability: float = 0.05
    level_probability: float = 0.8
    level_dbfs: tuple[float, float] = (-45.0, -12.0)

    def __post_init__(self) -> None:
        for name in ("room_probability", "band_probability", "noise_probability", "codec_probability",
                     "level_probability"):
            value = getattr(self, name)
            if not (0.0 <= value <= 1.0):
                raise ValueError(f"{name} must be a probability in [0, 1], got {value}")
        for name in ("rt60_s", "noise_snr_db", "level_dbfs"):
            low, high = getattr(self, name)
            if not (math.isfinite(low) and math.isfinite(high) and low <= high):
                raise ValueError(f"{name} must be a finite range (low, high), got {(low, high)}")
        if any(not (1000 <= rate < SAMPLE_RATE) for rate in self.band_rates):
            raise ValueError(f"band_rates must lie in [1000, {SAMPLE_RATE}), got {self.band_rates}")

    def apply(self, waveform: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """One draw of recording conditions for a `(L,)` float crop at 16 kHz; returns `(L,)`."""
        x = waveform.float()
        if _draw(generator) < self.room_probability:
            x = add_room(x, _uniform(generator, *self.rt60_s), int(_randint(generator, 2**31)))
        if self.band_rates and _draw(generator) < self.band_probability:
            x = band_limit(x, self.band_rates[_randint(generator, len(self.band_rates))])
        if _draw(generator) < self.noise_probability:
            x = add_noise(x, _uniform(generator, *self.noise_snr_db), ("white", "pink", "brown")[_randint(generator, 3)],
                          generator)
        if _draw(generator) < self.codec_probability and ffmpeg_available():
            codec, bitrate = (("libopus", (8, 12, 16, 24)), ("libmp3lame", (32, 48, 64)))[_randint(generator, 2)]
            x = lossy_round_trip(x, codec, bitrate[_randint(generator, len(bitrate))])
        if _draw(generator) < self.level_probability:
            x = set_level(x, _uniform(generator, *self.level_dbfs))
        return x.clamp(-1.0, 1.0)


def _draw(generator: torch.Generator) -> float:
    return float(torch.rand((), generator=generator))


def _uniform(generator: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * _draw(generator)


def _randint(generator: torch.Generator, high: int) -> int:
    return int(torch.randint(0, high, (), generator=generator))


def rms(x: torch.Tensor) -> float:
    return float(x.pow(2).mean().sqrt())


def set_level(x: torch.Tensor, level_dbfs: float, peak: float = 0.99) -> torch.Tensor:
    """Scales `x` to an RMS of `level_dbfs`, or less where its peak would pass `peak`."""
    current = rms(x)
    if current <= 0.0:
        return x
    gain = 10.0 ** (level_dbfs / 20.0) / current
    top = float(x.abs().max()) * gain
    if top > peak:
        gain *= peak / top
    return x * gain


def add_noise(x: torch.Tensor, snr_db: float, colour: str, generator: torch.Generator) -> torch.Tensor:
    """Adds white, pink (1/f) or brown (1/f²) noise at `snr_db` below the RMS of `x`."""
    white = torch.randn(x.shape[-1], generator=generator)
    if colour != "white":
        spectrum = torch.fft.rfft(white)
        frequency = torch.arange(1, spectrum.shape[-1] + 1, dtype=torch.float32)
        spectrum = spectrum / (frequency if colour == "brown" else frequency.sqrt())
        white = torch.fft.irfft(spectrum, n=x.shape[-1])
    noise_rms = rms(white)
    signal_rms = rms(x)
    if noise_rms == 0.0 or signal_rms == 0.0:
        return x
    return x + white * (signal_rms * 10.0 ** (-snr_db / 20.0) / noise_rms)


def band_limit(x: torch.Tensor, source_rate: int) -> torch.Tensor:
    """What a recording made at `source_rate` keeps: resampled down and back; 8 kHz also loses < 300 Hz."""
    down = torchaudio.functional.resample(x, SAMPLE_RATE, source_rate)
    if source_rate == 8000:
        down = torchaudio.functional.highpass_biquad(down, source_rate, 300.0)
    up = torchaudio.functional.resample(down, source_rate, SAMPLE_RATE)
    return _fit(up, x.shape[-1])


@functools.lru_cache(maxsize=1)
def _room_bank(size: int = 48, seed: int = 0) -> tuple[tuple[float, np.ndarray], ...]:
    """Impulse responses of `size` simulated shoebox rooms (pyroomacoustics), built once, each with its RT60."""
    import pyroomacoustics as pra

    rng = np.random.default_rng(seed)
    bank = []
    while len(bank) < size:
        dims = rng.uniform([3.0, 3.0, 2.4], [10.0, 8.0, 4.0])
        rt60 = float(rng.uniform(0.15, 0.9))
        try:
            absorption, max_order = pra.inverse_sabine(rt60, dims)
        except ValueError:  # an RT60 this room cannot have
            continue
        room = pra.ShoeBox(dims, fs=SAMPLE_RATE, materials=pra.Material(absorption), max_order=min(max_order, 30))
        margin = 0.5
        room.add_source(rng.uniform(margin, dims - margin))
        room.add_microphone(rng.uniform(margin, dims - margin))
        room.compute_rir()
        rir = np.asarray(room.rir[0][0], dtype=np.float32)
        bank.append((rt60, rir / np.abs(rir).max()))
    return tuple(bank)


def add_room(x: torch.Tensor, rt60: float, choice: int) -> torch.Tensor:
    """Convolves `x` with the simulated room whose RT60 is nearest `rt60` (ties broken by `choice`)."""
    bank = _room_bank()
    order = sorted(range(len(bank)), key=lambda i: (abs(bank[i][0] - rt60), (i + choice) % len(bank)))
    rir = torch.from_numpy(bank[order[0]][1])
    direct = int(rir.abs().argmax())  # keep the speech where it was: start at the direct path
    wet = torchaudio.functional.fftconvolve(x, rir[direct:])[: x.shape[-1]]
    scale = rms(x) / max(rms(wet), 1e-12)
    return wet * scale


@functools.lru_cache(maxsize=1)
def ffmpeg_available() -> bool:
    return shutil.which("ffmpeg") is not None


def lossy_round_trip(x: torch.Tensor, codec: str, kbps: int) -> torch.Tensor:
    """Encodes `x` with ffmpeg's `codec` at `kbps` and decodes it back to 16 kHz; the same length as `x`."""
    container = "ogg" if codec == "libopus" else "mp3"
    common = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error"]
    pcm = x.clamp(-1.0, 1.0).numpy().astype(np.float32).tobytes()
    encoded = subprocess.run(
        common + ["-f", "f32le", "-ar", str(SAMPLE_RATE), "-ac", "1", "-i", "pipe:0",
                  "-c:a", codec, "-b:a", f"{kbps}k", "-f", container, "pipe:1"],
        input=pcm, capture_output=True, timeout=60, check=True,
    ).stdout
    decoded = subprocess.run(
        common + ["-i", "pipe:0", "-f", "f32le", "-ar", str(SAMPLE_RATE), "-ac", "1", "pipe:1"],
        input=encoded, capture_output=True, timeout=60, check=True,
    ).stdout
    return _fit(torch.from_numpy(np.frombuffer(decoded, dtype=np.float32).copy()), x.shape[-1])


def _fit(x: torch.Tensor, length: int) -> torch.Tensor:
    return x[:length] if x.shape[-1] >= length else torch.nn.functional.pad(x, (0, length - x.shape[-1]))
