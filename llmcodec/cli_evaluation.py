"""Evaluation subcommands: ``llmcodec metrics REF DEG``, ``llmcodec evaluate``, ``llmcodec token-lm``,
``llmcodec salmon``, ``llmcodec token-stability FILES``.

``metrics`` prints Codec-SUPERB's six metrics for one reference/degraded pair as JSON (failed
metrics are ``null`` with their reason under ``errors``; an F0Corr without voiced frames is 0.0 as in
Codec-SUPERB, or ``null`` with ``--strict-f0corr``, and ``f0corr_failures`` says which). The degraded file is resampled to the
reference's rate and lengths are matched (zero-pad; ``--textbook`` crops), see
:mod:`llmcodec.evaluation.metrics`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from pathlib import Path
from typing import Any

import torch

STRICT_F0CORR_HELP = ("F0Corr of a clip without voiced frames is null and left out of the mean, instead of "
                      "Codec-SUPERB's 0.0 (the default, as its leaderboard)")


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
    if args.strict_f0corr:
        options = dataclasses.replace(options, f0corr_fallback=False)
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
    result["f0corr_failures"] = options.describe()["f0corr_failures"]
    print(json.dumps(_json_ready(result), indent=2, allow_nan=False))
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    """``llmcodec evaluate``: score the model (and baselines) on a folder or dataset; see evaluation/README.md."""
    from llmcodec.cli_codec import resolve_model_spec
    from llmcodec.evaluation.baselines import BASELINE_NAMES
    from llmcodec.evaluation.evaluate import EvaluateConfig, evaluate
    from llmcodec.evaluation.report import MODEL_SYSTEM
    from llmcodec.evaluation.metrics import MetricOptions
    from llmcodec.evaluation.token_stability import TokenStabilityConfig, format_shares
    from llmcodec.hub import load_codec

    baselines = [b.strip() for b in (args.baselines or "").split(",") if b.strip()]
    unknown = [b for b in baselines if b not in BASELINE_NAMES]
    if unknown:
        print(f"error: unknown baseline(s) {unknown}; choose from {', '.join(BASELINE_NAMES)}", file=sys.stderr)
        return 2
    try:
        items, source = _items_from_args(args)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    spec = resolve_model_spec(args.model)
    model = load_codec(spec, device=args.device)
    options = MetricOptions.textbook() if args.textbook else MetricOptions.codec_superb()
    if args.strict_f0corr:
        options = dataclasses.replace(options, f0corr_fallback=False)
    config = EvaluateConfig(
        batch_size=args.batch_size,
        baselines=baselines,
        num_plots=args.num_plots,
        metric_options=options,
        chunk_length_s=args.chunk_seconds if args.chunk_seconds and args.chunk_seconds > 0 else None,
        device=args.device,
        limit=args.limit,
        # Windowed-vs-whole follows this run's own windows (the CLI's 60 s / 5 s context by default).
        token_stability=None if args.no_token_stability else TokenStabilityConfig(
            **({"window_s": args.chunk_seconds} if args.chunk_seconds and args.chunk_seconds > 0 else {})),
    )
    summary = evaluate(model, items, args.output, config, model_name=spec, source_name=source)
    for system, entry in summary["systems"].items():
        means = {m: entry["overall"][m]["mean"] for m in ("mel", "pesq", "stoi")}
        shown = ", ".join(f"{k} {v:.3f}" if v is not None else f"{k} -" for k, v in means.items())
        print(f"{system}: {entry['ok']} ok, {entry['failed']} failed; {shown}", file=sys.stderr)
        if entry.get("token_stability"):
            print(f"{system} token stability (codes unchanged, mean of {entry['token_stability']['files']} "
                  f"files): {format_shares(entry['token_stability']['mean'])}", file=sys.stderr)
    print(f"report: {Path(args.output) / 'report.md'}", file=sys.stderr)
    model_entry = summary["systems"].get(MODEL_SYSTEM, {})
    return 1 if model_entry.get("failed") else 0


def run_token_stability_command(args: argparse.Namespace) -> int:
    """``llmcodec token-stability FILES``: the evaluate metric on a few files; exit 1 if any file failed."""
    from llmcodec.audio import load_audio
    from llmcodec.cli_codec import resolve_model_spec
    from llmcodec.evaluation.token_stability import format_shares, summarize_stability, token_stability
    from llmcodec.hub import load_codec

    model = load_codec(resolve_model_spec(args.model), device=args.device)
    per_file, failed = {}, 0
    for path in args.inputs:
        try:
            waveform, _ = load_audio(path, target_sr=int(model.config.sampling_rate))
            per_file[path] = token_stability(model, waveform)
        except Exception as error:  # noqa: BLE001 - one bad file fails alone
            print(f"error: {error}" if str(path) in str(error) else f"error: {path}: {error}", file=sys.stderr)
            failed += 1
            continue
        print(f"{path}: {format_shares(per_file[path])}", file=sys.stderr)
    summary = summarize_stability(per_file)
    print(f"mean of {len(per_file)} file(s): {format_shares(summary['mean'])}", file=sys.stderr)
    if args.json:
        print(json.dumps(_json_ready(summary), indent=2, allow_nan=False))
    return 1 if failed else 0


def _items_from_args(args: argparse.Namespace):
    """Items and a source label from ``--data`` or ``--dataset`` (shared by evaluate / token-lm / salmon)."""
    from llmcodec.evaluation.sources import dataset_items, folder_items, load_hf_dataset

    if (args.data is None) == (args.dataset is None):
        raise ValueError("give exactly one of --data FOLDER or --dataset NAME_OR_PATH")
    if args.data is not None:
        return folder_items(args.data), str(args.data)
    dataset = load_hf_dataset(args.dataset, args.split)
    items = dataset_items(dataset, args.audio_column, args.domain_column, args.id_column)
    return items, f"{args.dataset}" + (f" [{args.split}]" if args.split else "")


def _speakers(args: argparse.Namespace) -> dict[str, str]:
    from llmcodec.evaluation.salmon import speakers_from_metadata

    return speakers_from_metadata(args.data) if args.data is not None else {}


def _salmon_config(args: argparse.Namespace, seconds: float):
    from llmcodec.evaluation.salmon import SalmonConfig

    return SalmonConfig(clip_seconds=seconds, max_pairs=args.salmon_pairs, seed=args.seed)


def _perturbations(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def run_token_lm_command(args: argparse.Namespace) -> int:
    """``llmcodec token-lm``: tokenize, train a tiny Qwen3 LM, report perplexity and k-step accuracy."""
    from llmcodec.evaluation.token_lm import run_token_lm
    from llmcodec.evaluation.token_lm_data import load_code_extractor
    from llmcodec.evaluation.token_lm_model import TokenLMConfig

    try:
        items, _ = _items_from_args(args)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    codec = load_code_extractor(args.codec, device=args.device)
    config = TokenLMConfig(
        hidden_size=args.hidden_size,
        intermediate_size=args.intermediate_size or 2 * args.hidden_size,
        num_hidden_layers=args.layers,
        num_attention_heads=args.heads,
        num_key_value_heads=args.kv_heads,
        head_dim=args.head_dim or max(args.hidden_size // args.heads, 8),
        max_codes=args.max_codes,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        seed=args.seed,
        vocab=args.vocab,
        eval_fraction=args.eval_fraction,
    )
    try:
        result = run_token_lm(codec, items, args.output, config, device=args.device)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    accuracy = " ".join(f"{100 * a:.1f}" for a in result["k_step_accuracy"])
    print(
        f"{result['codec']}: eval loss {result['loss']:.4f} nats/code, perplexity {result['perplexity']:.2f} "
        f"(normalised over the {result['codebook_size']} audio codes; full-vocabulary perplexity "
        f"{result['perplexity_full_vocab']:.2f}); k-step accuracy % (k=1..5): {accuracy}",
        file=sys.stderr,
    )
    if args.salmon:
        from llmcodec.evaluation.salmon import CausalLMScorer, run_salmon
        from llmcodec.evaluation.token_lm_data import split_items

        _, eval_items = split_items(items, config.eval_fraction, config.seed)
        scorer = CausalLMScorer.from_folder(result["lm_dir"], device=args.device)
        salmon = run_salmon(codec, scorer, eval_items, args.output, _perturbations(args.perturbations),
                            _salmon_config(args, args.salmon_seconds), _speakers(args))
        shown = ", ".join(f"{k} {100 * v:.1f} %" for k, v in salmon["accuracy"].items())
        print(f"SALMon-style accuracy (chance 50 %): {shown}", file=sys.stderr)
    print(f"report: {Path(args.output) / 'token_lm.md'}", file=sys.stderr)
    return 0


def run_salmon_command(args: argparse.Namespace) -> int:
    """``llmcodec salmon``: consistent vs perturbed clips scored by a token LM from ``llmcodec token-lm``."""
    from llmcodec.evaluation.salmon import CausalLMScorer, run_salmon
    from llmcodec.evaluation.token_lm_data import load_code_extractor

    try:
        items, _ = _items_from_args(args)
        scorer = CausalLMScorer.from_folder(args.lm, device=args.device)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    codec = load_code_extractor(args.codec, device=args.device)
    if codec.codebook_size != scorer.vocab.n_codes:
        print(f"error: the codec has {codec.codebook_size} codes but the LM was trained on "
              f"{scorer.vocab.n_codes}", file=sys.stderr)
        return 2
    try:
        result = run_salmon(codec, scorer, items, args.output, _perturbations(args.perturbations),
                            _salmon_config(args, args.clip_seconds), _speakers(args))
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    shown = ", ".join(f"{k} {100 * v:.1f} %" for k, v in result["accuracy"].items())
    print(f"SALMon-style accuracy (chance 50 %): {shown}; overall {100 * result['overall']:.1f} %", file=sys.stderr)
    return 0


def _add_data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default=None, help="folder of audio files (recursive; domain = first sub-folder)")
    parser.add_argument("--dataset", default=None, help="HF dataset: a load_from_disk folder or a load_dataset name/path")
    parser.add_argument("--split", default=None, help="dataset split")
    parser.add_argument("--audio-column", default="audio")
    parser.add_argument("--domain-column", default=None, help="column giving each row's domain / split folder")
    parser.add_argument("--id-column", default=None, help="column with unique ids (default: the row index)")


def add_subcommands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``metrics``, ``evaluate``, ``token-stability``, ``token-lm`` and ``salmon`` on the ``llmcodec`` parser."""
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
    parser.add_argument("--strict-f0corr", action="store_true", help=STRICT_F0CORR_HELP)
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
    evaluate.add_argument("--model", default=None, help="exported folder, raw .pt or Hub id (default: $LLMCODEC_MODEL, else the bundled default model)")
    _add_data_options(evaluate)
    evaluate.add_argument("--output", required=True, help="output folder")
    evaluate.add_argument("--baselines", default="", help="comma list: codec2_700C,codec2_1200,codec2_3200,opus_6kbps")
    evaluate.add_argument("--batch-size", type=int, default=8)
    evaluate.add_argument("--num-plots", type=int, default=3, help="spectrogram PNGs for the first N files")
    evaluate.add_argument("--limit", type=int, default=None, help="only the first N items")
    evaluate.add_argument("--device", default="cpu")
    evaluate.add_argument("--chunk-seconds", type=float, default=60.0, help="windowed coding above this length; 0 = off")
    evaluate.add_argument("--textbook", action="store_true", help="textbook metric variants (see `llmcodec metrics`)")
    evaluate.add_argument("--strict-f0corr", action="store_true", help=STRICT_F0CORR_HELP)
    evaluate.add_argument("--no-token-stability", action="store_true",
                          help="skip the token-stability metric (4 extra encodes per file)")
    evaluate.set_defaults(func=run_evaluate)

    stability = subparsers.add_parser(
        "token-stability",
        help="share of codes unchanged under inaudible changes (noise -70 dBFS, int16, 1 dB gain, windows)",
        description="Print, per file and as a mean, the token-stability shares of `llmcodec evaluate` "
                    "(see llmcodec.evaluation.token_stability).",
    )
    stability.add_argument("inputs", nargs="+", help="audio files")
    stability.add_argument("--model", default=None, help="exported folder, raw .pt or Hub id (default: the bundled model)")
    stability.add_argument("--device", default="cpu")
    stability.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    stability.set_defaults(func=run_token_stability_command)

    token_lm = subparsers.add_parser(
        "token-lm",
        help="token learnability: train a tiny Qwen3 LM on a codec's codes; perplexity and k-step accuracy",
        description=(
            "Tokenize the data with the codec, split it (train/ and validation/ sub-folders, else a seeded "
            "hash), train a small Qwen3 causal LM from scratch with transformers.Trainer, and report eval "
            "loss and perplexity normalised over the audio codes (plus the full-vocabulary numbers) and "
            "k-step-ahead greedy accuracy, k = 1..5. Writes OUT/token_lm.json, token_lm.md and OUT/lm/."
        ),
    )
    token_lm.add_argument("--codec", required=True, help="our model (folder, raw .pt, Hub id) or auv:PATH for the reference auv")
    _add_data_options(token_lm)
    token_lm.add_argument("--output", required=True)
    token_lm.add_argument("--epochs", type=float, default=3.0)
    token_lm.add_argument("--hidden-size", type=int, default=128)
    token_lm.add_argument("--intermediate-size", type=int, default=None, help="default: 2 x hidden size")
    token_lm.add_argument("--layers", type=int, default=2)
    token_lm.add_argument("--heads", type=int, default=4)
    token_lm.add_argument("--kv-heads", type=int, default=2)
    token_lm.add_argument("--head-dim", type=int, default=None, help="default: hidden size / heads")
    token_lm.add_argument("--max-codes", type=int, default=256, help="codes per training sequence (256 = 5.12 s)")
    token_lm.add_argument("--batch-size", type=int, default=16)
    token_lm.add_argument("--learning-rate", type=float, default=2e-3)
    token_lm.add_argument("--vocab", choices=["codebook", "qwen"], default="codebook",
                          help="LM ids: codebook + BOS/PAD, or the extended Qwen3 tokenizer ids (172,149 rows)")
    token_lm.add_argument("--eval-fraction", type=float, default=0.1, help="held-out share when there is no validation/ folder")
    token_lm.add_argument("--seed", type=int, default=0)
    token_lm.add_argument("--device", default="cpu")
    token_lm.add_argument("--salmon", action="store_true", help="also run the SALMon-style test on the held-out files")
    token_lm.add_argument("--salmon-seconds", type=float, default=4.0, help="SALMon clip length")
    token_lm.add_argument("--salmon-pairs", type=int, default=100, help="max pairs per perturbation")
    token_lm.add_argument("--perturbations", default="speaker,noise,reverb")
    token_lm.set_defaults(func=run_token_lm_command)

    salmon = subparsers.add_parser(
        "salmon",
        help="SALMon-style consistency accuracy of a token LM (speaker / noise / reverb perturbations)",
        description="Score consistent vs perturbed clips with an LM written by `llmcodec token-lm` (OUT/lm); chance is 50 percent.",
    )
    salmon.add_argument("--codec", required=True, help="the codec the LM was trained on (or auv:PATH)")
    salmon.add_argument("--lm", required=True, help="LM folder written by token-lm (OUT/lm)")
    _add_data_options(salmon)
    salmon.add_argument("--output", required=True)
    salmon.add_argument("--clip-seconds", type=float, default=4.0)
    salmon.add_argument("--salmon-pairs", type=int, default=100, help="max pairs per perturbation")
    salmon.add_argument("--perturbations", default="speaker,noise,reverb")
    salmon.add_argument("--seed", type=int, default=0)
    salmon.add_argument("--device", default="cpu")
    salmon.set_defaults(func=run_salmon_command)
