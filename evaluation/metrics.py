"""Codec-SUPERB reconstruction metrics for one (reference, degraded) pair, and their aggregation.

Metrics (same names and directions as Codec-SUPERB's ``get_metrics``):

========== ========= ===========================================================================
name       better    definition (default, Codec-SUPERB)
========== ========= ===========================================================================
mel        lower     multi-scale mel L1 (log + linear), at the reference's native rate
stft       lower     multi-scale STFT L1 (log + linear), native rate
waveform   lower     mean |x - y|, native rate
pesq       higher    wide-band PESQ (ITU-T P.862.2, ``pesq`` package) at 16 kHz
stoi       higher    classic STOI, Codec-SUPERB's numpy port, on the 16 kHz signals, clipped to [0, 1]
f0corr     higher    Pearson correlation of DTW-aligned Praat pitch (cents), on the 16 kHz signals,
                     Praat told the audio is 22,050 Hz
========== ========= ===========================================================================

Codec-SUPERB also writes ``pesq-wb``, which is the same function as ``pesq``; it is not repeated.

**Quirks and their switches** (:class:`MetricOptions`):

* ``intelligibility_at_16k`` — Codec-SUPERB's PESQ resamples both signals to 16 kHz *in place*, so
  the later STOI and F0Corr also see 16 kHz audio. ``False`` runs them at the native rate.
* ``stoi_backend`` — ``"codec_superb"`` (its numpy port, see :mod:`.stoi`) or ``"pystoi"``.
* ``f0_assumed_sample_rate`` — 22,050 (Codec-SUPERB) or ``None`` (the signal's true rate).
* ``length_alignment`` — ``"pad"``: right-zero-pad the shorter signal (Codec-SUPERB's
  ``pad_arrays_to_match``) or ``"crop"``: cut both to the shorter length.
* ``f0corr_fallback`` — ``True`` (default): an F0Corr that cannot be computed (no voiced frames in a
  clip, fewer than two, a flat contour, a silent reference) is 0.0, as Codec-SUPERB and its leaderboard
  score it, so means are comparable with the leaderboard's; ``False`` (``--strict-f0corr``) makes it
  ``NaN`` (``null`` in JSON) and leaves it out of the mean. The reason is recorded either way.
* ``failure_fallback`` — ``False`` (default): a PESQ/STOI/mel/stft/waveform that cannot be computed is
  ``NaN`` and its reason is in ``result["errors"]``; ``True`` reproduces Codec-SUPERB's numbers for
  all of them: PESQ 1.0, STOI 0.0, F0Corr 0.0 (mel/stft/waveform stay NaN, as upstream).

Presets: :meth:`MetricOptions.codec_superb` (definitions and rate quirks, F0Corr failures 0.0 as on the
leaderboard, other failures NaN; the default), :meth:`MetricOptions.codec_superb_compat` (every
fallback number) and :meth:`MetricOptions.textbook` (``pystoi``, native rates, true F0 rate, crop
alignment, every failure NaN). :meth:`MetricOptions.describe` says which conventions a result used.

**Alignment of a pair** (all modes): the degraded signal is resampled to the reference rate with
``torchaudio.functional.resample`` (Codec-SUPERB uses julius' ``resample_frac``; both are windowed
sinc, results differ slightly), then lengths are matched by ``length_alignment``. Resampling to
16 kHz for PESQ/STOI/F0Corr also uses torchaudio. Codec-SUPERB's PCM16 round trip of the reference
is a property of how files are stored and is not applied here.

**Bad input**: NaN/Inf samples, empty, or multi-channel signals raise :class:`InvalidAudioError`.
Silent references and too-short clips are metric failures (see ``f0corr_fallback`` and ``failure_fallback``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import torch
import torchaudio

from .f0corr import CODEC_SUPERB_ASSUMED_RATE, f0_correlation
from .spectral_losses import mel_distance, stft_distance, waveform_distance
from .stoi import codec_superb_stoi, pystoi_stoi

METRIC_NAMES: tuple[str, ...] = ("mel", "stft", "waveform", "pesq", "stoi", "f0corr")
HIGHER_IS_BETTER: dict[str, bool] = {
    "mel": False,
    "stft": False,
    "waveform": False,
    "pesq": True,
    "stoi": True,
    "f0corr": True,
}
PESQ_RATE = 16_000
# Codec-SUPERB's values for a metric that raised (mel/stft/waveform become NaN upstream too).
CODEC_SUPERB_FALLBACK: dict[str, float] = {
    "mel": math.nan,
    "stft": math.nan,
    "waveform": math.nan,
    "pesq": 1.0,
    "stoi": 0.0,
    "f0corr": 0.0,
}
_SILENCE_PEAK = 1e-8


class InvalidAudioError(ValueError):
    """The input audio cannot be scored at all (NaN/Inf samples, empty, not mono)."""


@dataclass(frozen=True)
class MetricOptions:
    """Which Codec-SUPERB quirks to apply; see the module docstring for each switch."""

    stoi_backend: Literal["codec_superb", "pystoi"] = "codec_superb"
    intelligibility_at_16k: bool = True
    f0_assumed_sample_rate: int | None = CODEC_SUPERB_ASSUMED_RATE
    length_alignment: Literal["pad", "crop"] = "pad"
    failure_fallback: bool = False
    f0corr_fallback: bool = True

    def __post_init__(self) -> None:
        if self.stoi_backend not in ("codec_superb", "pystoi"):
            raise ValueError(f"stoi_backend must be 'codec_superb' or 'pystoi', got {self.stoi_backend!r}")
        if self.length_alignment not in ("pad", "crop"):
            raise ValueError(f"length_alignment must be 'pad' or 'crop', got {self.length_alignment!r}")

    @classmethod
    def codec_superb(cls) -> "MetricOptions":
        """Codec-SUPERB definitions and rate quirks; F0Corr failures 0.0 (the leaderboard's), others NaN."""
        return cls()

    @classmethod
    def codec_superb_compat(cls) -> "MetricOptions":
        """Bit-for-bit Codec-SUPERB behaviour, including PESQ 1.0 / STOI 0.0 / F0Corr 0.0 fallbacks."""
        return cls(failure_fallback=True)

    @classmethod
    def textbook(cls) -> "MetricOptions":
        """pystoi STOI, STOI/F0 at the native rate, Praat told the true rate, crop alignment, failures NaN."""
        return cls(
            stoi_backend="pystoi",
            intelligibility_at_16k=False,
            f0_assumed_sample_rate=None,
            length_alignment="crop",
            f0corr_fallback=False,
        )

    def fallback_for(self, name: str) -> bool:
        """Whether a failed ``name`` scores Codec-SUPERB's fallback number instead of NaN."""
        return self.failure_fallback or (name == "f0corr" and self.f0corr_fallback)

    def describe(self) -> dict[str, Any]:
        """The options plus one line on F0Corr failures, for reports (``summary.json``, ``llmcodec metrics``)."""
        f0_zero = self.fallback_for("f0corr")
        return {
            **asdict(self),
            "f0corr_failures": "0.0 (Codec-SUPERB, as its leaderboard)" if f0_zero else "null (strict: left out of means)",
        }


def as_mono_tensor(audio: torch.Tensor | np.ndarray, name: str) -> torch.Tensor:
    """Validate and convert a waveform to a float32 ``(L,)`` tensor.

    Accepts ``(L,)`` or ``(1, L)``. Raises :class:`InvalidAudioError` naming ``name`` on
    multi-channel, empty, or non-finite input.
    """
    tensor = torch.as_tensor(np.asarray(audio) if not isinstance(audio, torch.Tensor) else audio)
    tensor = tensor.detach().to("cpu", torch.float32)
    if tensor.ndim == 2 and tensor.shape[0] == 1:
        tensor = tensor[0]
    if tensor.ndim != 1:
        raise InvalidAudioError(f"{name} must be mono with shape (L,) or (1, L), got {tuple(tensor.shape)}")
    if tensor.numel() == 0:
        raise InvalidAudioError(f"{name} is empty")
    bad = ~torch.isfinite(tensor)
    if bool(bad.any()):
        raise InvalidAudioError(
            f"{name} contains {int(bad.sum())} NaN/Inf samples (first at index {int(bad.nonzero()[0])})"
        )
    return tensor


def resample(audio: torch.Tensor, orig_rate: int, new_rate: int) -> torch.Tensor:
    """Resample ``(L,)`` audio with torchaudio's windowed-sinc resampler (no-op if rates match)."""
    if orig_rate == new_rate:
        return audio
    return torchaudio.functional.resample(audio, int(orig_rate), int(new_rate))


def align_pair(
    reference: torch.Tensor,
    degraded: torch.Tensor,
    sample_rate: int,
    degraded_sample_rate: int | None = None,
    length_alignment: Literal["pad", "crop"] = "pad",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Bring ``degraded`` to the reference's rate and length.

    Args:
        reference: ``(L_ref,)`` at ``sample_rate`` Hz.
        degraded: ``(L_deg,)`` at ``degraded_sample_rate`` Hz (default: ``sample_rate``).
        length_alignment: ``"pad"`` right-zero-pads the shorter one to the longer length
            (Codec-SUPERB); ``"crop"`` cuts both to the shorter length.

    Returns:
        ``(reference, degraded)``, both ``(L,)`` at ``sample_rate``.
    """
    degraded = resample(degraded, degraded_sample_rate or sample_rate, sample_rate)
    if length_alignment == "pad":
        length = max(reference.numel(), degraded.numel())
        reference = torch.nn.functional.pad(reference, (0, length - reference.numel()))
        degraded = torch.nn.functional.pad(degraded, (0, length - degraded.numel()))
    else:
        length = min(reference.numel(), degraded.numel())
        reference, degraded = reference[:length], degraded[:length]
    return reference, degraded


def pesq_wb(reference: torch.Tensor, degraded: torch.Tensor, sample_rate: int) -> float:
    """Wide-band PESQ (``pesq(16000, ref, deg, "wb")``) after resampling both to 16 kHz.

    Raises whatever the ``pesq`` package raises (e.g. ``NoUtterancesError`` for a silent reference,
    ``BufferTooShortError`` for very short clips).
    """
    from pesq import pesq

    ref16 = resample(reference, sample_rate, PESQ_RATE).numpy()
    deg16 = resample(degraded, sample_rate, PESQ_RATE).numpy()
    return float(pesq(PESQ_RATE, ref16, deg16, "wb"))


def _describe(error: Exception) -> str:
    message = str(error).strip() or "no message"
    return f"{type(error).__name__}: {message}"


def compute_metrics(
    reference: torch.Tensor | np.ndarray,
    degraded: torch.Tensor | np.ndarray,
    sample_rate: int,
    degraded_sample_rate: int | None = None,
    options: MetricOptions | None = None,
) -> dict[str, Any]:
    """All six metrics for one pair.

    Args:
        reference: ``(L,)`` or ``(1, L)`` float waveform at ``sample_rate`` Hz (nominally in [-1, 1]).
        degraded: the reconstruction, ``(L',)`` or ``(1, L')`` at ``degraded_sample_rate`` Hz
            (default ``sample_rate``); aligned to the reference as in :func:`align_pair`.
        sample_rate: reference rate in Hz; mel/stft/waveform are computed at this rate.
        options: quirk switches; default :meth:`MetricOptions.codec_superb`.

    Returns:
        ``{"mel", "stft", "waveform", "pesq", "stoi", "f0corr": float (NaN = failed),
        "errors": {metric: reason}, "sample_rate": int, "num_samples": int}``. A failed F0Corr
        (by default) and, with ``failure_fallback``, a failed PESQ/STOI hold Codec-SUPERB's number
        instead of NaN; the reason is still listed in ``errors``.

    Raises:
        InvalidAudioError: NaN/Inf, empty or multi-channel input.
    """
    options = options or MetricOptions.codec_superb()
    ref = as_mono_tensor(reference, "reference")
    deg = as_mono_tensor(degraded, "degraded")
    if sample_rate <= 0 or (degraded_sample_rate is not None and degraded_sample_rate <= 0):
        raise InvalidAudioError(f"sample rates must be positive, got {sample_rate} and {degraded_sample_rate}")
    ref, deg = align_pair(ref, deg, sample_rate, degraded_sample_rate, options.length_alignment)

    # Rate at which STOI and F0Corr run (Codec-SUPERB: 16 kHz, left behind by PESQ's in-place resample).
    if options.intelligibility_at_16k:
        ref_i, deg_i, rate_i = resample(ref, sample_rate, PESQ_RATE), resample(deg, sample_rate, PESQ_RATE), PESQ_RATE
    else:
        ref_i, deg_i, rate_i = ref, deg, sample_rate
    stoi_fn = codec_superb_stoi if options.stoi_backend == "codec_superb" else pystoi_stoi
    silent = float(ref.abs().max()) < _SILENCE_PEAK

    def needs_signal(fn: Callable[[], float]) -> Callable[[], float]:
        def wrapped() -> float:
            if silent:
                raise ValueError("reference is silent")
            return fn()

        return wrapped

    def stoi_value() -> float:
        return float(np.clip(stoi_fn(ref_i.numpy(), deg_i.numpy(), rate_i), 0.0, 1.0))

    computations: dict[str, Callable[[], float]] = {
        "mel": lambda: mel_distance(ref, deg, sample_rate),
        "stft": lambda: stft_distance(ref, deg),
        "waveform": lambda: waveform_distance(ref, deg),
        "pesq": needs_signal(lambda: pesq_wb(ref, deg, sample_rate)),
        "stoi": needs_signal(stoi_value),
        "f0corr": needs_signal(
            lambda: f0_correlation(ref_i.numpy(), deg_i.numpy(), rate_i, options.f0_assumed_sample_rate)
        ),
    }
    result: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, compute in computations.items():
        try:
            value = float(compute())
            if not math.isfinite(value):
                raise ValueError(f"{name} is not finite ({value})")
        except ImportError as error:
            # A missing dependency is a setup problem, not a property of this clip: never a fallback number.
            errors[name] = _describe(error)
            result[name] = math.nan
            continue
        except Exception as error:  # noqa: BLE001 - every metric failure is recorded, none is fatal
            errors[name] = _describe(error)
            value = CODEC_SUPERB_FALLBACK[name] if options.fallback_for(name) else math.nan
        result[name] = value
    result["errors"] = errors
    result["sample_rate"] = int(sample_rate)
    result["num_samples"] = int(ref.numel())
    return result


def aggregate_metrics(rows: Iterable[Mapping[str, Any]], metric_names: Iterable[str] = METRIC_NAMES) -> dict[str, dict[str, Any]]:
    """Mean of each metric over per-pair results, skipping failures.

    Args:
        rows: outputs of :func:`compute_metrics` (or any mappings with the metric keys).

    Returns:
        ``{metric: {"mean": float | None, "count": int, "failed": int, "fallback": int}}`` where
        ``count`` values were averaged, ``failed`` rows were NaN/missing and skipped, and ``fallback``
        rows carried a Codec-SUPERB fallback number (included in the mean, as upstream does).
        ``mean`` is None when no row succeeded.
    """
    rows = list(rows)
    summary: dict[str, dict[str, Any]] = {}
    for name in metric_names:
        values: list[float] = []
        failed = fallback = 0
        for row in rows:
            value = row.get(name)
            if value is None or not math.isfinite(float(value)):
                failed += 1
                continue
            if name in (row.get("errors") or row.get("metric_errors") or {}):  # evaluate rows: metric_errors
                fallback += 1
            values.append(float(value))
        summary[name] = {
            "mean": float(np.mean(values)) if values else None,
            "count": len(values),
            "failed": failed,
            "fallback": fallback,
        }
    return summary
