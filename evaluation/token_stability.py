"""Token stability: the share of a codec's codes that stay the same when its input changes inaudibly.

LLM-Codec's premise is that its codes are a language an LLM can learn. A language whose words change when
nobody could hear a difference is a hard one, so :func:`token_stability` measures, for one waveform at the
codec's rate, four shares of unchanged codes (frame by frame, on the frames both encodings have: the codec's
own ``floor(L / hop)`` framing, as ``llmcodec encode`` writes them):

==============  ================================================================================================
``noise``       white Gaussian noise of RMS ``noise_dbfs`` (-70 dBFS re a full-scale amplitude of 1.0; seeded,
                the same noise for every run) added to the input
``int16``       the input stored as 16-bit PCM against the same input stored as 24-bit PCM
``gain``        a ``gain_db`` (1 dB) gain change: +1 dB, or -1 dB where +1 dB would clip
``windowed``    windowed encoding (``model.encode(chunk_length_s, chunk_context_s)``) against one pass over
                the whole input
==============  ================================================================================================

The reference input is the waveform stored at 24-bit (quantization far below any perturbation here), so one
reference encode serves all four comparisons: five encodes per file (one file per call).

Windows: inputs longer than ``window_s`` (60 s, ``llmcodec encode``'s default) are windowed exactly as the CLI
does it (60 s windows with 5 s of context). Shorter inputs would not be windowed at all, so they get windows of
``short_window_s`` (1 s; half the input if it is not longer) with the context scaled by the same ratio (5 / 60 of the
window): the comparison measures the same kind of edge effect at a scale that fits the clip. Each result
records the window and context it used. Inputs are cropped to ``max_seconds`` (120 s) first, since the
whole-file encode that windowing is compared with needs memory that grows with the length.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

PERTURBATIONS = ("noise", "int16", "gain", "windowed")


@dataclass
class TokenStabilityConfig:
    """Options of :func:`token_stability` (defaults: the metric as ``llmcodec evaluate`` reports it)."""

    noise_dbfs: float = -70.0
    gain_db: float = 1.0
    seed: int = 0
    window_s: float = 60.0
    context_s: float = 5.0
    short_window_s: float = 1.0
    max_seconds: float | None = 120.0

    def labels(self) -> dict[str, str]:
        """Human-readable names of the perturbations, for reports."""
        return {
            "noise": f"white noise {self.noise_dbfs:g} dBFS",
            "int16": "int16 vs 24-bit storage",
            "gain": f"{self.gain_db:g} dB gain",
            "windowed": "windowed vs whole-file",
        }


def quantize_pcm(waveform: torch.Tensor, bits: int) -> torch.Tensor:
    """``waveform`` as stored in ``bits``-bit PCM and read back: ``round(x * 2**(bits-1))``, clipped, rescaled."""
    scale = float(2 ** (bits - 1))
    steps = torch.round(waveform.double() * scale).clamp(-scale, scale - 1)
    return (steps / scale).to(waveform.dtype)


def white_noise(num_samples: int, dbfs: float, seed: int) -> torch.Tensor:
    """Seeded white Gaussian noise ``(num_samples,)`` float32 whose RMS is ``dbfs`` re an amplitude of 1.0."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(num_samples, generator=generator) * 10.0 ** (dbfs / 20.0)


def safe_gain_db(waveform: torch.Tensor, gain_db: float) -> float:
    """``+gain_db``, or ``-gain_db`` where the louder copy would clip (peak above 1.0)."""
    peak = float(waveform.abs().max()) if waveform.numel() else 0.0
    return gain_db if peak * 10.0 ** (abs(gain_db) / 20.0) <= 1.0 else -abs(gain_db)


def share_unchanged(codes_a: torch.Tensor, codes_b: torch.Tensor) -> float:
    """Share of frames whose codes agree, over the frames both sequences have (NaN when there are none)."""
    n = min(codes_a.numel(), codes_b.numel())
    if n == 0:
        return math.nan
    return float((codes_a.reshape(-1)[:n] == codes_b.reshape(-1)[:n]).double().mean())


def window_settings(num_frames: int, frame_rate: float, config: TokenStabilityConfig) -> tuple[float, float]:
    """``(window_s, context_s)`` for an input of ``num_frames`` codes (see the module doc)."""
    if num_frames > round(config.window_s * frame_rate):
        return config.window_s, config.context_s
    window_frames = round(config.short_window_s * frame_rate)
    if num_frames <= window_frames:  # still two windows at least
        window_frames = max(1, num_frames // 2)
    window = window_frames / frame_rate
    return window, config.context_s * window / config.window_s


def _model_device(model: Any) -> torch.device:
    device = getattr(model, "device", None)
    if device is None:
        device = next(iter(model.parameters())).device if hasattr(model, "parameters") else "cpu"
    return torch.device(device)


def token_stability(
    model: Any, waveform: torch.Tensor, config: TokenStabilityConfig | None = None
) -> dict[str, Any]:
    """The four shares of unchanged codes for one input.

    Args:
        model: a codec with ``config.sampling_rate`` / ``hop_length`` / ``frame_rate`` and
            ``encode(input_values (B, 1, L), chunk_length_s=, chunk_context_s=)`` returning ``audio_codes (B, T)``
            (an ``LLMCodecModel`` in eval mode).
        waveform: ``(L,)`` float mono audio at ``model.config.sampling_rate``.
        config: the perturbations (default :class:`TokenStabilityConfig`).

    Returns:
        ``{"noise", "int16", "gain", "windowed"}`` shares in [0, 1], plus ``frames`` (codes compared),
        ``seconds`` (input length used), ``gain_db`` (the gain applied), ``window_s`` / ``context_s``
        (the windowing compared with one pass) and ``seconds_spent`` (compute time).
    """
    config = config or TokenStabilityConfig()
    rate, hop = int(model.config.sampling_rate), int(model.config.hop_length)
    audio = torch.as_tensor(waveform, dtype=torch.float32).reshape(-1).cpu()
    if config.max_seconds is not None:
        audio = audio[: int(config.max_seconds * rate)]
    num_frames = audio.numel() // hop
    if num_frames < 2:
        raise ValueError(f"token stability needs at least 2 codes ({2 * hop} samples), got {audio.numel()} samples")
    if not bool(torch.isfinite(audio).all()):
        raise ValueError("audio contains NaN/Inf samples")
    start = time.perf_counter()
    reference = quantize_pcm(audio, 24)
    gain_db = safe_gain_db(reference, config.gain_db)
    variants = {
        "noise": reference + white_noise(audio.numel(), config.noise_dbfs, config.seed),
        "int16": quantize_pcm(audio, 16),
        "gain": reference * 10.0 ** (gain_db / 20.0),
    }
    window_s, context_s = window_settings(num_frames, float(model.config.frame_rate), config)
    device = _model_device(model)

    def encode(signal: torch.Tensor, **chunking: float) -> torch.Tensor:
        # One item per call, as `llmcodec encode` codes one file: no batch-size-dependent rounding in the shares.
        return model.encode(signal[None, None].to(device), **chunking).audio_codes[0].cpu()

    with torch.inference_mode():
        base = encode(reference)
        codes = {name: encode(signal) for name, signal in variants.items()}
        codes["windowed"] = encode(reference, chunk_length_s=window_s, chunk_context_s=context_s)
    return {
        **{name: share_unchanged(base, found) for name, found in codes.items()},
        "frames": int(min(c.numel() for c in (base, *codes.values()))),
        "seconds": audio.numel() / rate,
        "gain_db": gain_db,
        "window_s": window_s,
        "context_s": context_s,
        "seconds_spent": time.perf_counter() - start,
    }


def summarize_stability(per_file: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Means (and minima) per perturbation over files, skipping missing / NaN values.

    Returns ``{"files", "mean": {p: share}, "min": {p: share}, "count": {p: n}, "windows": [[window_s,
    context_s], ...] (the distinct settings used), "per_file": per_file}``.
    """
    summary: dict[str, Any] = {"files": len(per_file), "mean": {}, "min": {}, "count": {}}
    for name in PERTURBATIONS:
        values = [r[name] for r in per_file.values() if r.get(name) is not None and math.isfinite(r[name])]
        summary["count"][name] = len(values)
        summary["mean"][name] = sum(values) / len(values) if values else None
        summary["min"][name] = min(values) if values else None
    summary["windows"] = sorted({(r["window_s"], r["context_s"]) for r in per_file.values() if "window_s" in r})
    summary["windows"] = [list(w) for w in summary["windows"]]
    summary["per_file"] = per_file
    return summary


ROW_FIELDS = (*(f"stability_{name}" for name in PERTURBATIONS), "stability_window_s", "stability_context_s",
              "stability_gain_db", "token_stability_s")


def row_fields(model: Any, waveform: torch.Tensor, config: TokenStabilityConfig) -> dict[str, Any]:
    """:func:`token_stability` as fields of an evaluation row (:data:`ROW_FIELDS`); a failure is returned as
    ``{"error": reason}`` so that it is recorded with the row instead of failing the file."""
    try:
        result = token_stability(model, waveform, config)
    except Exception as error:  # noqa: BLE001 - the file's other metrics stand; the reason is kept
        return {"error": f"{type(error).__name__}: {error}"}
    fields = {f"stability_{name}": result[name] for name in PERTURBATIONS}
    fields.update(stability_window_s=result["window_s"], stability_context_s=result["context_s"],
                  stability_gain_db=result["gain_db"], token_stability_s=result["seconds_spent"])
    return fields


def summarize_rows(rows: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """:func:`summarize_stability` of evaluation rows that carry :data:`ROW_FIELDS` (None when none do)."""
    per_file = {
        r["id"]: {**{name: r.get(f"stability_{name}") for name in PERTURBATIONS},
                  "window_s": r.get("stability_window_s"), "context_s": r.get("stability_context_s"),
                  "gain_db": r.get("stability_gain_db")}
        for r in rows if any(r.get(f"stability_{name}") is not None for name in PERTURBATIONS)
    }
    if not per_file:
        return None
    summary = summarize_stability(per_file)
    spent = sum(r.get("token_stability_s") or 0.0 for r in rows if r["id"] in per_file)
    audio = sum(r.get("duration_s") or 0.0 for r in rows if r["id"] in per_file)
    summary["rtf"] = spent / audio if audio else None
    return summary


def report_lines(summary: dict[str, Any], max_files: int = 50) -> list[str]:
    """Markdown lines for a report: the means, the windows used and a per-file table (first ``max_files``)."""
    labels = TokenStabilityConfig().labels()
    percent = lambda v: "–" if v is None else f"{100 * v:.1f} %"  # noqa: E731
    windows = ", ".join(f"{w:g} s windows with {c:.3g} s context" for w, c in summary["windows"][:3])
    windows += f" and {len(summary['windows']) - 3} more settings" if len(summary["windows"]) > 3 else ""
    lines = [
        "## Token stability", "",
        "Share of codes unchanged when the input changes inaudibly (`llmcodec.evaluation.token_stability`; "
        f"windowed: {windows}). Higher is better; 100 % is a codec whose codes ignore what nobody can hear.", "",
        "| " + " | ".join(labels[n] for n in PERTURBATIONS) + " |",
        "|" + "---|" * len(PERTURBATIONS),
        "| " + " | ".join(percent(summary["mean"][n]) for n in PERTURBATIONS) + " |",
        "", "| file | " + " | ".join(PERTURBATIONS) + " |", "|---|" + "---|" * len(PERTURBATIONS),
    ]
    items = list(summary["per_file"].items())
    for item, shares in items[:max_files]:
        lines.append(f"| {item} | " + " | ".join(percent(shares.get(n)) for n in PERTURBATIONS) + " |")
    if len(items) > max_files:
        lines.append(f"| … {len(items) - max_files} more in rows.csv | " + " |" * len(PERTURBATIONS))
    return lines


def format_shares(shares: dict[str, Any], names: Sequence[str] = PERTURBATIONS) -> str:
    """``noise 45.0 %, int16 96.0 %, ...`` (``-`` for a missing share)."""
    return ", ".join(f"{n} {100 * shares[n]:.1f} %" if shares.get(n) is not None else f"{n} -" for n in names)
