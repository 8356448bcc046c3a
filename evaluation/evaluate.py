"""Evaluate a codec on a corpus: per-file metric rows, a summary, spectrogram plots and a Markdown report.

``llmcodec evaluate --model M --data D --output OUT`` (see :func:`evaluate`) writes::

    OUT/rows.jsonl      one JSON object per (system, file) — the source of truth, appended atomically
    OUT/rows.csv        the same rows as CSV (rewritten atomically from rows.jsonl at the end)
    OUT/codes.jsonl     the codes of each file ({"id", "codes"}), for codebook statistics on resume
    OUT/summary.json    per system: means per domain and overall (+ failure counts), bitrate, token rate,
                        codebook usage and entropy, real-time factors of encode and decode, token
                        stability (per file and mean, see :mod:`.token_stability`)
    OUT/plots/*.png     reference vs reconstruction mel spectrograms for the first ``num_plots`` files
    OUT/report.md       a short Markdown report embedding the plots

Sources: a folder of audio files (searched recursively; the domain is the first sub-folder under the
root, ``default`` for files directly in it) or a Hugging Face dataset (``load_from_disk`` folder or a
``load_dataset`` name/path; the domain from ``domain_column``). Items are read at their native rate;
the codec sees them resampled to 16 kHz; metrics compare the native-rate reference with the 16 kHz
reconstruction (resampled back by :func:`llmcodec.evaluation.metrics.compute_metrics`), as
Codec-SUPERB does. Framing is the project's one rule (as ``llmcodec encode``, ``tokenize-audio`` and the
Codec-SUPERB adapter): ``floor(L / 320)`` codes, the last partial frame dropped, so the reconstruction
is up to 319 samples shorter and is zero-padded against the reference by the metrics (as Codec-SUPERB's
``pad_arrays_to_match``); audio over ``chunk_length_s`` (60 s) is coded in windows with 5 s context.

Resuming: rows already present in ``rows.jsonl`` (keyed by system and id) are skipped, and a torn
last line left by an interruption is dropped. A file that cannot be read, is shorter than one code,
or fails to encode is recorded as a row with ``status: "error"`` and counted, never fatal.

Baselines (``baselines=["codec2_1200", "opus_6kbps", ...]``, see :mod:`.baselines`) are scored on
the same files with the same metrics and appear as further systems in the same rows and report.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from . import token_stability as stability
from .metrics import METRIC_NAMES, HIGHER_IS_BETTER, MetricOptions, aggregate_metrics, compute_metrics

AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac", ".webm", ".aiff", ".aif")
MODEL_SYSTEM = "llmcodec"
DEFAULT_DOMAIN = "default"
ROW_FIELDS = (
    "system", "id", "domain", "status", "error", "duration_s", "sample_rate", "n_codes", "bitrate_bps",
    *METRIC_NAMES, "metric_errors", "encode_s", "decode_s", *stability.ROW_FIELDS,
)


# ----------------------------------------------------------------------------------------- sources


@dataclass
class AudioItem:
    """One evaluation item; ``load()`` returns ``(waveform (L,) float32 mono, native sample rate)``."""

    id: str
    domain: str
    load: Callable[[], tuple[torch.Tensor, int]]


def folder_items(root: str | os.PathLike) -> list[AudioItem]:
    """Audio files under ``root`` (recursive, sorted); id = path relative to root, domain = first sub-folder."""
    from llmcodec.audio import load_audio

    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"data folder {root} does not exist")
    paths = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)
    if not paths:
        raise ValueError(f"no audio files ({', '.join(AUDIO_EXTENSIONS)}) found under {root}")
    items = []
    for path in paths:
        relative = path.relative_to(root)
        domain = relative.parts[0] if len(relative.parts) > 1 else DEFAULT_DOMAIN
        items.append(AudioItem(str(relative), domain, lambda p=path: load_audio(p, target_sr=None)))
    return items


def load_hf_dataset(name_or_path: str, split: str | None = None):
    """A ``datasets.Dataset``: ``load_from_disk`` for a saved folder, else ``load_dataset`` (offline use only).

    For a ``DatasetDict`` the ``split`` is selected (required when there are several splits).
    """
    import datasets

    path = Path(name_or_path)
    if path.is_dir() and ((path / "dataset_info.json").is_file() or (path / "dataset_dict.json").is_file()
                          or (path / "state.json").is_file()):
        dataset = datasets.load_from_disk(str(path))
    else:
        dataset = datasets.load_dataset(name_or_path, split=split)
    if isinstance(dataset, datasets.DatasetDict):
        if split is None:
            if len(dataset) != 1:
                raise ValueError(f"{name_or_path} has splits {list(dataset)}; choose one with --split")
            split = next(iter(dataset))
        if split not in dataset:
            raise ValueError(f"{name_or_path} has no split {split!r} (splits: {list(dataset)})")
        dataset = dataset[split]
    return dataset


def _decode_audio_value(audio: Any, where: str) -> tuple[torch.Tensor, int]:
    from llmcodec.audio import AudioReadError, load_audio

    if isinstance(audio, dict) and audio.get("array") is not None:
        data = torch.as_tensor(np.asarray(audio["array"], dtype=np.float32))
        return (data if data.ndim == 1 else data.mean(dim=0)), int(audio["sampling_rate"])
    if isinstance(audio, dict) and audio.get("bytes"):
        import soundfile

        try:
            array, rate = soundfile.read(io.BytesIO(audio["bytes"]), dtype="float32", always_2d=True)
            return torch.from_numpy(np.ascontiguousarray(array.T)).mean(dim=0), int(rate)
        except Exception:
            from torchcodec.decoders import AudioDecoder

            samples = AudioDecoder(audio["bytes"]).get_all_samples()
            return samples.data.float().mean(dim=0), int(samples.sample_rate)
    if isinstance(audio, dict) and audio.get("path"):
        return load_audio(audio["path"], target_sr=None)
    if isinstance(audio, str):
        return load_audio(audio, target_sr=None)
    if hasattr(audio, "get_all_samples"):
        samples = audio.get_all_samples()
        return samples.data.float().mean(dim=0), int(samples.sample_rate)
    raise AudioReadError(f"{where}: cannot read audio value of type {type(audio).__name__}")


def dataset_items(
    dataset: Any, audio_column: str = "audio", domain_column: str | None = None, id_column: str | None = None
) -> list[AudioItem]:
    """Items of a ``datasets.Dataset``; audio is decoded lazily (``Audio(decode=False)`` so any backend works)."""
    from datasets import Audio

    if audio_column not in dataset.column_names:
        raise ValueError(f"dataset has no audio column {audio_column!r} (columns: {dataset.column_names})")
    for column in (domain_column, id_column):
        if column is not None and column not in dataset.column_names:
            raise ValueError(f"dataset has no column {column!r} (columns: {dataset.column_names})")
    if isinstance(dataset.features.get(audio_column), Audio):
        dataset = dataset.cast_column(audio_column, Audio(decode=False))
    domains = [str(d) for d in dataset[domain_column]] if domain_column else [DEFAULT_DOMAIN] * len(dataset)
    ids = [str(i) for i in dataset[id_column]] if id_column else [str(i) for i in range(len(dataset))]
    if len(set(ids)) != len(ids):
        raise ValueError(f"id column {id_column!r} has duplicate values")

    def loader(index: int) -> Callable[[], tuple[torch.Tensor, int]]:
        return lambda: _decode_audio_value(dataset[index][audio_column], f"row {index}")

    return [AudioItem(ids[i], domains[i], loader(i)) for i in range(len(dataset))]


# ------------------------------------------------------------------------------------ row storage


def _json_ready(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        return _json_ready(value.item())
    return value


class JsonlLog:
    """An append-only JSON-lines file: each record is one ``write`` of a full line, flushed and fsynced.

    On open, a torn last line (no trailing newline, e.g. after a kill) is cut off so the file stays valid.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            data = self.path.read_bytes()
            if data and not data.endswith(b"\n"):
                with open(self.path, "r+b") as handle:
                    handle.truncate(data.rfind(b"\n") + 1)

    def read(self) -> list[dict[str, Any]]:
        """All complete records (lines that fail to parse are skipped)."""
        if not self.path.exists():
            return []
        records = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return records

    def append(self, records: Sequence[dict[str, Any]]) -> None:
        if not records:
            return
        text = "".join(json.dumps(_json_ready(r), ensure_ascii=False, allow_nan=False) + "\n" for r in records)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())


def _atomic_write_text(path: Path, text: str) -> None:
    from llmcodec.audio import save_text

    save_text(path, text)


def write_rows_csv(rows: Sequence[dict[str, Any]], path: str | os.PathLike) -> Path:
    """Write rows (dicts with :data:`ROW_FIELDS`) as CSV, atomically; missing values are empty cells."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(ROW_FIELDS), extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else json.dumps(row[k]) if isinstance(row.get(k), dict)
                             else row[k]) for k in ROW_FIELDS})
    _atomic_write_text(Path(path), buffer.getvalue())
    return Path(path)


RUN_FILENAME = "run.json"


def weights_sha256(model: Any) -> str:
    """SHA-256 over the model's state dict (names, dtypes, shapes and bytes, sorted by name): its identity."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def run_identity(model: Any, model_name: str | None, config: "EvaluateConfig") -> dict[str, Any]:
    """What the rows of an output folder depend on: the model (path and weights hash) and the scoring options."""
    return {
        "model": {"path": model_name, "weights_sha256": weights_sha256(model)},
        "metric_options": asdict(config.metric_options),
        "chunk_length_s": config.chunk_length_s,
        "token_stability": asdict(config.token_stability) if config.token_stability is not None else None,
    }


def check_resume(out: Path, identity: dict[str, Any], has_rows: bool) -> None:
    """Record ``identity`` in ``out/run.json``, or refuse (one line) to resume rows made by another model or options.

    The model path may differ (a copied folder); the weights hash and the options must not.
    """
    from llmcodec.errors import UserError

    path = out / RUN_FILENAME
    if not path.is_file():
        if has_rows:
            raise UserError(f"{out} holds evaluation rows without a record of their model and options ({RUN_FILENAME}); "
                            "choose another output folder")
        _atomic_write_text(path, json.dumps(_json_ready(identity), indent=2, allow_nan=False) + "\n")
        return
    recorded = json.loads(path.read_text(encoding="utf-8"))
    differences = []
    if recorded.get("model", {}).get("weights_sha256") != identity["model"]["weights_sha256"]:
        differences.append(f"model {recorded.get('model', {}).get('path')} (weights sha256 "
                           f"{str(recorded.get('model', {}).get('weights_sha256'))[:12]}) there, {identity['model']['path']} "
                           f"(weights sha256 {identity['model']['weights_sha256'][:12]}) now")
    for key in ("metric_options", "chunk_length_s", "token_stability"):
        there, now = recorded.get(key), _json_ready(identity[key])
        if there != now:
            if isinstance(there, dict) and isinstance(now, dict):  # name only the options that differ
                there, now = ({k: d.get(k) for k in sorted(set(there) | set(now)) if there.get(k) != now.get(k)}
                              for d in (there, now))
            differences.append(f"{key} {there} there, {now} now")
    if differences:
        raise UserError(f"{out} holds an evaluation with other settings ({'; '.join(differences)}); "
                        "choose another output folder to keep both, or remove it to start over")


# -------------------------------------------------------------------------------------- summaries


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


# ------------------------------------------------------------------------------------------ runner


@dataclass
class EvaluateConfig:
    """Options of :func:`evaluate`.

    Attributes:
        batch_size: files per encode/decode batch (right-zero-padded with a padding mask).
        baselines: names from :data:`llmcodec.evaluation.baselines.BASELINE_NAMES` to score too.
        num_plots: spectrogram PNGs for the first this many successfully processed files.
        metric_options: metric quirks (default Codec-SUPERB's definitions; F0Corr failures 0.0, others NaN).
        chunk_length_s: windowed encoding for audio longer than this (bounded memory); None disables.
        device: torch device for the model.
        limit: evaluate only the first ``limit`` items.
        token_stability: the perturbations of :mod:`.token_stability` (4 extra encodes per file, shares
            in the rows, means in the summary and report); None switches the metric off.
    """

    batch_size: int = 8
    baselines: Sequence[str] = ()
    num_plots: int = 3
    metric_options: MetricOptions = field(default_factory=MetricOptions.codec_superb)
    chunk_length_s: float | None = 60.0
    device: str = "cpu"
    limit: int | None = None
    progress: bool = True
    token_stability: stability.TokenStabilityConfig | None = field(default_factory=stability.TokenStabilityConfig)


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:120] or "item"


def _error_row(system: str, item: AudioItem, error: str) -> dict[str, Any]:
    return {"system": system, "id": item.id, "domain": item.domain, "status": "error", "error": error}


def _metric_row(system: str, item: AudioItem, reference: torch.Tensor, rate: int, degraded: torch.Tensor,
                options: MetricOptions) -> dict[str, Any]:
    metrics = compute_metrics(reference, degraded, rate, 16_000, options=options)
    row = {"system": system, "id": item.id, "domain": item.domain, "status": "ok", "error": None,
           "duration_s": reference.numel() / rate, "sample_rate": rate}
    row.update({m: metrics[m] for m in METRIC_NAMES})
    row["metric_errors"] = metrics["errors"] or None
    return row


def _batches(items: Sequence[AudioItem], size: int) -> Iterator[list[AudioItem]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def evaluate(
    model: Any,
    items: Sequence[AudioItem],
    output: str | os.PathLike,
    config: EvaluateConfig | None = None,
    model_name: str | None = None,
    source_name: str | None = None,
) -> dict[str, Any]:
    """Run the evaluation (resumable) and write rows, summary, plots and report under ``output``.

    Args:
        model: an ``LLMCodecModel`` (``encode``/``decode`` with masks; ``config.sampling_rate``,
            ``hop_length``, ``codebook_size``, ``frame_rate``, ``bitrate``).
        items: what to evaluate (:func:`folder_items`, :func:`dataset_items`).
        output: output folder (created).

    Returns:
        The summary dict (also written to ``output/summary.json``).
    """
    from llmcodec.audio import resample

    from .baselines import BASELINE_NAMES, run_baseline
    from .plots import plot_spectrogram_comparison

    config = config or EvaluateConfig()
    unknown = [b for b in config.baselines if b not in BASELINE_NAMES]
    if unknown:
        raise ValueError(f"unknown baseline(s) {unknown}; choose from {list(BASELINE_NAMES)}")
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    rows_log, codes_log = JsonlLog(out / "rows.jsonl"), JsonlLog(out / "codes.jsonl")
    items = list(items)[: config.limit] if config.limit else list(items)
    ids = [i.id for i in items]
    if len(set(ids)) != len(ids):
        raise ValueError("duplicate item ids in the data source")
    previous_rows = rows_log.read()
    identity = run_identity(model, model_name, config)
    check_resume(out, identity, has_rows=bool(previous_rows) or bool(codes_log.read()))
    done = {(r["system"], r["id"]) for r in previous_rows}
    systems = [MODEL_SYSTEM, *config.baselines]
    todo = [i for i in items if any((s, i.id) not in done for s in systems)]
    rate, hop = int(model.config.sampling_rate), int(model.config.hop_length)
    plots_dir = out / "plots"
    existing_plots = sorted(plots_dir.glob("*.png")) if plots_dir.is_dir() else []
    plots_made = len(existing_plots)
    model = model.eval()
    device = torch.device(config.device)
    progress = tqdm(total=len(todo), desc="evaluate", unit="file", disable=not config.progress, file=sys.stderr)
    for group in _batches(todo, config.batch_size):
        new_rows: list[dict[str, Any]] = []
        new_codes: list[dict[str, Any]] = []
        loaded: list[tuple[AudioItem, torch.Tensor, int, torch.Tensor]] = []
        for item in group:
            try:
                audio, native_rate = item.load()
                audio = torch.as_tensor(audio, dtype=torch.float32).reshape(-1)
                if not bool(torch.isfinite(audio).all()):
                    raise ValueError("audio contains NaN/Inf samples")
                audio16 = resample(audio, native_rate, rate)
                if audio16.numel() < hop:
                    raise ValueError(f"{audio16.numel()} samples at {rate} Hz is shorter than one code ({hop} samples)")
                loaded.append((item, audio, int(native_rate), audio16))
            except Exception as error:  # noqa: BLE001 - a bad file is reported, never fatal
                for system in systems:
                    if (system, item.id) not in done:
                        new_rows.append(_error_row(system, item, f"{type(error).__name__}: {error}"))
        needs_model = [entry for entry in loaded if (MODEL_SYSTEM, entry[0].id) not in done]
        if needs_model:
            lengths = torch.tensor([e[3].numel() for e in needs_model])
            batch = torch.zeros(len(needs_model), 1, int(lengths.max()))
            for i, entry in enumerate(needs_model):
                batch[i, 0, : entry[3].numel()] = entry[3]
            mask = torch.arange(batch.shape[-1])[None, :] < lengths[:, None]
            try:
                with torch.inference_mode():
                    start = time.perf_counter()
                    encoded = model.encode(batch.to(device), mask.to(device), chunk_length_s=config.chunk_length_s)
                    encode_s = time.perf_counter() - start
                    start = time.perf_counter()
                    decoded = model.decode(encoded.audio_codes, encoded.audio_codes_mask,
                                           chunk_length_s=config.chunk_length_s)
                    decode_s = time.perf_counter() - start
                    failure = None
            except Exception as error:  # noqa: BLE001
                failure = f"{type(error).__name__}: {error}"
            total = float(lengths.sum())
            for i, (item, audio, native_rate, audio16) in enumerate(needs_model):
                if failure is not None:
                    new_rows.append(_error_row(MODEL_SYSTEM, item, failure))
                    continue
                codes = encoded.audio_codes[i][encoded.audio_codes_mask[i].bool()].cpu()
                reconstruction = decoded.audio_values[i, 0, : codes.numel() * hop].float().cpu()
                try:
                    row = _metric_row(MODEL_SYSTEM, item, audio, native_rate, reconstruction, config.metric_options)
                except Exception as error:  # noqa: BLE001
                    new_rows.append(_error_row(MODEL_SYSTEM, item, f"{type(error).__name__}: {error}"))
                    continue
                share = audio16.numel() / total
                row.update(n_codes=int(codes.numel()), bitrate_bps=float(model.config.bitrate),
                           encode_s=encode_s * share, decode_s=decode_s * share)
                if config.token_stability is not None:  # four perturbed encodes of this file
                    fields = stability.row_fields(model, audio16, config.token_stability)
                    if "error" in fields:
                        row["metric_errors"] = {**(row["metric_errors"] or {}), "token_stability": fields.pop("error")}
                    row.update(fields)
                new_rows.append(row)
                new_codes.append({"id": item.id, "codes": codes.tolist()})
                if plots_made < config.num_plots:
                    name = f"{plots_made:02d}_{_safe_name(item.id)}.png"
                    plot_spectrogram_comparison(audio16, reconstruction, rate, plots_dir / name,
                                                title=f"{item.id} ({item.domain})",
                                                labels=("reference", f"{MODEL_SYSTEM} reconstruction"))
                    plots_made += 1
        for item, audio, native_rate, audio16 in loaded:
            for baseline in config.baselines:
                if (baseline, item.id) in done:
                    continue
                try:
                    result = run_baseline(baseline, audio16)
                    row = _metric_row(baseline, item, audio, native_rate, result.audio, config.metric_options)
                    row["bitrate_bps"] = result.bitrate_bps
                except Exception as error:  # noqa: BLE001 - includes a missing tool: recorded per file
                    row = _error_row(baseline, item, f"{type(error).__name__}: {error}")
                new_rows.append(row)
        codes_log.append(new_codes)  # codes first: a row is only "done" once its codes are stored
        rows_log.append(new_rows)
        progress.update(len(group))
    progress.close()
    return write_outputs(out, model.config, model_name=model_name, source_name=source_name,
                         metric_options=config.metric_options, weights_sha256=identity["model"]["weights_sha256"])


def write_outputs(out: Path, codec_config: Any, model_name: str | None = None, source_name: str | None = None,
                  metric_options: MetricOptions | None = None, weights_sha256: str | None = None) -> dict[str, Any]:
    """(Re)build rows.csv, summary.json and report.md from the logs in ``out``."""
    rows = JsonlLog(out / "rows.jsonl").read()
    codes = {c["id"]: c["codes"] for c in JsonlLog(out / "codes.jsonl").read()}
    write_rows_csv(rows, out / "rows.csv")
    summary = summarize(rows, codes, int(codec_config.codebook_size), float(codec_config.frame_rate))
    summary["model"], summary["source"] = model_name, source_name
    summary["model_weights_sha256"] = weights_sha256
    summary["metric_options"] = (metric_options or MetricOptions.codec_superb()).describe()
    plots = sorted(f"plots/{p.name}" for p in (out / "plots").glob("*.png")) if (out / "plots").is_dir() else []
    summary["plots"] = plots
    _atomic_write_text(out / "summary.json", json.dumps(_json_ready(summary), indent=2, allow_nan=False) + "\n")
    _atomic_write_text(out / "report.md", render_report(summary, plots))
    return summary
