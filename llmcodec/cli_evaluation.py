"""Evaluation subcommands: ``llmcodec metrics REF DEG``, ``llmcodec evaluate``, ``llmcodec token-lm``,
``llmcodec salmon``.

``metrics`` prints Codec-SUPERB's six metrics for one reference/degraded pair as JSON (failed
metrics are ``null`` with their reason under ``errors``). The degraded file is resampled to the
reference's rate and lengths are matched (zero-pad; ``--textbook`` crops), see
:mod:`llmcodec.evaluation.metrics`.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import torch


def _read_audio(path: Path) -> tuple[torch.Tensor, int]:
    """Read a file as mono float32 ``(L,)`` at its native rate (channels averaged).

    The native rate is kept on purpose: Codec-SUPERB computes mel/stft/waveform at the reference's
    own rate. Raises ``llmcodec.audio.AudioReadError`` for unreadable files.
    """
    from llmcodec.audio import load_audio

    return load_audio(path, target_sr=None)


def _json_ready(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN; failures are explained in "errors"
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    return value


def run_metrics(args: argparse.Namespace) -> int:
    """Compute and print the metrics for ``args.reference`` vs ``args.degraded``."""
    from llmcodec.evaluation.metrics import InvalidAudioError, MetricOptions, compute_metrics

    if args.textbook and args.codec_superb_compat:
        print("error: --textbook and --codec-superb-compat are mutually exclusive", file=sys.stderr)
        return 2
    if args.textbook:
        options = MetricOptions.textbook()
    elif args.codec_superb_compat:
        options = MetricOptions.codec_superb_compat()
    else:
        options = MetricOptions.codec_superb()
    audio = {}
    for role, path in (("reference", args.reference), ("degraded", args.degraded)):
        try:
            audio[role] = _read_audio(Path(path))
        except Exception as error:  # noqa: BLE001 - any decoder failure means an unreadable file
            print(f"error: cannot read {role} file {path}: {error}", file=sys.stderr)
            return 1
    (reference, rate), (degraded, degraded_rate) = audio["reference"], audio["degraded"]
    try:
        result = compute_metrics(reference, degraded, rate, degraded_rate, options=options)
    except InvalidAudioError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    result["reference"] = str(args.reference)
    result["degraded"] = str(args.degraded)
    result["degraded_sample_rate"] = degraded_rate
    result["mode"] = "textbook" if args.textbook else "codec_superb_compat" if args.codec_superb_compat else "codec_superb"
    print(json.dumps(_json_ready(result), indent=2, allow_nan=False))
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    """``llmcodec evaluate``: score the model (and baselines) on a folder or dataset; see evaluation/README.md."""
    from llmcodec.cli_codec import resolve_model_spec
    from llmcodec.evaluation.baselines import BASELINE_NAMES
    from llmcodec.evaluation.evaluate import (
        EvaluateConfig,
        MODEL_SYSTEM,
        dataset_items,
        evaluate,
        folder_items,
        load_hf_dataset,
    )
    from llmcodec.evaluation.metrics import MetricOptions
    from llmcodec.hub import load_codec

    if (args.data is None) == (args.dataset is None):
        print("error: give exactly one of --data FOLDER or --dataset NAME_OR_PATH", file=sys.stderr)
        return 2
    baselines = [b.strip() for b in (args.baselines or "").split(",") if b.strip()]
    unknown = [b for b in baselines if b not in BASELINE_NAMES]
    if unknown:
        print(f"error: unknown baseline(s) {unknown}; choose from {', '.join(BASELINE_NAMES)}", file=sys.stderr)
        return 2
    try:
        if args.data is not None:
            items, source = folder_items(args.data), str(args.data)
        else:
            dataset = load_hf_dataset(args.dataset, args.split)
            items = dataset_items(dataset, args.audio_column, args.domain_column, args.id_column)
            source = f"{args.dataset}" + (f" [{args.split}]" if args.split else "")
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    spec = resolve_model_spec(args.model)
    model = load_codec(spec, device=args.device)
    options = MetricOptions.textbook() if args.textbook else MetricOptions.codec_superb()
    config = EvaluateConfig(
        batch_size=args.batch_size,
        baselines=baselines,
        num_plots=args.num_plots,
        metric_options=options,
        chunk_length_s=args.chunk_seconds if args.chunk_seconds and args.chunk_seconds > 0 else None,
        device=args.device,
        limit=args.limit,
    )
    summary = evaluate(model, items, args.output, config, model_name=spec, source_name=source)
    for system, entry in summary["systems"].items():
        means = {m: entry["overall"][m]["mean"] for m in ("mel", "pesq", "stoi")}
        shown = ", ".join(f"{k} {v:.3f}" if v is not None else f"{k} -" for k, v in means.items())
        print(f"{system}: {entry['ok']} ok, {entry['failed']} failed; {shown}", file=sys.stderr)
    print(f"report: {Path(args.output) / 'report.md'}", file=sys.stderr)
    model_entry = summary["systems"].get(MODEL_SYSTEM, {})
    return 1 if model_entry.get("failed") else 0


def add_subcommands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``metrics``, ``evaluate``, ``token-lm`` and ``salmon`` on the ``llmcodec`` parser."""
    parser = subparsers.add_parser(
        "metrics",
        help="Codec-SUPERB metrics (mel, stft, waveform, pesq, stoi, f0corr) for one pair, as JSON",
        description=(
            "Compare a degraded/reconstructed file with its reference. Defaults follow Codec-SUPERB's "
            "definitions (STOI/F0Corr at 16 kHz, its STOI port, F0 at an assumed 22,050 Hz, zero-pad "
            "alignment); failed metrics are null with a reason."
        ),
    )
    parser.add_argument("reference", help="reference audio file")
    parser.add_argument("degraded", help="degraded / reconstructed audio file")
    parser.add_argument(
        "--textbook",
        action="store_true",
        help="textbook variants: pystoi STOI, STOI/F0 at the native rate, true F0 rate, crop alignment",
    )
    parser.add_argument(
        "--codec-superb-compat",
        action="store_true",
        help="reproduce Codec-SUPERB's failure numbers (PESQ 1.0, STOI 0.0, F0Corr 0.0) instead of null",
    )
    parser.set_defaults(func=run_metrics)

    evaluate = subparsers.add_parser(
        "evaluate",
        help="score the codec (and classical baselines) on a folder or dataset: rows, summary, plots, report",
        description=(
            "Encode/decode every file, compute Codec-SUPERB metrics against the reference, and write "
            "OUT/rows.jsonl, rows.csv, codes.jsonl, summary.json, plots/*.png and report.md. Resumable: "
            "rerun the same command to continue; unreadable or too-short files become error rows."
        ),
    )
    evaluate.add_argument("--model", default=None, help="exported folder, raw .pt or Hub id (default: $LLMCODEC_MODEL)")
    evaluate.add_argument("--data", default=None, help="folder of audio files (recursive; domain = first sub-folder)")
    evaluate.add_argument("--dataset", default=None, help="HF dataset: a load_from_disk folder or a load_dataset name/path")
    evaluate.add_argument("--split", default=None, help="dataset split")
    evaluate.add_argument("--audio-column", default="audio")
    evaluate.add_argument("--domain-column", default=None, help="column giving each row's domain (e.g. Speech/Audio/Music)")
    evaluate.add_argument("--id-column", default=None, help="column with unique ids (default: the row index)")
    evaluate.add_argument("--output", required=True, help="output folder")
    evaluate.add_argument("--baselines", default="", help="comma list: codec2_700C,codec2_1200,codec2_3200,opus_6kbps")
    evaluate.add_argument("--batch-size", type=int, default=8)
    evaluate.add_argument("--num-plots", type=int, default=3, help="spectrogram PNGs for the first N files")
    evaluate.add_argument("--limit", type=int, default=None, help="only the first N items")
    evaluate.add_argument("--device", default="cpu")
    evaluate.add_argument("--chunk-seconds", type=float, default=60.0, help="windowed coding above this length; 0 = off")
    evaluate.add_argument("--textbook", action="store_true", help="textbook metric variants (see `llmcodec metrics`)")
    evaluate.set_defaults(func=run_evaluate)
