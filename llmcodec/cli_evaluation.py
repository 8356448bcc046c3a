"""Evaluation subcommands: ``llmcodec metrics REF DEG``, ``llmcodec evaluate``, ``llmcodec token-stability FILES``,
and (from :mod:`llmcodec.cli_token_lm`) ``llmcodec token-lm`` and ``llmcodec salmon``.

``metrics`` prints Codec-SUPERB's six metrics for one reference/degraded pair as JSON (failed
metrics are ``null`` with their reason under ``errors``; an F0Corr without voiced frames is 0.0 as in
Codec-SUPERB, or ``null`` with ``--strict-f0corr``, and ``f0corr_failures`` says which). The degraded file is
resampled to the reference's rate and lengths are matched (zero-pad; ``--textbook`` crops), see
:mod:`llmcodec.evaluation.metrics`.

Options follow the convention of :mod:`llmcodec.cli` (``--model``, ``--output-dir``, ``--device``; the old
spellings ``--codec`` and ``--output`` are hidden aliases). Every number is checked when the command line is
parsed: a count is an integer >= 1, a duration finite seconds.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from llmcodec.cli_options import (
    add_command,
    add_data_options,
    add_device_option,
    add_model_option,
    add_output_dir_option,
    non_negative_int,
    non_negative_seconds,
    positive_int,
)
from llmcodec.errors import UserError

STRICT_F0CORR_HELP = ("F0Corr of a clip without voiced frames is null and left out of the mean, instead of "
                      "Codec-SUPERB's 0.0 (the default, as its leaderboard)")


# -------------------------------------------------------------------------------------------- metrics


def _json_ready(value):
    from llmcodec.evaluation.output_folder import json_ready

    return json_ready(value)


def run_metrics(args: argparse.Namespace) -> int:
    """Compare a degraded/reconstructed file with its reference. Defaults follow Codec-SUPERB's definitions
    (STOI/F0Corr at 16 kHz, its STOI port, F0 at an assumed 22,050 Hz, zero-pad alignment); failed metrics are
    null with a reason."""
    from llmcodec.audio import load_audio
    from llmcodec.evaluation.metrics import InvalidAudioError, MetricOptions, compute_metrics

    if args.textbook:
        options = MetricOptions.textbook()
    elif args.codec_superb_compat:
        options = MetricOptions.codec_superb_compat()
    else:
        options = MetricOptions.codec_superb()
    if args.strict_f0corr:
        options = dataclasses.replace(options, f0corr_fallback=False)
    audio = {}
    for role, path in (("reference", args.reference), ("degraded", args.degraded)):
        try:
            # The native rate is kept: Codec-SUPERB computes mel/stft/waveform at the reference's own rate.
            audio[role] = load_audio(Path(path), target_sr=None)
        except Exception as error:  # noqa: BLE001 - any decoder failure means an unreadable file
            raise UserError(f"cannot read {role} file {path}: {error}") from error
    (reference, rate), (degraded, degraded_rate) = audio["reference"], audio["degraded"]
    try:
        result = compute_metrics(reference, degraded, rate, degraded_rate, options=options)
    except InvalidAudioError as error:
        raise UserError(str(error)) from error
    result["reference"] = str(args.reference)
    result["degraded"] = str(args.degraded)
    result["degraded_sample_rate"] = degraded_rate
    result["mode"] = "textbook" if args.textbook else "codec_superb_compat" if args.codec_superb_compat else "codec_superb"
    result["f0corr_failures"] = options.describe()["f0corr_failures"]
    print(json.dumps(_json_ready(result), indent=2, allow_nan=False))
    return 0


# ------------------------------------------------------------------------------------------- evaluate


def items_from_args(args: argparse.Namespace):
    """Items and a source label from ``--data`` or ``--dataset`` (shared by evaluate / token-lm / salmon)."""
    from llmcodec.evaluation.sources import dataset_items, folder_items, load_hf_dataset

    if (args.data is None) == (args.dataset is None):
        raise UserError("give exactly one of --data FOLDER or --dataset NAME_OR_PATH")
    try:
        if args.data is not None:
            return folder_items(args.data), str(args.data)
        dataset = load_hf_dataset(args.dataset, args.split)
        items = dataset_items(dataset, args.audio_column, args.domain_column, args.id_column)
    except (FileNotFoundError, ValueError) as error:
        raise UserError(str(error)) from error
    return items, f"{args.dataset}" + (f" [{args.split}]" if args.split else "")


def run_evaluate(args: argparse.Namespace) -> int:
    """Encode/decode every file, compute Codec-SUPERB metrics against the reference, and write DIR/run.json,
    rows.jsonl, rows.csv, codes.jsonl, summary.json, plots/*.png and report.md. Resumable: rerun the same command
    to continue (another model or other metric options are refused); unreadable or too-short files become error
    rows."""
    from llmcodec.cli_options import check_device, resolve_model_spec
    from llmcodec.evaluation.baselines import BASELINE_NAMES
    from llmcodec.evaluation.evaluate import EvaluateConfig, evaluate
    from llmcodec.evaluation.metrics import MetricOptions
    from llmcodec.evaluation.report import MODEL_SYSTEM
    from llmcodec.evaluation.token_stability import TokenStabilityConfig, format_shares
    from llmcodec.hub import load_codec

    baselines = [b.strip() for b in (args.baselines or "").split(",") if b.strip()]
    unknown = [b for b in baselines if b not in BASELINE_NAMES]
    if unknown:
        raise UserError(f"unknown baseline(s) {unknown}; choose from {', '.join(BASELINE_NAMES)}")
    check_device(args.device)
    items, source = items_from_args(args)
    spec = resolve_model_spec(args.model)
    model = load_codec(spec, device=args.device)
    options = MetricOptions.textbook() if args.textbook else MetricOptions.codec_superb()
    if args.strict_f0corr:
        options = dataclasses.replace(options, f0corr_fallback=False)
    chunk = args.chunk_seconds or None  # 0 switches windowed coding off
    config = EvaluateConfig(
        batch_size=args.batch_size,
        baselines=baselines,
        num_plots=args.num_plots,
        metric_options=options,
        chunk_length_s=chunk,
        device=args.device,
        limit=args.limit,
        # Windowed-vs-whole follows this run's own windows (the CLI's 60 s / 5 s context by default).
        token_stability=None if args.no_token_stability else TokenStabilityConfig(**({"window_s": chunk} if chunk else {})),
    )
    summary = evaluate(model, items, args.output_dir, config, model_name=spec, source_name=source)
    for system, entry in summary["systems"].items():
        means = {m: entry["overall"][m]["mean"] for m in ("mel", "pesq", "stoi")}
        shown = ", ".join(f"{k} {v:.3f}" if v is not None else f"{k} -" for k, v in means.items())
        print(f"{system}: {entry['ok']} ok, {entry['failed']} failed; {shown}", file=sys.stderr)
        if entry.get("token_stability"):
            print(f"{system} token stability (codes unchanged, mean of {entry['token_stability']['files']} "
                  f"files): {format_shares(entry['token_stability']['mean'])}", file=sys.stderr)
    print(f"report: {Path(args.output_dir) / 'report.md'}", file=sys.stderr)
    model_entry = summary["systems"].get(MODEL_SYSTEM, {})
    return 1 if model_entry.get("failed") else 0


def run_token_stability_command(args: argparse.Namespace) -> int:
    """Print, per file and as a mean, the token-stability shares of `llmcodec evaluate` (see
    llmcodec.evaluation.token_stability)."""
    from llmcodec.audio import load_audio
    from llmcodec.cli_options import check_device, resolve_model_spec
    from llmcodec.evaluation.token_stability import format_shares, summarize_stability, token_stability
    from llmcodec.hub import load_codec

    check_device(args.device)
    model = load_codec(resolve_model_spec(args.model), device=args.device)
    per_file, failed = {}, 0
    for path in args.inputs:
        try:
            waveform, _ = load_audio(path, target_sr=int(model.config.sampling_rate))
            per_file[path] = token_stability(model, waveform)
        except Exception as error:  # noqa: BLE001 - one bad file fails alone
            print(f"failed: {error}" if str(path) in str(error) else f"failed: {path}: {error}", file=sys.stderr)
            failed += 1
            continue
        print(f"{path}: {format_shares(per_file[path])}", file=sys.stderr)
    summary = summarize_stability(per_file)
    print(f"mean of {len(per_file)} file(s): {format_shares(summary['mean'])}", file=sys.stderr)
    if args.json:
        print(json.dumps(_json_ready(summary), indent=2, allow_nan=False))
    return 1 if failed else 0


# --------------------------------------------------------------------------------------------- parser


def add_subcommands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``metrics``, ``evaluate``, ``token-stability``, ``token-lm`` and ``salmon``."""
    from llmcodec import cli_token_lm

    parser = add_command(subparsers, "metrics", run_metrics,
                         help="Codec-SUPERB metrics (mel, stft, waveform, pesq, stoi, f0corr) for one pair, as JSON")
    parser.add_argument("reference", help="reference audio file")
    parser.add_argument("degraded", help="degraded / reconstructed audio file")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--textbook",
        action="store_true",
        help="textbook variants: pystoi STOI, STOI/F0 at the native rate, true F0 rate, crop alignment",
    )
    mode.add_argument(
        "--codec-superb-compat",
        action="store_true",
        help="reproduce Codec-SUPERB's failure numbers (PESQ 1.0, STOI 0.0, F0Corr 0.0) instead of null",
    )
    parser.add_argument("--strict-f0corr", action="store_true", help=STRICT_F0CORR_HELP)

    evaluate = add_command(
        subparsers, "evaluate", run_evaluate,
        help="score the codec (and classical baselines) on a folder or dataset: rows, summary, plots, report",
    )
    add_model_option(evaluate)
    add_data_options(evaluate)
    add_output_dir_option(evaluate, deprecated_aliases=("--output",))
    add_device_option(evaluate)
    evaluate.add_argument("--baselines", default="", help="comma list: codec2_700C,codec2_1200,codec2_3200,opus_6kbps")
    evaluate.add_argument("--batch-size", type=positive_int, default=8, help="files per padded batch (default: 8)")
    evaluate.add_argument("--num-plots", type=non_negative_int, default=3, help="spectrogram PNGs for the first N files")
    evaluate.add_argument("--limit", type=positive_int, default=None, help="only the first N items")
    evaluate.add_argument("--chunk-seconds", type=non_negative_seconds, default=60.0,
                          help="windowed coding above this length; 0 = off (default: 60)")
    evaluate.add_argument("--textbook", action="store_true", help="textbook metric variants (see `llmcodec metrics`)")
    evaluate.add_argument("--strict-f0corr", action="store_true", help=STRICT_F0CORR_HELP)
    evaluate.add_argument("--no-token-stability", action="store_true",
                          help="skip the token-stability metric (4 extra encodes per file)")

    stability = add_command(
        subparsers, "token-stability", run_token_stability_command,
        help="share of codes unchanged under inaudible changes (noise -70 dBFS, int16, 1 dB gain, windows)",
    )
    stability.add_argument("inputs", nargs="+", help="audio files")
    add_model_option(stability)
    add_device_option(stability)
    stability.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")

    cli_token_lm.add_subcommands(subparsers)
