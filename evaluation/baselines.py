"""Classical-codec baselines: Codec2 (700C / 1200 / 3200 bps) and Opus (6 kbps).

Each baseline maps 16 kHz mono audio to its reconstruction at 16 kHz with the same length, by
running the Debian command-line tools in a temporary folder:

* Codec2 (apt package ``codec2``): ``c2enc MODE in.raw out.bit`` / ``c2dec MODE out.bit out.raw``.
  Codec2 works on 8 kHz signed 16-bit raw PCM, so the input is resampled 16 → 8 kHz and the output
  8 → 16 kHz with torchaudio; the 8 kHz output is band-limited to 4 kHz, as the codec is. The
  decoder's delay (an estimate per mode, see :data:`CODEC2_DELAY_16K`) is removed by default.
* Opus (apt package ``opus-tools``): ``opusenc --bitrate 6 in.wav out.opus`` /
  ``opusdec --no-dither --rate 16000 out.opus out.wav`` (no dither, so the output is
  deterministic). opusdec strips the encoder pre-skip, so the output is
  time-aligned; it is then cropped or zero-padded to the input length.

The reported bitrate is the codec's nominal rate (Codec2 modes are constant bit rate; for Opus the
measured rate from the Ogg file size is also returned, container overhead included).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio

SAMPLE_RATE = 16_000
CODEC2_RATE = 8_000
CODEC2_MODES: dict[str, int] = {"700C": 700, "1200": 1200, "3200": 3200}
# Codec2's decoder output lags its input (analysis window + frame interpolation). These delays, in
# samples at 16 kHz, are the median lag of log-energy envelopes over 10 espeak-ng utterances (two
# voices); per-clip estimates scatter by about ±60 samples. Without this shift STOI drops by ~0.2.
CODEC2_DELAY_16K: dict[str, int] = {"700C": 384, "1200": 280, "3200": 280}
OPUS_BITRATE_KBPS = 6.0
_TOOL_PACKAGES = {"c2enc": "codec2", "c2dec": "codec2", "opusenc": "opus-tools", "opusdec": "opus-tools"}


class MissingToolError(RuntimeError):
    """A codec command-line tool is not installed."""


class BaselineError(RuntimeError):
    """A codec tool ran but failed."""


@dataclass(frozen=True)
class BaselineResult:
    """Output of a baseline codec.

    Attributes:
        audio: ``(L,)`` float32 reconstruction at 16 kHz, same length as the input.
        bitrate_bps: nominal bitrate in bits per second.
        measured_bitrate_bps: size of the encoded file (bits) / input duration (s).
        name: e.g. ``"codec2_700C"`` or ``"opus_6kbps"``.
    """

    audio: torch.Tensor
    bitrate_bps: float
    measured_bitrate_bps: float
    name: str


def _require_tool(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise MissingToolError(
            f"'{tool}' not found: install the Debian package '{_TOOL_PACKAGES[tool]}' "
            f"(apt-get install -y {_TOOL_PACKAGES[tool]})"
        )
    return path


def _run(command: list[str]) -> None:
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise BaselineError(
            f"{Path(command[0]).name} failed with exit code {completed.returncode}: "
            f"{(completed.stderr or completed.stdout).strip()[-500:]}"
        )


def _check_input(audio: torch.Tensor) -> torch.Tensor:
    audio = torch.as_tensor(audio).detach().to("cpu", torch.float32)
    if audio.ndim == 2 and audio.shape[0] == 1:
        audio = audio[0]
    if audio.ndim != 1 or audio.numel() == 0:
        raise ValueError(f"expected non-empty mono audio of shape (L,), got {tuple(audio.shape)}")
    if not bool(torch.isfinite(audio).all()):
        raise ValueError("audio contains NaN/Inf samples")
    return audio


def _to_int16(audio: torch.Tensor) -> np.ndarray:
    return (audio.clamp(-1.0, 32767 / 32768) * 32768).round().to(torch.int16).numpy()


def _fit_length(audio: torch.Tensor, length: int) -> torch.Tensor:
    if audio.numel() >= length:
        return audio[:length]
    return torch.nn.functional.pad(audio, (0, length - audio.numel()))


def codec2(audio: torch.Tensor, mode: str = "700C", compensate_delay: bool = True) -> BaselineResult:
    """Encode and decode with Codec2.

    Args:
        audio: ``(L,)`` float waveform at 16 kHz in [-1, 1] (clipped to int16 range).
        mode: ``"700C"``, ``"1200"`` or ``"3200"``.
        compensate_delay: drop the mode's estimated decoder delay (:data:`CODEC2_DELAY_16K`) so the
            output is time-aligned with the input, as Opus' pre-skip removal does for Opus.

    Returns:
        :class:`BaselineResult` with 16 kHz audio of length ``L``.

    Raises:
        MissingToolError: ``c2enc``/``c2dec`` missing (apt package ``codec2``).
        ValueError: unknown mode or invalid audio.
    """
    if mode not in CODEC2_MODES:
        raise ValueError(f"unknown Codec2 mode {mode!r}; choose one of {sorted(CODEC2_MODES)}")
    encoder, decoder = _require_tool("c2enc"), _require_tool("c2dec")
    audio = _check_input(audio)
    narrowband = torchaudio.functional.resample(audio, SAMPLE_RATE, CODEC2_RATE)
    with tempfile.TemporaryDirectory(prefix="llmcodec_codec2_") as folder:
        raw_in, bits, raw_out = (Path(folder) / name for name in ("in.raw", "out.bit", "out.raw"))
        _to_int16(narrowband).tofile(raw_in)
        _run([encoder, mode, str(raw_in), str(bits)])
        _run([decoder, mode, str(bits), str(raw_out)])
        decoded = np.fromfile(raw_out, dtype=np.int16).astype(np.float32) / 32768.0
        encoded_bits = bits.stat().st_size * 8
    wideband = torchaudio.functional.resample(torch.from_numpy(decoded), CODEC2_RATE, SAMPLE_RATE)
    if compensate_delay:
        wideband = wideband[CODEC2_DELAY_16K[mode] :]
    duration = audio.numel() / SAMPLE_RATE
    return BaselineResult(
        audio=_fit_length(wideband, audio.numel()),
        bitrate_bps=float(CODEC2_MODES[mode]),
        measured_bitrate_bps=encoded_bits / duration,
        name=f"codec2_{mode}",
    )


def opus(audio: torch.Tensor, bitrate_kbps: float = OPUS_BITRATE_KBPS) -> BaselineResult:
    """Encode and decode with Opus (``opusenc --bitrate``, VBR default) at 16 kHz.

    Args:
        audio: ``(L,)`` float waveform at 16 kHz in [-1, 1].
        bitrate_kbps: target bitrate in kbit/s (6 by default).

    Returns:
        :class:`BaselineResult` with 16 kHz audio of length ``L``.

    Raises:
        MissingToolError: ``opusenc``/``opusdec`` missing (apt package ``opus-tools``).
    """
    encoder, decoder = _require_tool("opusenc"), _require_tool("opusdec")
    audio = _check_input(audio)
    with tempfile.TemporaryDirectory(prefix="llmcodec_opus_") as folder:
        wav_in, packed, wav_out = (Path(folder) / name for name in ("in.wav", "out.opus", "out.wav"))
        sf.write(wav_in, _to_int16(audio), SAMPLE_RATE, subtype="PCM_16")
        _run([encoder, "--quiet", "--bitrate", f"{bitrate_kbps:g}", str(wav_in), str(packed)])
        _run([decoder, "--quiet", "--no-dither", "--rate", str(SAMPLE_RATE), str(packed), str(wav_out)])
        decoded, rate = sf.read(wav_out, dtype="float32", always_2d=True)
        encoded_bits = packed.stat().st_size * 8
    if rate != SAMPLE_RATE:
        raise BaselineError(f"opusdec wrote {rate} Hz audio, expected {SAMPLE_RATE}")
    duration = audio.numel() / SAMPLE_RATE
    return BaselineResult(
        audio=_fit_length(torch.from_numpy(decoded[:, 0].copy()), audio.numel()),
        bitrate_bps=bitrate_kbps * 1000.0,
        measured_bitrate_bps=encoded_bits / duration,
        name=f"opus_{bitrate_kbps:g}kbps",
    )


def run_baseline(name: str, audio: torch.Tensor) -> BaselineResult:
    """Run a baseline by name: ``codec2_700C``, ``codec2_1200``, ``codec2_3200`` or ``opus_6kbps``."""
    if name.startswith("codec2_"):
        return codec2(audio, name.removeprefix("codec2_"))
    if name == "opus_6kbps":
        return opus(audio, OPUS_BITRATE_KBPS)
    raise ValueError(f"unknown baseline {name!r}; choose one of {BASELINE_NAMES}")


BASELINE_NAMES: tuple[str, ...] = tuple(f"codec2_{mode}" for mode in CODEC2_MODES) + ("opus_6kbps",)


def available_baselines() -> list[str]:
    """Baselines whose tools are installed (for reports that include them only where available)."""
    names = []
    if shutil.which("c2enc") and shutil.which("c2dec"):
        names += [f"codec2_{mode}" for mode in CODEC2_MODES]
    if shutil.which("opusenc") and shutil.which("opusdec"):
        names.append("opus_6kbps")
    return names
