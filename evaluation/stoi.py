"""Short-Time Objective Intelligibility (classic STOI, Taal et al. 2011), two implementations.

* :func:`codec_superb_stoi` re-implements the numpy STOI port that Codec-SUPERB uses instead of
  ``pystoi``, including the details that make its numbers differ slightly from ``pystoi``:

  - resampling to 10 kHz with ``scipy.signal.resample_poly`` (``pystoi`` uses its own resampler), in
    float32 because Codec-SUPERB's signals are float32 (``AudioSignal``); the rest runs in float64;
  - silent-frame removal whose frame *energies* are measured one sample early (a MATLAB
    1-based-index leftover: the first frame's window starts at the clip's last sample), while the
    overlap-added frames themselves are taken unshifted; frames start at ``0, 128, ...`` while
    ``start < len - 256``;
  - an STFT that keeps only ``int((len - 256) / 128)`` full frames (one fewer than fit);
  - ``1e-10`` terms in the scale factor, the correlation normalisation and the frame energies;
  - no 40 dB band-energy floor: a silent reference is not an error (every frame counts as
    "loud enough" and the correlation comes out 0).

  Constants: frame 256, FFT 512, 15 one-third-octave bands from 150 Hz, N = 30 frames,
  beta = -15 dB, dynamic range 40 dB. The result is *not* clipped here (the caller clips to [0, 1]).

* :func:`pystoi_stoi` calls ``pystoi.stoi(..., extended=False)``: the textbook reference
  implementation, which detects too-short input itself.

Both raise :class:`StoiError` when no score can be computed; callers decide whether that becomes a
recorded failure or Codec-SUPERB's 0.0 fallback.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import signal

STOI_RATE = 10_000
FRAME = 256
HOP = FRAME // 2
NFFT = 512
NUM_BANDS = 15
LOWEST_CENTER_HZ = 150.0
SEGMENT_FRAMES = 30
BETA_DB = -15.0
DYNAMIC_RANGE_DB = 40.0
_EPS = 1e-10


class StoiError(ValueError):
    """STOI cannot be computed for this pair (too short, silent, or numerically undefined)."""


def _window() -> np.ndarray:
    # Hann of length N + 2 with both zero endpoints dropped, as in the MATLAB reference.
    return signal.windows.hann(FRAME + 2)[1:-1]


def _third_octave_matrix() -> np.ndarray:
    """(NUM_BANDS, NFFT // 2 + 1) 0/1 matrix grouping FFT bins into one-third-octave bands."""
    freqs = np.linspace(0, STOI_RATE, NFFT + 1)[: NFFT // 2 + 1]
    k = np.arange(NUM_BANDS)
    centers = LOWEST_CENTER_HZ * 2.0 ** (k / 3)
    lower = np.sqrt(centers * LOWEST_CENTER_HZ * 2.0 ** ((k - 1) / 3))
    upper = np.sqrt(centers * LOWEST_CENTER_HZ * 2.0 ** ((k + 1) / 3))
    bands = np.zeros((NUM_BANDS, freqs.size))
    for i in range(NUM_BANDS):
        # Band edges snap to the nearest bin; the upper edge bin is excluded.
        bands[i, np.argmin((freqs - lower[i]) ** 2) : np.argmin((freqs - upper[i]) ** 2)] = 1.0
    return bands


_BANDS = _third_octave_matrix()


def _remove_silent_frames(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    window = _window()
    starts = np.arange(0, x.size - FRAME, HOP)
    if starts.size == 0:
        raise StoiError(f"clip too short for STOI: {x.size} samples at 10 kHz, need more than {FRAME}")
    # Energy measured on frames shifted one sample early (index -1 wraps to the last sample).
    energy_index = starts[:, None] - 1 + np.arange(FRAME)[None, :]
    energy_db = 20 * np.log10(np.linalg.norm(x[energy_index] * window, axis=1) / np.sqrt(FRAME) + _EPS)
    keep = (energy_db - energy_db.max() + DYNAMIC_RANGE_DB) > 0
    kept = starts[keep]
    length = (kept.size - 1) * HOP + FRAME
    x_out = np.zeros(length)
    y_out = np.zeros(length)
    for out_index, start in enumerate(kept):
        x_out[out_index * HOP : out_index * HOP + FRAME] += x[start : start + FRAME] * window
        y_out[out_index * HOP : out_index * HOP + FRAME] += y[start : start + FRAME] * window
    return x_out, y_out


def _band_envelopes(x: np.ndarray) -> np.ndarray:
    """(NUM_BANDS, frames) one-third-octave band magnitudes of the Hann-windowed STFT."""
    window = _window()
    num_frames = int((x.size - FRAME) / HOP)  # drops the last full frame, like the port
    if num_frames <= 0:
        return np.zeros((NUM_BANDS, 0))
    frames = np.lib.stride_tricks.sliding_window_view(x, FRAME)[::HOP][:num_frames]
    # scipy.signal.stft's default "spectrum" scaling divides by the window sum.
    spectrum = np.fft.rfft(frames * window, n=NFFT, axis=1) / window.sum()
    return np.sqrt(_BANDS @ (np.abs(spectrum) ** 2).T)


def codec_superb_stoi(reference: np.ndarray, degraded: np.ndarray, sample_rate: int) -> float:
    """Classic STOI as computed by Codec-SUPERB's numpy port (unclipped).

    Args:
        reference, degraded: 1-D float arrays of equal length, at ``sample_rate`` Hz.
        sample_rate: input rate in Hz; signals are resampled to 10 kHz with ``resample_poly``.

    Returns:
        The mean intermediate intelligibility (nominally in [0, 1], higher is better).

    Raises:
        StoiError: fewer than 30 STFT frames remain after silent-frame removal (≈ 0.4 s of active
            audio), or the result is NaN.
    """
    # float32 in, as Codec-SUPERB's audio is (audiotools stores float32), so resample_poly runs in float32.
    x = np.asarray(reference, dtype=np.float32)
    y = np.asarray(degraded, dtype=np.float32)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"STOI needs two 1-D signals of equal length, got {x.shape} and {y.shape}")
    if sample_rate != STOI_RATE:
        x = signal.resample_poly(x, STOI_RATE, sample_rate)
        y = signal.resample_poly(y, STOI_RATE, sample_rate)
    x, y = x.astype(np.float64), y.astype(np.float64)  # the rest of the port runs in float64
    x, y = _remove_silent_frames(x, y)
    x_bands, y_bands = _band_envelopes(x), _band_envelopes(y)
    if x_bands.shape[1] < SEGMENT_FRAMES:
        raise StoiError(
            f"clip too short for STOI: {x_bands.shape[1]} active frames after silence removal, "
            f"need {SEGMENT_FRAMES} (about 0.4 s of non-silent audio)"
        )
    # (bands, segments, N): every window of N consecutive frames.
    x_seg = np.lib.stride_tricks.sliding_window_view(x_bands, SEGMENT_FRAMES, axis=1)
    y_seg = np.lib.stride_tricks.sliding_window_view(y_bands, SEGMENT_FRAMES, axis=1)
    alpha = np.sqrt((x_seg**2).sum(axis=2, keepdims=True) / ((y_seg**2).sum(axis=2, keepdims=True) + _EPS))
    clip_factor = 10 ** (-BETA_DB / 20)
    y_prime = np.minimum(y_seg * alpha, x_seg + x_seg * clip_factor)
    x_n = x_seg - x_seg.mean(axis=2, keepdims=True)
    x_n = x_n / (np.linalg.norm(x_n, axis=2, keepdims=True) + _EPS)
    y_n = y_prime - y_prime.mean(axis=2, keepdims=True)
    y_n = y_n / (np.linalg.norm(y_n, axis=2, keepdims=True) + _EPS)
    per_segment = (x_n * y_n).sum(axis=(0, 2)) / NUM_BANDS
    score = float(per_segment.mean())
    if not np.isfinite(score):
        raise StoiError("STOI is undefined (NaN) for this pair")
    return score


def pystoi_stoi(reference: np.ndarray, degraded: np.ndarray, sample_rate: int) -> float:
    """Textbook classic STOI via ``pystoi.stoi(extended=False)``.

    Raises:
        StoiError: pystoi found too few frames (it otherwise warns and returns 1e-5).
    """
    from pystoi import stoi

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        score = float(stoi(np.asarray(reference, np.float64), np.asarray(degraded, np.float64), sample_rate))
    for warning in caught:
        if "Not enough STFT frames" in str(warning.message):
            raise StoiError(f"clip too short for STOI (pystoi): {warning.message}")
    if not np.isfinite(score):
        raise StoiError("STOI is undefined (NaN) for this pair")
    return score
