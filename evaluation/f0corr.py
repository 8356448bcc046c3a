"""F0 correlation (Codec-SUPERB ``f0corr``): Pearson correlation of DTW-aligned pitch contours.

Definition (Codec-SUPERB ``F0CorrLoss`` with its defaults):

1. Pitch with Praat's autocorrelation tracker (``praat-parselmouth``):
   ``to_pitch_ac(time_step=256 / rate, voicing_threshold=0.6, pitch_floor=50, pitch_ceiling=1100)``.
   **Quirk:** Codec-SUPERB always declares ``rate = 22050`` Hz, whatever the real rate (in practice
   16 kHz, because PESQ resampled the signals in place first). Declaring 22,050 Hz for 16 kHz audio
   scales every frequency by 22050/16000, so the effective search range is about 36–798 Hz and the
   hop about 16 ms. Cents are scale-invariant after median subtraction, so only the range and hop
   change. Pass ``assumed_sample_rate=None`` for the textbook variant (true rate, same 50–1100 Hz
   range, same 11.6 ms hop in seconds).
2. Keep voiced frames only (Praat reports 0 Hz when unvoiced), convert to cents
   ``1200 * log2(f / 440)`` and subtract the median.
3. Align the two contours with dynamic time warping (|a - b| cost, steps (1,1), (0,1), (1,0), equal
   weights: librosa's ``sequence.dtw`` defaults, re-implemented here to avoid a numba dependency).
4. Pearson correlation over the aligned pairs.

Failures (no voiced frame, fewer than 2 frames, constant contour so the correlation is undefined)
raise :class:`F0CorrError`; Codec-SUPERB turns those into 0.0.
"""

from __future__ import annotations

import numpy as np

CODEC_SUPERB_ASSUMED_RATE = 22_050
HOP_SAMPLES_AT_22K = 256
PITCH_FLOOR_HZ = 50.0
PITCH_CEILING_HZ = 1100.0
VOICING_THRESHOLD = 0.6


class F0CorrError(ValueError):
    """F0 correlation cannot be computed for this pair (e.g. no voiced frames)."""


def pitch_contour(audio: np.ndarray, sample_rate: int, assumed_sample_rate: int | None = CODEC_SUPERB_ASSUMED_RATE) -> np.ndarray:
    """Praat autocorrelation pitch of a 1-D signal.

    Args:
        audio: 1-D float waveform.
        sample_rate: its true rate in Hz (used only when ``assumed_sample_rate`` is None).
        assumed_sample_rate: rate declared to Praat; Codec-SUPERB uses 22,050 Hz.

    Returns:
        ``(frames,)`` float64 pitch in Hz as Praat sees it, 0 for unvoiced frames.
    """
    try:
        import parselmouth
    except ImportError as error:  # pragma: no cover - exercised only without the dependency
        raise ImportError(
            "f0corr needs Praat's pitch tracker: pip install praat-parselmouth"
        ) from error
    rate = float(assumed_sample_rate or sample_rate)
    sound = parselmouth.Sound(np.asarray(audio, dtype=np.float64), sampling_frequency=rate)
    pitch = sound.to_pitch_ac(
        # 256 samples at the declared 22,050 Hz; the textbook variant keeps the same hop in seconds.
        time_step=HOP_SAMPLES_AT_22K / CODEC_SUPERB_ASSUMED_RATE,
        voicing_threshold=VOICING_THRESHOLD,
        pitch_floor=PITCH_FLOOR_HZ,
        pitch_ceiling=PITCH_CEILING_HZ,
    )
    return np.asarray(pitch.selected_array["frequency"], dtype=np.float64)


def _median_cents(f0_hz: np.ndarray, which: str) -> np.ndarray:
    voiced = f0_hz[f0_hz > 0]
    if voiced.size == 0:
        raise F0CorrError(f"no voiced frames in the {which} signal")
    cents = 1200.0 * np.log2(voiced / 440.0)
    return cents - np.median(cents)


def dtw_path(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Optimal DTW alignment of two 1-D sequences with |a_i - b_j| cost.

    Steps (1,1), (0,1), (1,0) with equal weight; ties prefer the diagonal, then (0,1), then (1,0)
    (librosa's order). Returns ``(path_len, 2)`` int index pairs from (0, 0) to (len(a)-1, len(b)-1).
    """
    cost = np.abs(a[:, None] - b[None, :])
    n, m = cost.shape
    acc = np.empty((n, m))
    acc[0] = np.cumsum(cost[0])
    for i in range(1, n):
        # Best of diagonal / vertical entry per cell, then resolve the horizontal chain as a
        # prefix minimum: acc[i, j] = S[j] + min_{k<=j}(entry[k] - S[k]), with S = cumsum(cost[i]).
        entry = np.minimum(acc[i - 1], np.concatenate(([np.inf], acc[i - 1, :-1]))) + cost[i]
        running = np.cumsum(cost[i])
        acc[i] = running + np.minimum.accumulate(entry - running)
    path = [(n - 1, m - 1)]
    i, j = n - 1, m - 1
    while i > 0 or j > 0:
        candidates = (
            acc[i - 1, j - 1] if i > 0 and j > 0 else np.inf,
            acc[i, j - 1] if j > 0 else np.inf,
            acc[i - 1, j] if i > 0 else np.inf,
        )
        step = int(np.argmin(candidates))
        i, j = (i - 1, j - 1) if step == 0 else (i, j - 1) if step == 1 else (i - 1, j)
        path.append((i, j))
    return np.asarray(path[::-1], dtype=np.int64)


def f0_correlation(
    reference: np.ndarray,
    degraded: np.ndarray,
    sample_rate: int,
    assumed_sample_rate: int | None = CODEC_SUPERB_ASSUMED_RATE,
) -> float:
    """Codec-SUPERB ``f0corr`` between two 1-D signals (higher is better, at most 1).

    Raises:
        F0CorrError: no voiced frames in either signal, fewer than 2 voiced frames, or an
            undefined (constant-contour) correlation.
    """
    ref_cents = _median_cents(pitch_contour(reference, sample_rate, assumed_sample_rate), "reference")
    deg_cents = _median_cents(pitch_contour(degraded, sample_rate, assumed_sample_rate), "degraded")
    if min(ref_cents.size, deg_cents.size) <= 1:
        raise F0CorrError("fewer than 2 voiced frames: correlation undefined")
    path = dtw_path(ref_cents, deg_cents)
    x, y = ref_cents[path[:, 0]], deg_cents[path[:, 1]]
    if np.std(x) == 0 or np.std(y) == 0:
        raise F0CorrError("constant pitch contour: correlation undefined")
    return float(np.corrcoef(x, y)[0, 1])
