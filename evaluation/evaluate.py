"""Evaluate a codec on a corpus: per-file metric rows, a summary, spectrogram plots and a Markdown report.

``llmcodec evaluate --model M --data D --output-dir OUT`` (see :func:`evaluate`) writes::

    OUT/run.json        the model (path, weights sha256) and the options the rows were made with
    OUT/rows.jsonl      one JSON object per (system, file) — the source of truth, appended atomically
    OUT/rows.csv        the same rows as CSV (rewritten atomically from rows.jsonl at the end)
    OUT/codes.jsonl     the codes of each file ({"id", "codes"}), for codebook statistics on resume
    OUT/summary.json    per system: means per domain and overall (+ failure counts), bitrate, token rate,
                        codebook usage and entropy, real-time factors of encode and decode, token
                        stability (per file and mean, see :mod:`.token_stability`)
    OUT/plots/*.png     reference vs reconstruction mel spectrograms for the first ``num_plots`` files
    OUT/report.md       a short Markdown report embedding the plots

Modules: :mod:`.sources` (what to read), :mod:`.output_folder` (logs, resume record), :mod:`.report`
(summary and report), this module (coding and scoring).

Items (:mod:`.sources`) are read at their native rate; the codec sees them resampled to 16 kHz; metrics
compare the native-rate reference with the 16 kHz reconstruction (resampled back by
:func:`llmcodec.evaluation.metrics.compute_metrics`), as Codec-SUPERB does. Framing is the project's one rule
(as ``llmcodec encode``, ``tokenize-audio`` and the Codec-SUPERB adapter): ``floor(L / 320)`` codes, the last
partial frame dropped, so the reconstruction is up to 319 samples shorter and is zero-padded against the
reference by the metrics (as Codec-SUPERB's ``pad_arrays_to_match``); audio over ``chunk_length_s`` (60 s)
is coded in windows with 5 s context. Batches go through :func:`llmcodec.batching.encode_batch` /
:func:`~llmcodec.batching.decode_batch`, which give each file the codes it gets alone.

Resuming: rows already present in ``rows.jsonl`` (keyed by system and id) are skipped, and a torn last line
left by an interruption is dropped; ``run.json`` must match this run's model weights and options, else the
run is refused (:func:`llmcodec.evaluation.output_folder.check_resume`). A file that cannot be read, is
shorter than one code, or fails to encode is recorded as a row with ``status: "error"`` and counted, never
fatal.

Baselines (``baselines=["codec2_1200", "opus_6kbps", ...]``, see :mod:`.baselines`) are scored on
the same files with the same metrics and appear as further systems in the same rows and report.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from . import token_stability as stability
from .metrics import METRIC_NAMES, MetricOptions, compute_metrics
from .output_folder import JsonlLog, check_resume, weights_sha256
from .report import MODEL_SYSTEM, write_outputs
from .sources import AudioItem


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
        limit: evaluate only the first ``limit`` items (None: all).
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

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit must be >= 1 (or None for all items), got {self.limit}")
        if self.num_plots < 0:
            raise ValueError(f"num_plots must be >= 0, got {self.num_plots}")
        if self.chunk_length_s is not None and not (self.chunk_length_s > 0 and self.chunk_length_s != float("inf")):
            raise ValueError(f"chunk_length_s must be a finite number of seconds > 0 (or None), got {self.chunk_length_s}")


def run_identity(model: Any, model_name: str | None, config: EvaluateConfig) -> dict[str, Any]:
    """What the rows of an output folder depend on: the model (path and weights hash) and the scoring options."""
    return {
        "model": {"path": model_name, "weights_sha256": weights_sha256(model)},
        "metric_options": asdict(config.metric_options),
        "chunk_length_s": config.chunk_length_s,
        "token_stability": asdict(config.token_stability) if config.token_stability is not None else None,
    }


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


def _load(item: AudioItem, rate: int, hop: int) -> tuple[torch.Tensor, int, torch.Tensor]:
    """``(audio (L,) at its native rate, native rate, audio (L16,) at the codec rate)``; raises for unusable audio."""
    from llmcodec.audio import resample

    audio, native_rate = item.load()
    audio = torch.as_tensor(audio, dtype=torch.float32).reshape(-1)
    if not bool(torch.isfinite(audio).all()):
        raise ValueError("audio contains NaN/Inf samples")
    audio16 = resample(audio, native_rate, rate)
    if audio16.numel() < hop:
        raise ValueError(f"{audio16.numel()} samples at {rate} Hz is shorter than one code ({hop} samples)")
    return audio, int(native_rate), audio16


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
        model: an ``LLMCodecModel`` (``config.sampling_rate``, ``hop_length``, ``codebook_size``, ``frame_rate``,
            ``bitrate``).
        items: what to evaluate (:func:`.sources.folder_items`, :func:`.sources.dataset_items`).
        output: output folder (created).
        model_name: how the model was given (path or Hub id), recorded in ``run.json`` and the report.

    Returns:
        The summary dict (also written to ``output/summary.json``).
    """
    from llmcodec.batching import decode_batch, encode_batch

    from .baselines import BASELINE_NAMES, run_baseline
    from .plots import plot_spectrogram_comparison

    config = config or EvaluateConfig()
    unknown = [b for b in config.baselines if b not in BASELINE_NAMES]
    if unknown:
        raise ValueError(f"unknown baseline(s) {unknown}; choose from {list(BASELINE_NAMES)}")
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    rows_log, codes_log = JsonlLog(out / "rows.jsonl"), JsonlLog(out / "codes.jsonl")
    items = list(items)[: config.limit] if config.limit is not None else list(items)
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
    plots_made = len(sorted(plots_dir.glob("*.png"))) if plots_dir.is_dir() else 0
    model = model.eval()
    device = torch.device(config.device)
    progress = tqdm(total=len(todo), desc="evaluate", unit="file", disable=not config.progress, file=sys.stderr)
    for start in range(0, len(todo), config.batch_size):
        group = todo[start : start + config.batch_size]
        new_rows: list[dict[str, Any]] = []
        new_codes: list[dict[str, Any]] = []
        loaded: list[tuple[AudioItem, torch.Tensor, int, torch.Tensor]] = []
        for item in group:
            try:
                loaded.append((item, *_load(item, rate, hop)))
            except Exception as error:  # noqa: BLE001 - a bad file is reported, never fatal
                for system in systems:
                    if (system, item.id) not in done:
                        new_rows.append(_error_row(system, item, f"{type(error).__name__}: {error}"))
        needs_model = [entry for entry in loaded if (MODEL_SYSTEM, entry[0].id) not in done]
        if needs_model:
            waveforms = [entry[3] for entry in needs_model]
            try:
                start_s = time.perf_counter()
                codes_list, scales = encode_batch(model, waveforms, sampling_rate=rate,
                                                  chunk_length_s=config.chunk_length_s, device=device,
                                                  warn_out_of_range=False, return_scales=True)
                encode_s = time.perf_counter() - start_s
                start_s = time.perf_counter()
                # A level-normalising model is scored at the input's level, as `reconstruct` writes it.
                decoded = decode_batch(model, codes_list, chunk_length_s=config.chunk_length_s, device=device,
                                       audio_scales=scales)
                decode_s = time.perf_counter() - start_s
                failure = None
            except Exception as error:  # noqa: BLE001
                failure = f"{type(error).__name__}: {error}"
            total = float(sum(w.numel() for w in waveforms))
            for i, (item, audio, native_rate, audio16) in enumerate(needs_model):
                if failure is not None:
                    new_rows.append(_error_row(MODEL_SYSTEM, item, failure))
                    continue
                codes = torch.from_numpy(codes_list[i])
                reconstruction = decoded[i].float().cpu()
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
