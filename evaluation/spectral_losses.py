"""Multi-scale mel and STFT distances with Codec-SUPERB's (DAC / audiotools) definitions.

Both distances follow ``MelSpectrogramLoss`` / ``MultiScaleSTFTLoss`` with their default settings, as
used by Codec-SUPERB's ``get_metrics``:

* two scales, window lengths ``[2048, 512]``, hop ``w // 4``, periodic Hann window, ``center=True``
  with reflect padding, ``n_fft = w``, magnitude (not power) spectra;
* per scale: ``mean|log10(max(X, 1e-5)^2) - log10(max(Y, 1e-5)^2)| + mean|X - Y|`` (L1 with mean
  reduction), summed over scales;
* mel: ``n_mels = [150, 80]``, ``fmin = 0``, ``fmax = sr / 2`` with librosa's default filterbank.

librosa's default ``librosa.filters.mel`` is the Slaney mel scale (linear below 1 kHz, logarithmic
above) with Slaney area normalisation (each triangle scaled by ``2 / (f_hi - f_lo)``). torchaudio's
``MelSpectrogram(mel_scale="slaney", norm="slaney")`` builds the same triangles on the same
``linspace(0, sr/2, n_fft//2 + 1)`` bin grid, so no hand-written filterbank is needed; the test
suite checks it against an independent numpy construction of the Slaney filterbank.

Signals must be at least ``window // 2 + 1`` samples long (reflect padding); shorter inputs raise.
"""

from __future__ import annotations

from functools import lru_cache

import torch
import torchaudio

WINDOW_LENGTHS: tuple[int, ...] = (2048, 512)
MEL_BANDS: tuple[int, ...] = (150, 80)
CLAMP_EPS = 1e-5
LOG_POWER = 2.0


@lru_cache(maxsize=32)
def _spectrogram(window_length: int) -> torchaudio.transforms.Spectrogram:
    return torchaudio.transforms.Spectrogram(
        n_fft=window_length,
        win_length=window_length,
        hop_length=window_length // 4,
        window_fn=torch.hann_window,  # periodic, like scipy.signal.get_window("hann")
        power=1.0,  # magnitude
        center=True,
        pad_mode="reflect",
        normalized=False,
    )


@lru_cache(maxsize=32)
def _mel_spectrogram(sample_rate: int, window_length: int, n_mels: int) -> torchaudio.transforms.MelSpectrogram:
    return torchaudio.transforms.MelSpectrogram(
        sample_rate=sample_rate,
        n_fft=window_length,
        win_length=window_length,
        hop_length=window_length // 4,
        f_min=0.0,
        f_max=sample_rate / 2,
        n_mels=n_mels,
        window_fn=torch.hann_window,
        power=1.0,  # audiotools applies the filterbank to |STFT|, not |STFT|^2
        center=True,
        pad_mode="reflect",
        norm="slaney",
        mel_scale="slaney",  # librosa.filters.mel defaults (htk=False, norm="slaney")
    )


def _check_length(reference: torch.Tensor, window_length: int) -> None:
    if reference.shape[-1] <= window_length // 2:
        raise ValueError(
            f"clip too short for a {window_length}-sample STFT window: {reference.shape[-1]} samples, "
            f"need more than {window_length // 2} (reflect padding)"
        )


def _two_term_l1(x_mag: torch.Tensor, y_mag: torch.Tensor) -> torch.Tensor:
    log_x = x_mag.clamp(min=CLAMP_EPS).pow(LOG_POWER).log10()
    log_y = y_mag.clamp(min=CLAMP_EPS).pow(LOG_POWER).log10()
    return (log_x - log_y).abs().mean() + (x_mag - y_mag).abs().mean()


def _as_float32(reference: torch.Tensor, degraded: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if reference.shape != degraded.shape:
        raise ValueError(f"shapes differ: reference {tuple(reference.shape)}, degraded {tuple(degraded.shape)}")
    return reference.float(), degraded.float()


def mel_distance(reference: torch.Tensor, degraded: torch.Tensor, sample_rate: int) -> float:
    """Codec-SUPERB ``mel``: multi-scale log+linear L1 distance between mel magnitude spectrograms.

    Args:
        reference, degraded: waveforms of identical shape ``(L,)`` (or ``(C, L)``), float, at
            ``sample_rate`` Hz.
        sample_rate: rate in Hz used to place the mel filters (Codec-SUPERB uses the native rate).

    Returns:
        The distance (lower is better; 0 for identical signals).
    """
    reference, degraded = _as_float32(reference, degraded)
    total = torch.zeros((), dtype=torch.float64)
    for window_length, n_mels in zip(WINDOW_LENGTHS, MEL_BANDS):
        _check_length(reference, window_length)
        transform = _mel_spectrogram(int(sample_rate), window_length, n_mels)
        total += _two_term_l1(transform(reference), transform(degraded)).double()
    return float(total)


def stft_distance(reference: torch.Tensor, degraded: torch.Tensor) -> float:
    """Codec-SUPERB ``stft``: multi-scale log+linear L1 distance between STFT magnitudes.

    Args:
        reference, degraded: waveforms of identical shape ``(L,)`` (or ``(C, L)``), float.

    Returns:
        The distance (lower is better; 0 for identical signals).
    """
    reference, degraded = _as_float32(reference, degraded)
    total = torch.zeros((), dtype=torch.float64)
    for window_length in WINDOW_LENGTHS:
        _check_length(reference, window_length)
        transform = _spectrogram(window_length)
        total += _two_term_l1(transform(reference), transform(degraded)).double()
    return float(total)


def waveform_distance(reference: torch.Tensor, degraded: torch.Tensor) -> float:
    """Codec-SUPERB ``waveform``: mean absolute sample difference (``nn.L1Loss``), lower is better."""
    reference, degraded = _as_float32(reference, degraded)
    return float((reference - degraded).abs().mean())
