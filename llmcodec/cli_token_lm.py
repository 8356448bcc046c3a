"""Token-learnability subcommands: ``llmcodec token-lm`` (train a tiny LM on a codec's codes and score it) and
``llmcodec salmon`` (SALMon-style consistency of such an LM). Registered by :mod:`llmcodec.cli_evaluation`.

``--model`` is the codec (ours, any weights, or ``auv:PATH`` for the reference package; the old spelling
``--codec`` is a hidden alias), ``--output-dir`` the output folder (old spelling ``--output``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from llmcodec.cli_evaluation import add_data_options, finite_float, items_from_args
from llmcodec.cli_options import add_device_option, add_model_option, add_output_dir_option, positive_int, positive_seconds
from llmcodec.errors import UserError

CODEC_HELP = ("the codec: an exported folder, raw .pt or Hub id, or auv:PATH for the reference auv package "
              "(default: $LLMCODEC_MODEL, else the bundled default model)")


def _speakers(args: argparse.Namespace) -> dict[str, str]:
    from llmcodec.evaluation.salmon import speakers_from_metadata

    return speakers_from_metadata(args.data) if args.data is not None else {}


def _salmon_config(args: argparse.Namespace, seconds: float):
    from llmcodec.evaluation.salmon import SalmonConfig

    return SalmonConfig(clip_seconds=seconds, max_pairs=args.salmon_pairs, seed=args.seed)


def _perturbations(text: str) -> list[str]:
    from llmcodec.evaluation.salmon import PERTURBATIONS

    chosen = [p.strip() for p in text.split(",") if p.strip()]
    unknown = [p for p in chosen if p not in PERTURBATIONS]
    if unknown or not chosen:
        raise UserError(f"--perturbations {text!r}: choose from {', '.join(PERTURBATIONS)}")
    return chosen


def _code_extractor(args: argparse.Namespace):
    from llmcodec.cli_options import check_device, resolve_model_spec
    from llmcodec.evaluation.token_lm_data import load_code_extractor

    check_device(args.device)
    return load_code_extractor(resolve_model_spec(args.model), device=args.device)


def run_token_lm_command(args: argparse.Namespace) -> int:
    """``llmcodec token-lm``: tokenize, train a tiny Qwen3 LM, report perplexity and k-step accuracy."""
    from llmcodec.evaluation.token_lm import run_token_lm
    from llmcodec.evaluation.token_lm_model import TokenLMConfig

    if args.heads % args.kv_heads:
        raise UserError(f"--heads {args.heads} must be a multiple of --kv-heads {args.kv_heads}")
    perturbations = _perturbations(args.perturbations) if args.salmon else None
    items, _ = items_from_args(args)
    codec = _code_extractor(args)
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
    result = run_token_lm(codec, items, args.output_dir, config, device=args.device)
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
        salmon = run_salmon(codec, scorer, eval_items, args.output_dir, perturbations,
                            _salmon_config(args, args.salmon_seconds), _speakers(args))
        shown = ", ".join(f"{k} {100 * v:.1f} %" for k, v in salmon["accuracy"].items())
        print(f"SALMon-style accuracy (chance 50 %): {shown}", file=sys.stderr)
    print(f"report: {Path(args.output_dir) / 'token_lm.md'}", file=sys.stderr)
    return 0


def run_salmon_command(args: argparse.Namespace) -> int:
    """``llmcodec salmon``: consistent vs perturbed clips scored by a token LM from ``llmcodec token-lm``."""
    from llmcodec.evaluation.salmon import CausalLMScorer, run_salmon

    perturbations = _perturbations(args.perturbations)
    items, _ = items_from_args(args)
    try:
        scorer = CausalLMScorer.from_folder(args.lm, device=args.device)
    except (OSError, ValueError) as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"--lm {args.lm}: {message}") from error
    codec = _code_extractor(args)
    if codec.codebook_size != scorer.vocab.n_codes:
        raise UserError(f"the codec has {codec.codebook_size} codes but the LM was trained on {scorer.vocab.n_codes}")
    result = run_salmon(codec, scorer, items, args.output_dir, perturbations,
                        _salmon_config(args, args.clip_seconds), _speakers(args))
    shown = ", ".join(f"{k} {100 * v:.1f} %" for k, v in result["accuracy"].items())
    print(f"SALMon-style accuracy (chance 50 %): {shown}; overall {100 * result['overall']:.1f} %", file=sys.stderr)
    return 0


def add_subcommands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``token-lm`` and ``salmon``."""
    token_lm = subparsers.add_parser(
        "token-lm",
        help="token learnability: train a tiny Qwen3 LM on a codec's codes; perplexity and k-step accuracy",
        description=(
            "Tokenize the data with the codec, split it (train/ and validation/ sub-folders, else a seeded "
            "hash), train a small Qwen3 causal LM from scratch with transformers.Trainer, and report eval "
            "loss and perplexity normalised over the audio codes (plus the full-vocabulary numbers) and "
            "k-step-ahead greedy accuracy, k = 1..5. Writes DIR/token_lm.json, token_lm.md and DIR/lm/."
        ),
    )
    add_model_option(token_lm, help=CODEC_HELP, deprecated_aliases=("--codec",))
    add_data_options(token_lm)
    add_output_dir_option(token_lm, deprecated_aliases=("--output",))
    add_device_option(token_lm)
    token_lm.add_argument("--epochs", type=finite_float(0, exclusive_minimum=True), default=3.0)
    token_lm.add_argument("--hidden-size", type=positive_int, default=128)
    token_lm.add_argument("--intermediate-size", type=positive_int, default=None, help="default: 2 x hidden size")
    token_lm.add_argument("--layers", type=positive_int, default=2)
    token_lm.add_argument("--heads", type=positive_int, default=4)
    token_lm.add_argument("--kv-heads", type=positive_int, default=2, help="key/value heads; --heads must be a multiple")
    token_lm.add_argument("--head-dim", type=positive_int, default=None, help="default: hidden size / heads")
    token_lm.add_argument("--max-codes", type=positive_int, default=256, help="codes per training sequence (256 = 5.12 s)")
    token_lm.add_argument("--batch-size", type=positive_int, default=16)
    token_lm.add_argument("--learning-rate", type=finite_float(0, exclusive_minimum=True), default=2e-3)
    token_lm.add_argument("--vocab", choices=["codebook", "qwen"], default="codebook",
                          help="LM ids: codebook + BOS/PAD, or the extended Qwen3 tokenizer ids (172,149 rows)")
    token_lm.add_argument("--eval-fraction", type=finite_float(0, 1, exclusive_minimum=True), default=0.1,
                          help="held-out share when there is no validation/ folder")
    token_lm.add_argument("--seed", type=int, default=0)
    token_lm.add_argument("--salmon", action="store_true", help="also run the SALMon-style test on the held-out files")
    token_lm.add_argument("--salmon-seconds", type=positive_seconds, default=4.0, help="SALMon clip length")
    token_lm.add_argument("--salmon-pairs", type=positive_int, default=100, help="max pairs per perturbation")
    token_lm.add_argument("--perturbations", default="speaker,noise,reverb")
    token_lm.set_defaults(func=run_token_lm_command)

    salmon = subparsers.add_parser(
        "salmon",
        help="SALMon-style consistency accuracy of a token LM (speaker / noise / reverb perturbations)",
        description="Score consistent vs perturbed clips with an LM written by `llmcodec token-lm` (DIR/lm); chance is 50 percent.",
    )
    add_model_option(salmon, help="the codec the LM was trained on (or auv:PATH)", deprecated_aliases=("--codec",))
    salmon.add_argument("--lm", required=True, help="LM folder written by token-lm (DIR/lm)")
    add_data_options(salmon)
    add_output_dir_option(salmon, deprecated_aliases=("--output",))
    add_device_option(salmon)
    salmon.add_argument("--clip-seconds", type=positive_seconds, default=4.0)
    salmon.add_argument("--salmon-pairs", type=positive_int, default=100, help="max pairs per perturbation")
    salmon.add_argument("--perturbations", default="speaker,noise,reverb")
    salmon.add_argument("--seed", type=int, default=0)
    salmon.set_defaults(func=run_salmon_command)
