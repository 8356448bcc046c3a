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

Each share is reported three ways: on all frames (``noise``), on speech frames only (``noise_speech``: frames whose
20 ms RMS is at least -55 dBFS and within 35 dB of the file's loud frames, its 95th percentile, so that near-silent
frames, where any codec's choice is arbitrary, do not decide the number), and as the field's unit edit distance
(UED: run-length-deduplicate both code strings, Levenshtein distance divided by the reference's deduplicated length;
files are micro-averaged, total edits over total length). A UED of 0 is perfect; the frame shares are 1 when perfect.

The reference input is the waveform stored at 24-bit (quantization far below any perturbation here), so one
reference encode serves all four comparisons: five encodes per file (one file per call).

Windows: inputs longer than ``window_s`` (60 s, ``llmcodec encode``'s default) are windowed exactly as the CLI
does it (60 s windows with 5 s of context). Shorter inputs would not be windowed at all, so they get windows of
``short_window_s`` (2 s) with ``short_context_s`` (1 s) of context on each side, the setting of streaming-style
chunked encoding; an input of at most 2 s gets two windows of half its length, each with half a window of context.
Each result records the window and context it used. Inputs are cropped to ``max_seconds`` (120 s) first, since the
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
    short_window_s: float = 2.0
    short_context_s: float = 1.0
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


# Speech frames: loud enough to carry speech (absolute floor) and within reach of the file's loud frames.
SPEECH_FLOOR_DBFS = -55.0
SPEECH_RANGE_DB = 35.0


def speech_frames(audio: torch.Tensor, hop: int) -> torch.Tensor:
    """``(T,)`` bool: the ``floor(L / hop)`` frames of ``(L,)`` audio that hold speech by level (see the module doc)."""
    num_frames = audio.numel() // hop
    frames = audio[: num_frames * hop].double().reshape(num_frames, hop)
    level = 10.0 * torch.log10(frames.pow(2).mean(dim=1).clamp(min=1e-20))
    loud = torch.quantile(level, 0.95) if num_frames else torch.tensor(-200.0)
    return (level >= SPEECH_FLOOR_DBFS) & (level >= loud - SPEECH_RANGE_DB)


def deduplicate(codes: torch.Tensor) -> list[int]:
    """Run-length-deduplicated code string: ``[5, 5, 7, 5] -> [5, 7, 5]``."""
    values = codes.reshape(-1).tolist()
    return [v for i, v in enumerate(values) if i == 0 or v != values[i - 1]]


def unit_edits(reference: torch.Tensor, other: torch.Tensor) -> tuple[int, int]:
    """``(edits, length)``: Levenshtein distance between the deduplicated strings, and the reference's length."""
    from rapidfuzz.distance import Levenshtein

    clean = deduplicate(reference)
    return int(Levenshtein.distance(clean, deduplicate(other))), len(clean)


def share_unchanged(codes_a: torch.Tensor, codes_b: torch.Tensor, mask: torch.Tensor | None = None) -> float:
    """Share of frames whose codes agree, over the frames both sequences have and ``mask`` keeps (NaN when none)."""
    n = min(codes_a.numel(), codes_b.numel())
    same = codes_a.reshape(-1)[:n] == codes_b.reshape(-1)[:n]
    if mask is not None:
        same = same[mask.reshape(-1)[:n]]
    if same.numel() == 0:
        return math.nan
    return float(same.double().mean())


def window_settings(num_frames: int, frame_rate: float, config: TokenStabilityConfig) -> tuple[float, float]:
    """``(window_s, context_s)`` for an input of ``num_frames`` codes (see the module doc)."""
    if num_frames > round(config.window_s * frame_rate):
        return config.window_s, config.context_s
    window_frames = round(config.short_window_s * frame_rate)
    if num_frames <= window_frames:  # still two windows at least, each with half a window of context
        window = max(1, num_frames // 2) / frame_rate
        return window, min(config.short_context_s, window / 2)
    return window_frames / frame_rate, config.short_context_s


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
        ``{"noise", "int16", "gain", "windowed"}`` shares in [0, 1] on all frames, ``"<name>_speech"`` the same on
        speech frames, ``"<name>_ued_edits"`` unit edits against the reference and ``ued_length`` the reference's
        deduplicated length (UED = edits / length), ``speech_frames``, plus ``frames`` (codes compared),
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
    speech = speech_frames(reference, hop)[: base.numel()]
    edits = {name: unit_edits(base, found) for name, found in codes.items()}
    return {
        **{name: share_unchanged(base, found) for name, found in codes.items()},
        **{f"{name}_speech": share_unchanged(base, found, speech) for name, found in codes.items()},
        **{f"{name}_ued_edits": edits[name][0] for name in codes},
        "ued_length": edits["noise"][1],
        "speech_frames": int(speech.sum()),
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
    summary: dict[str, Any] = {"files": len(per_file), "mean": {}, "min": {}, "count": {}, "speech": {}, "ued": {}}
    finite = lambda v: v is not None and math.isfinite(v)  # noqa: E731
    for name in PERTURBATIONS:
        values = [r[name] for r in per_file.values() if finite(r.get(name))]
        summary["count"][name] = len(values)
        summary["mean"][name] = sum(values) / len(values) if values else None
        summary["min"][name] = min(values) if values else None
        speech = [r[f"{name}_speech"] for r in per_file.values() if finite(r.get(f"{name}_speech"))]
        summary["speech"][name] = sum(speech) / len(speech) if speech else None
        # UED is micro-averaged: total edits over total deduplicated reference length.
        pairs = [(r[f"{name}_ued_edits"], r["ued_length"]) for r in per_file.values()
                 if r.get(f"{name}_ued_edits") is not None and r.get("ued_length")]
        length = sum(n for _, n in pairs)
        summary["ued"][name] = sum(e for e, _ in pairs) / length if length else None
    summary["windows"] = sorted({(r["window_s"], r["context_s"]) for r in per_file.values() if "window_s" in r})
    summary["windows"] = [list(w) for w in summary["windows"]]
    summary["per_file"] = per_file
    return summary


# Per-file keys of token_stability() that an evaluation row carries (as "stability_<key>").
_ROW_KEYS = (*PERTURBATIONS, *(f"{name}_speech" for name in PERTURBATIONS),
             *(f"{name}_ued_edits" for name in PERTURBATIONS), "ued_length", "speech_frames")
ROW_FIELDS = (*(f"stability_{key}" for key in _ROW_KEYS), "stability_window_s", "stability_context_s",
              "stability_gain_db", "token_stability_s")


def row_fields(model: Any, waveform: torch.Tensor, config: TokenStabilityConfig) -> dict[str, Any]:
    """:func:`token_stability` as fields of an evaluation row (:data:`ROW_FIELDS`); a failure is returned as
    ``{"error": reason}`` so that it is recorded with the row instead of failing the file."""
    try:
        result = token_stability(model, waveform, config)
    except Exception as error:  # noqa: BLE001 - the file's other metrics stand; the reason is kept
        return {"error": f"{type(error).__name__}: {error}"}
    fields = {f"stability_{key}": result[key] for key in _ROW_KEYS}
    fields.update(stability_window_s=result["window_s"], stability_context_s=result["context_s"],
                  stability_gain_db=result["gain_db"], token_stability_s=result["seconds_spent"])
    return fields


def summarize_rows(rows: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """:func:`summarize_stability` of evaluation rows that carry :data:`ROW_FIELDS` (None when none do)."""
    per_file = {
        r["id"]: {**{key: r.get(f"stability_{key}") for key in _ROW_KEYS},
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
        f"windowed: {windows}), on all frames and on speech frames (higher is better), and the unit edit distance "
        "of the deduplicated code strings (UED, lower is better).", "",
        "| | " + " | ".join(labels[n] for n in PERTURBATIONS) + " |",
        "|---|" + "---|" * len(PERTURBATIONS),
        "| unchanged, all frames | " + " | ".join(percent(summary["mean"][n]) for n in PERTURBATIONS) + " |",
        "| unchanged, speech frames | " + " | ".join(percent(summary.get("speech", {}).get(n))
                                                  for n in PERTURBATIONS) + " |",
        "| UED | " + " | ".join(percent(summary.get("ued", {}).get(n)) for n in PERTURBATIONS) + " |",
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
