"""The report of an evaluation: rows as CSV, per-system summary (means per domain, codebook, speed, stability), Markdown.

Everything here is rebuilt from ``OUT/rows.jsonl`` and ``OUT/codes.jsonl`` (:func:`write_outputs`), so a resumed
run reports every row, old and new.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import token_stability as stability
from .metrics import HIGHER_IS_BETTER, METRIC_NAMES, MetricOptions, aggregate_metrics
from .output_folder import JsonlLog, write_json

MODEL_SYSTEM = "llmcodec"
ROW_FIELDS = (
    "system", "id", "domain", "status", "error", "duration_s", "sample_rate", "n_codes", "bitrate_bps",
    *METRIC_NAMES, "metric_errors", "encode_s", "decode_s", *stability.ROW_FIELDS,
)


def write_rows_csv(rows: Sequence[dict[str, Any]], path: str | os.PathLike) -> Path:
    """Write rows (dicts with :data:`ROW_FIELDS`) as CSV, atomically; missing values are empty cells."""
    from llmcodec.audio import save_text

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(ROW_FIELDS), extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else json.dumps(row[k]) if isinstance(row.get(k), dict)
                             else row[k]) for k in ROW_FIELDS})
    save_text(Path(path), buffer.getvalue())
    return Path(path)


def codebook_statistics(code_lists: Sequence[Sequence[int]], codebook_size: int) -> dict[str, Any]:
    """Usage and entropy of the code histogram pooled over files.

    Returns ``{"codebook_size", "n_codes", "used_codes", "usage" (used / size), "entropy_bits",
    "max_entropy_bits" (log2 size), "normalized_entropy" (entropy / max), "perplexity" (2 ** entropy)}``.
    """
    counts = Counter()
    for codes in code_lists:
        counts.update(int(c) for c in codes)
    total = sum(counts.values())
    if total == 0:
        entropy = math.nan
    else:
        p = np.array(list(counts.values()), dtype=np.float64) / total
        entropy = float(-(p * np.log2(p)).sum())
    max_entropy = math.log2(codebook_size)
    return {
        "codebook_size": int(codebook_size),
        "n_codes": int(total),
        "used_codes": len(counts),
        "usage": len(counts) / codebook_size,
        "entropy_bits": entropy,
        "max_entropy_bits": max_entropy,
        "normalized_entropy": entropy / max_entropy if total else math.nan,
        "perplexity": 2.0**entropy if total else math.nan,
    }


def summarize(
    rows: Sequence[dict[str, Any]],
    codes: dict[str, list[int]] | None = None,
    codebook_size: int | None = None,
    frame_rate: float | None = None,
) -> dict[str, Any]:
    """Summary of evaluation rows, per system.

    Per system: ``files`` / ``ok`` / ``failed`` counts, ``failures`` (id → error), ``overall`` and
    ``domains[name]`` metric means (:func:`llmcodec.evaluation.metrics.aggregate_metrics`: mean over
    successful values, with ``count`` / ``failed`` per metric), ``duration_s``, ``bitrate_bps`` (mean of
    rows), and for the model also ``token_rate_hz`` (codes per second of audio), ``codebook``
    (:func:`codebook_statistics`) and ``rtf_encode`` / ``rtf_decode`` (compute seconds per audio second).
    """
    systems: dict[str, Any] = {}
    for system in sorted({r["system"] for r in rows}, key=lambda s: (s != MODEL_SYSTEM, s)):
        own = [r for r in rows if r["system"] == system]
        ok = [r for r in own if r.get("status") == "ok"]
        domains = sorted({r["domain"] for r in own})
        duration = float(sum(r.get("duration_s") or 0.0 for r in ok))
        entry: dict[str, Any] = {
            "files": len(own),
            "ok": len(ok),
            "failed": len(own) - len(ok),
            "failures": {r["id"]: r.get("error") for r in own if r.get("status") != "ok"},
            "duration_s": duration,
            "overall": aggregate_metrics(ok),
            "domains": {d: {"files": sum(r["domain"] == d for r in own),
                            **aggregate_metrics([r for r in ok if r["domain"] == d])} for d in domains},
        }
        rates = [r["bitrate_bps"] for r in ok if r.get("bitrate_bps") is not None]
        entry["bitrate_bps"] = float(np.mean(rates)) if rates else None
        if system == MODEL_SYSTEM:
            n_codes = sum(int(r.get("n_codes") or 0) for r in ok)
            entry["token_rate_hz"] = n_codes / duration if duration else None
            entry["nominal_token_rate_hz"] = frame_rate
            entry["rtf_encode"] = sum(r.get("encode_s") or 0.0 for r in ok) / duration if duration else None
            entry["rtf_decode"] = sum(r.get("decode_s") or 0.0 for r in ok) / duration if duration else None
            if codes is not None and codebook_size:
                ok_ids = {r["id"] for r in ok}
                entry["codebook"] = codebook_statistics([c for i, c in codes.items() if i in ok_ids], codebook_size)
            token_stability = stability.summarize_rows(ok)
            if token_stability is not None:
                entry["token_stability"] = token_stability
        systems[system] = entry
    return {"systems": systems, "metrics": list(METRIC_NAMES),
            "higher_is_better": dict(HIGHER_IS_BETTER)}


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def render_report(summary: dict[str, Any], plots: Sequence[str], title: str = "LLM-Codec evaluation") -> str:
    """A short Markdown report: overall table (all systems), per-domain table, codebook/speed, plots."""
    arrows = {m: "↑" if HIGHER_IS_BETTER[m] else "↓" for m in METRIC_NAMES}
    lines = [f"# {title}", ""]
    if summary.get("source"):
        lines += [f"Model: `{summary.get('model')}` · data: `{summary['source']}`", ""]
    lines += [
        "Metrics follow Codec-SUPERB's definitions (see `llmcodec.evaluation.metrics`); means skip failed "
        "values, whose count is shown as `failed`.", "",
        *([f"F0Corr of a clip without voiced frames: {summary['metric_options']['f0corr_failures']}.", ""]
          if summary.get("metric_options") else []),
        "## Overall", "",
        "| system | bitrate (bps) | files ok / failed | " + " | ".join(f"{m} {arrows[m]}" for m in METRIC_NAMES) + " |",
        "|---|---|---|" + "---|" * len(METRIC_NAMES),
    ]
    for system, entry in summary["systems"].items():
        cells = [_fmt(entry["overall"][m]["mean"]) + (f" ({entry['overall'][m]['failed']} failed)"
                 if entry["overall"][m]["failed"] else "") for m in METRIC_NAMES]
        lines.append(f"| {system} | {_fmt(entry['bitrate_bps'], 0)} | {entry['ok']} / {entry['failed']} | "
                     + " | ".join(cells) + " |")
    lines += ["", "## Per domain", "",
              "| system | domain | files | " + " | ".join(f"{m} {arrows[m]}" for m in METRIC_NAMES) + " |",
              "|---|---|---|" + "---|" * len(METRIC_NAMES)]
    for system, entry in summary["systems"].items():
        for domain, values in entry["domains"].items():
            lines.append(f"| {system} | {domain} | {values['files']} | "
                         + " | ".join(_fmt(values[m]["mean"]) for m in METRIC_NAMES) + " |")
    model = summary["systems"].get(MODEL_SYSTEM)
    if model:
        lines += ["", "## Codes and speed", ""]
        lines.append(f"- token rate: {_fmt(model.get('token_rate_hz'), 2)} codes/s; bitrate "
                     f"{_fmt(model.get('bitrate_bps'), 1)} bps")
        book = model.get("codebook")
        if book:
            lines.append(f"- codebook usage: {book['used_codes']} / {book['codebook_size']} codes "
                         f"({100 * book['usage']:.1f} %); entropy {_fmt(book['entropy_bits'], 2)} of "
                         f"{_fmt(book['max_entropy_bits'], 2)} bits")
        lines.append(f"- real-time factor (compute s per audio s): encode {_fmt(model.get('rtf_encode'), 4)}, "
                     f"decode {_fmt(model.get('rtf_decode'), 4)}")
        if model.get("token_stability"):
            lines += ["", *stability.report_lines(model["token_stability"])]
    failures = {s: e["failures"] for s, e in summary["systems"].items() if e["failures"]}
    if failures:
        lines += ["", "## Failures", ""]
        for system, items in failures.items():
            for item, error in list(items.items())[:20]:
                lines.append(f"- {system} `{item}`: {error}")
    if plots:
        lines += ["", "## Spectrograms (reference vs reconstruction)", ""]
        lines += [f"![{Path(p).stem}]({p})" for p in plots]
    return "\n".join(lines) + "\n"


def write_outputs(out: Path, codec_config: Any, model_name: str | None = None, source_name: str | None = None,
                  metric_options: MetricOptions | None = None, weights_sha256: str | None = None) -> dict[str, Any]:
    """(Re)build rows.csv, summary.json and report.md from the logs in ``out``; returns the summary."""
    from llmcodec.audio import save_text

    rows = JsonlLog(out / "rows.jsonl").read()
    codes = {c["id"]: c["codes"] for c in JsonlLog(out / "codes.jsonl").read()}
    write_rows_csv(rows, out / "rows.csv")
    summary = summarize(rows, codes, int(codec_config.codebook_size), float(codec_config.frame_rate))
    summary["model"], summary["source"] = model_name, source_name
    summary["model_weights_sha256"] = weights_sha256
    summary["metric_options"] = (metric_options or MetricOptions.codec_superb()).describe()
    plots = sorted(f"plots/{p.name}" for p in (out / "plots").glob("*.png")) if (out / "plots").is_dir() else []
    summary["plots"] = plots
    write_json(out / "summary.json", summary)
    save_text(out / "report.md", render_report(summary, plots))
    return summary
