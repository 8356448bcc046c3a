"""``llmcodec tokenize-audio``: audio files or an HF audio dataset -> `<CODEC_n>` jsonl shards (+ a dataset)."""

from __future__ import annotations

import argparse
import os
import sys

from llmcodec.cli_options import add_command, add_model_option, non_negative_seconds, positive_int


def add_subcommands(subparsers: argparse._SubParsersAction) -> None:
    ta = add_command(subparsers, "tokenize-audio", _cmd_tokenize_audio,
                     help="audio files or an HF audio dataset -> <CODEC_n> strings (jsonl shards + datasets dataset)")
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
    add_model_option(ta)
    ta.add_argument("--backend", choices=["torch", "onnx"], default="torch",
                    help="torch (default), or onnx: ONNX Runtime on the CPU (the onnx extra; --model may be an "
                    "export-onnx folder, else the model is exported once into a cache)")
    ta.add_argument("--device", default="auto", help="torch device; 'auto' = cuda:LOCAL_RANK if available, else cpu")
    ta.add_argument("--batch-size", type=positive_int, default=16, help="most items per forward pass (default: 16)")
    ta.add_argument("--batch-seconds", type=non_negative_seconds, default=160.0,
                    help="most seconds of padded audio (items x longest) per forward pass; 0: no bound (default: 160)")
    ta.add_argument("--workers", type=int, default=1,
                    help="processes decoding audio ahead of the codec (default: 1; 0 decodes in the main process)")
    ta.add_argument("--codebook-domain", default=None, help="restrict codes to a partition (released model: none)")
    ta.add_argument("--chunk-seconds", type=non_negative_seconds, default=60.0,
                    help="encode audio longer than this in windows (bounded memory); 0 disables")
    ta.add_argument("--shard-index", type=int, default=None, help="this process's shard (default: $RANK or 0)")
    ta.add_argument("--num-shards", type=int, default=None, help="number of shards (default: $WORLD_SIZE or 1)")
    ta.add_argument("--no-dataset", action="store_true", help="single shard: do not write OUT/dataset at the end")
    ta.add_argument("--merge", action="store_true", help="only merge the finished shards of OUT into OUT/dataset")
    ta.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _file_source(inputs: list[str], file_list: str | None):
    from llmcodec.audio import AudioReadError, find_audio_files
    from llmcodec.errors import UserError
    from llmcodec.tokenizer.tokenize_audio import FileSource, id_root

    named = list(inputs)
    if file_list:
        with open(file_list, encoding="utf-8") as handle:
            named += [line.strip() for line in handle if line.strip()]
    try:
        files = find_audio_files(named)
    except AudioReadError as error:
        raise UserError(str(error)) from error
    return FileSource(files, root=id_root(named)) if files else None


def _cmd_tokenize_audio(args: argparse.Namespace) -> int:
    """Encode audio with the codec and write one jsonl record per item: {id, audio_tokens
    ('<CODEC_5><CODEC_17>...'), n_codes, carried columns}. File ids are paths relative to the deepest folder
    holding every input, however the inputs are spelled. Items of similar length are batched together while
    worker processes decode the next ones. Resumable (finished ids are skipped), shardable:
    --shard-index/--num-shards, or RANK/WORLD_SIZE from `accelerate launch`, each process writing
    OUT/codes-K-of-N.jsonl (locked while written). Merge shards into OUT/dataset with --merge."""
    import torch

    from llmcodec.cli_options import resolve_model_spec
    from llmcodec.errors import UserError
    from llmcodec.onnx_codec import load_backend
    from llmcodec.tokenizer.tokenize_audio import DatasetSource, merge_to_dataset, shard_from_env, tokenize_audio

    out_dir = args.output_dir
    dataset_dir = os.path.join(out_dir, "dataset")
    if args.merge:
        dataset = merge_to_dataset(out_dir, save_to=dataset_dir)
        print(f"merged {len(dataset)} records -> {dataset_dir}")
        return 0
    if args.workers < 0:
        raise UserError(f"--workers must be >= 0, got {args.workers}")
    shard_from_env(args.shard_index, args.num_shards)  # a bad shard fails before any work
    files = _file_source(args.inputs, args.file_list) if args.inputs or args.file_list else None
    if (files is None) == (args.dataset is None):
        raise UserError("give audio files/folders (or --file-list) or --dataset, exactly one of them")
    if args.dataset:
        from llmcodec.audio_datasets import load_dataset_folder

        dataset = load_dataset_folder(args.dataset, config=args.dataset_config, split=args.split)
        source = DatasetSource(dataset, args.audio_column, args.carry_columns, args.id_column)
    else:
        source = files
    device = args.device
    if device == "auto":
        local_rank = int(os.environ.get("LOCAL_RANK", 0))
        device = f"cuda:{local_rank}" if torch.cuda.is_available() and args.backend == "torch" else "cpu"
    model = load_backend(resolve_model_spec(args.model), args.backend, device=device)
    report = tokenize_audio(
        model, source, out_dir, batch_size=args.batch_size, shard_index=args.shard_index,
        num_shards=args.num_shards, device=device, codebook_domain=args.codebook_domain,
        chunk_length_s=args.chunk_seconds or None, progress=not args.no_progress,
        max_batch_seconds=args.batch_seconds or None, num_workers=args.workers,
    )
    for key, reason in report.failed:
        print(f"failed: {key}: {reason}", file=sys.stderr)
    print(f"{report.written} written, {report.skipped} already done, {len(report.failed)} failed -> {report.path}")
    single = report.path.name.endswith("-of-00001.jsonl")
    if single and not args.no_dataset and not report.failed:
        dataset = merge_to_dataset(out_dir, save_to=dataset_dir)
        print(f"dataset with {len(dataset)} records -> {dataset_dir}")
    elif not single:
        print("when every shard has finished: llmcodec tokenize-audio --merge --output-dir " + str(out_dir))
    return 1 if report.failed else 0
