"""Token-learnability subcommands: ``llmcodec token-lm`` (train an LM on a codec's codes — from scratch or warm-started
from a pretrained causal LM — and score it against unigram and n-gram baselines), ``llmcodec salmon`` (SALMon-style
consistency of such an LM), ``llmcodec paired-tests`` (local-likelihood paired tests) and ``llmcodec code-agreement``
(how differently two codecs code the same speech). Registered by :mod:`llmcodec.cli_evaluation`.

``--model`` is the codec (ours, any weights, or ``auv:PATH`` for the reference package; the old spelling
``--codec`` is a hidden alias), ``--output-dir`` the output folder (old spelling ``--output``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from llmcodec.cli_evaluation import items_from_args
from llmcodec.cli_options import (
    add_command,
    add_data_options,
    add_device_option,
    add_model_option,
    add_output_dir_option,
    finite_float,
    positive_int,
    positive_seconds,
)
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


def _lm_scorer(args: argparse.Namespace):
    """The :class:`CausalLMScorer` of ``--lm``; a folder that is not such an LM is a one-line error."""
    from llmcodec.evaluation.salmon import CausalLMScorer

    try:
        return CausalLMScorer.from_folder(args.lm, device=args.device)
    except (OSError, ValueError) as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"--lm {args.lm}: {message}") from error


def _codec_of(args: argparse.Namespace, scorer):
    """The ``--model`` codec, refused unless it has as many codes as the LM of ``scorer`` was trained on."""
    codec = _code_extractor(args)
    if codec.codebook_size != scorer.vocab.n_codes:
        raise UserError(f"the codec has {codec.codebook_size} codes but the LM was trained on {scorer.vocab.n_codes}")
    return codec


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        seeds = []
    if not seeds:
        raise UserError(f"--seeds {text!r}: give comma-separated integers, e.g. 0,1,2")
    return seeds


def _warm_start(args: argparse.Namespace):
    """The :class:`WarmStart` of ``--init-lm`` (None without it), checking the options that go with it."""
    from llmcodec.evaluation.token_lm_init import WarmStart

    if args.init_lm is None:
        if args.vocab in ("replace", "extend"):
            raise UserError(f"--vocab {args.vocab} needs --init-lm (a pretrained causal LM folder)")
        for option, value in (("--init-layers", args.init_layers), ("--init-rows", args.init_rows)):
            if value is not None:
                raise UserError(f"{option} needs --init-lm (a pretrained causal LM folder)")
        return None
    if args.vocab in ("codebook", "qwen"):
        raise UserError(f"--vocab {args.vocab} is for LMs trained from scratch; with --init-lm use replace or extend")
    if not Path(args.init_lm, "config.json").is_file():
        raise UserError(f"--init-lm {args.init_lm}: not a model folder (no config.json); build one with "
                        "`llmcodec lm smollm2 DIR`")
    rows = args.init_rows or "fresh"
    if rows.startswith("artifact:") and not Path(rows.removeprefix("artifact:"), "audio_tokens_meta.json").is_file():
        raise UserError(f"--init-rows {rows}: not an LLM-Codec LM artifact folder (no audio_tokens_meta.json)")
    try:
        return WarmStart(args.init_lm, args.vocab or "replace", rows, args.init_layers)
    except ValueError as error:
        raise UserError(str(error)) from error


def run_token_lm_command(args: argparse.Namespace) -> int:
    """Tokenize the data with the codec, split it (train/ and validation/ sub-folders, else a seeded hash), train a
    small Qwen3 causal LM from scratch with transformers.Trainer, and report eval loss and perplexity normalised
    over the audio codes (plus the full-vocabulary numbers) and k-step-ahead greedy accuracy, k = 1..5. Writes
    DIR/token_lm.json, token_lm.md and DIR/lm/."""
    from llmcodec.evaluation.token_lm import run_token_lm
    from llmcodec.evaluation.token_lm_model import TokenLMConfig

    if args.heads % args.kv_heads:
        raise UserError(f"--heads {args.heads} must be a multiple of --kv-heads {args.kv_heads}")
    warm = _warm_start(args)
    seeds = _seeds(args.seeds) if args.seeds else [args.seed]
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
        learning_rate=args.learning_rate or (1e-3 if warm else 2e-3),
        seed=seeds[0],
        vocab=args.vocab if args.vocab in ("codebook", "qwen") else "codebook",
        eval_fraction=args.eval_fraction,
    )
    speakers = _speakers(args)
    try:
        result = run_token_lm(codec, items, args.output_dir, config, device=args.device, warm=warm, seeds=seeds,
                              speakers=speakers, ngram_order=args.ngram_order, resamples=args.resamples,
                              save_steps=args.save_steps)
    except (FileNotFoundError, ValueError) as error:
        raise UserError(str(error).strip().splitlines()[0]) from error
    accuracy = " ".join(f"{100 * a:.1f}" for a in result["k_step_accuracy"])
    ci = result["intervals"]
    print(
        f"{result['codec']}: eval loss {result['loss']:.4f} nats/code [{ci['lm']['lo']:.4f}, {ci['lm']['hi']:.4f}], "
        f"perplexity {result['perplexity']:.2f} (normalised over the {result['codebook_size']} audio codes; "
        f"full-vocabulary perplexity {result['perplexity_full_vocab']:.2f}); unigram {result['unigram_loss']:.4f}, "
        f"{result['ngram_order']}-gram {result['ngram_loss']:.4f}; gain over the n-gram "
        f"{ci['gain_over_ngram']['mean']:+.4f} [{ci['gain_over_ngram']['lo']:+.4f}, {ci['gain_over_ngram']['hi']:+.4f}]; "
        f"k-step accuracy % (k=1..5): {accuracy}",
        file=sys.stderr,
    )
    if args.salmon or args.paired_tests:
        from llmcodec.evaluation.salmon import CausalLMScorer
        from llmcodec.evaluation.token_lm_data import split_items

        _, eval_items = split_items(items, config.eval_fraction, config.seed, speakers)
        scorer = CausalLMScorer.from_folder(result["lm_dir"], device=args.device)
    if args.salmon:
        from llmcodec.evaluation.salmon import run_salmon

        salmon = run_salmon(codec, scorer, eval_items, args.output_dir, perturbations,
                            _salmon_config(args, args.salmon_seconds), speakers)
        shown = ", ".join(f"{k} {100 * v:.1f} %" for k, v in salmon["accuracy"].items())
        print(f"SALMon-style accuracy (chance 50 %): {shown}", file=sys.stderr)
    if args.paired_tests:
        _run_paired(args, codec, scorer, eval_items, speakers, Path(result["codes_cache"]) / "train.jsonl",
                    args.ngram_order)
    print(f"report: {Path(args.output_dir) / 'token_lm.md'}", file=sys.stderr)
    return 0


def _run_paired(args, codec, scorer, items, speakers, train_codes: Path | None, order: int) -> None:
    """Paired tests with the LM and, when the training codes are known, the unigram and n-gram as controls."""
    from llmcodec.evaluation.ngram import KneserNeyLM, UnigramLM
    from llmcodec.evaluation.output_folder import JsonlLog
    from llmcodec.evaluation.paired_tests import PairedTestConfig, ngram_token_scorer, run_paired_tests
    from llmcodec.evaluation.token_lm_data import code_windows

    scorers = {"lm": scorer.token_log_probs}
    if train_codes is not None and train_codes.is_file():
        lists = [r["codes"] for r in JsonlLog(train_codes).read() if "codes" in r]
        windows = code_windows(lists, codec.codebook_size, getattr(args, "max_codes", 256))[0]
        scorers["unigram"] = ngram_token_scorer(UnigramLM(codec.codebook_size).fit(windows))
        scorers[f"{order}-gram"] = ngram_token_scorer(KneserNeyLM(codec.codebook_size, order).fit(windows))
    config = PairedTestConfig(clip_seconds=args.paired_seconds, window_seconds=args.paired_window,
                              max_pairs=args.salmon_pairs, seed=args.seed)
    try:
        result = run_paired_tests(codec, scorers, items, args.output_dir, config, speakers)
    except ValueError as error:
        raise UserError(str(error)) from error
    for name, rows in result["accuracy"].items():
        shown = ", ".join(f"{k} {100 * v['mean']:.1f} % [{100 * v['lo']:.1f}, {100 * v['hi']:.1f}]" for k, v in rows.items())
        print(f"paired tests, {name} (chance 50 %): {shown}", file=sys.stderr)


def run_paired_tests_command(args: argparse.Namespace) -> int:
    """Score a positive clip against a negative that changes at its middle, on a window after the change, with an
    LM written by `llmcodec token-lm` (DIR/lm) and, given --baselines-from, the unigram and n-gram fitted on that
    run's training codes. Chance is 50 percent."""
    scorer = _lm_scorer(args)  # the LM first: a wrong --lm fails before any audio is listed or decoded
    items, _ = items_from_args(args)
    codec = _codec_of(args, scorer)
    train_codes = None
    if args.baselines_from is not None:
        train_codes = Path(args.baselines_from)
        if not train_codes.is_file():
            raise UserError(f"--baselines-from {train_codes}: no such codes file (OUT/codes/<key>/train.jsonl of a token-lm run)")
    _run_paired(args, codec, scorer, items, _speakers(args), train_codes, args.ngram_order)
    return 0


def run_code_agreement_command(args: argparse.Namespace) -> int:
    """Tokenize the data with two codecs (cached, resumable) and report the share of frames with the same code and
    the unit edit distance of the deduplicated code strings, with bootstrap intervals over files. Run it before
    reading an LM difference between two codec arms."""
    from llmcodec.cli_options import check_device, resolve_model_spec
    from llmcodec.evaluation.code_agreement import run_code_agreement
    from llmcodec.evaluation.token_lm_data import load_code_extractor

    check_device(args.device)
    items, _ = items_from_args(args)
    codecs = [load_code_extractor(resolve_model_spec(spec), device=args.device) for spec in (args.model, args.other)]
    try:
        result = run_code_agreement(*codecs, items, args.output_dir)
    except ValueError as error:
        raise UserError(str(error)) from error
    agree, ued = result["frame_agreement"], result["ued"]
    print(f"{result['files']} files: same code on {100 * agree['mean']:.2f} % of frames "
          f"[{100 * agree['lo']:.2f}, {100 * agree['hi']:.2f}]; UED {100 * ued['mean']:.2f} % "
          f"[{100 * ued['lo']:.2f}, {100 * ued['hi']:.2f}]", file=sys.stderr)
    return 0


def run_salmon_command(args: argparse.Namespace) -> int:
    """Score consistent vs perturbed clips with an LM written by `llmcodec token-lm` (DIR/lm); chance is 50
    percent."""
    from llmcodec.evaluation.salmon import run_salmon

    perturbations = _perturbations(args.perturbations)
    items, _ = items_from_args(args)
    scorer = _lm_scorer(args)
    codec = _codec_of(args, scorer)
    result = run_salmon(codec, scorer, items, args.output_dir, perturbations,
                        _salmon_config(args, args.clip_seconds), _speakers(args))
    shown = ", ".join(f"{k} {100 * v:.1f} %" for k, v in result["accuracy"].items())
    print(f"SALMon-style accuracy (chance 50 %): {shown}; overall {100 * result['overall']:.1f} %", file=sys.stderr)
    return 0


def add_subcommands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``token-lm``, ``salmon``, ``paired-tests`` and ``code-agreement``."""
    token_lm = add_command(
        subparsers, "token-lm", run_token_lm_command,
        help="token learnability: train a tiny Qwen3 LM on a codec's codes; perplexity and k-step accuracy",
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
    token_lm.add_argument("--learning-rate", type=finite_float(0, exclusive_minimum=True), default=None,
                          help="peak learning rate, cosine schedule (default 2e-3 from scratch, 1e-3 warm-started)")
    token_lm.add_argument("--vocab", choices=["codebook", "qwen", "replace", "extend"], default=None,
                          help="from scratch: codebook (codes + BOS/PAD, default) or qwen (the extended Qwen3 ids, 172,149 "
                               "rows); with --init-lm: replace (the text vocabulary replaced by codes + BOS/PAD, default) "
                               "or extend (<CODEC_n> rows added after the text vocabulary)")
    token_lm.add_argument("--init-lm", default=None, metavar="DIR",
                          help="warm start from this pretrained causal LM folder (e.g. `llmcodec lm smollm2 DIR`); "
                               "its code is never run")
    token_lm.add_argument("--init-layers", type=positive_int, default=None, metavar="N",
                          help="keep only the first N transformer layers of --init-lm")
    token_lm.add_argument("--init-rows", default=None, metavar="SCHEME",
                          help="how code rows start with --init-lm: fresh (seeded, default), mean (mean text row + "
                               "noise), codebook (the codec's codebook through a seeded projection), artifact:PATH "
                               "(the <CODEC_n> rows of an LLM-Codec LM artifact)")
    token_lm.add_argument("--eval-fraction", type=finite_float(0, 1, exclusive_minimum=True), default=0.1,
                          help="held-out share (of speakers when metadata.jsonl names them) when there is no validation/ folder")
    token_lm.add_argument("--seed", type=int, default=0)
    token_lm.add_argument("--seeds", default=None, metavar="S,S,...",
                          help="train one LM per seed (e.g. 0,1,2) and aggregate; finished seeds are reused on a rerun")
    token_lm.add_argument("--save-steps", type=positive_int, default=50, metavar="N",
                          help="checkpoint a seed's LM training every N optimizer steps into DIR/trainer/seed{S} (the "
                               "newest only); the same command run again resumes an interrupted seed from there "
                               "(default 50)")
    token_lm.add_argument("--ngram-order", type=positive_int, default=3, help="order of the Kneser-Ney baseline")
    token_lm.add_argument("--resamples", type=positive_int, default=2000, help="bootstrap resamples over held-out files")
    token_lm.add_argument("--salmon", action="store_true", help="also run the SALMon-style test on the held-out files")
    token_lm.add_argument("--salmon-seconds", type=positive_seconds, default=4.0, help="SALMon clip length")
    token_lm.add_argument("--salmon-pairs", type=positive_int, default=100, help="max pairs per perturbation")
    token_lm.add_argument("--perturbations", default="speaker,noise,reverb")
    _add_paired_options(token_lm, flag=True)

    salmon = add_command(
        subparsers, "salmon", run_salmon_command,
        help="SALMon-style consistency accuracy of a token LM (speaker / noise / reverb perturbations)",
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

    paired = add_command(
        subparsers, "paired-tests", run_paired_tests_command,
        help="paired consistency tests (speaker / gain / noise change halfway, frame edits) by local likelihood",
    )
    add_model_option(paired, help="the codec the LM was trained on (or auv:PATH)")
    paired.add_argument("--lm", required=True, help="LM folder written by token-lm (DIR/lm)")
    paired.add_argument("--baselines-from", default=None, metavar="FILE",
                        help="training codes of the token-lm run (DIR/codes/<key>/train.jsonl) for the count controls")
    paired.add_argument("--ngram-order", type=positive_int, default=3)
    paired.add_argument("--salmon-pairs", type=positive_int, default=200, help="max pairs per negative")
    paired.add_argument("--seed", type=int, default=0)
    add_data_options(paired)
    add_output_dir_option(paired)
    add_device_option(paired)
    _add_paired_options(paired, flag=False)

    agreement = add_command(
        subparsers, "code-agreement", run_code_agreement_command,
        help="share of frames two codecs give the same code, and the unit edit distance, on the same audio",
    )
    add_model_option(agreement, help="codec A: " + CODEC_HELP)
    agreement.add_argument("--other", required=True, help="codec B: a folder, raw .pt, Hub id or auv:PATH")
    add_data_options(agreement)
    add_output_dir_option(agreement)
    add_device_option(agreement)


def _add_paired_options(parser: argparse.ArgumentParser, flag: bool) -> None:
    if flag:
        parser.add_argument("--paired-tests", action="store_true",
                            help="also run the local-likelihood paired tests on the held-out files")
    parser.add_argument("--paired-seconds", type=positive_seconds, default=4.0, help="clip length of a test pair")
    parser.add_argument("--paired-window", type=positive_seconds, default=1.0,
                        help="seconds scored after the change at the clip's middle")
