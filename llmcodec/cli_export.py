"""`llmcodec convert | push`: reference checkpoints -> Hub-ready folders, and folders -> the Hub.

`convert` never touches what it reads: an output folder that is, contains or lies inside the source is
refused, and `--overwrite` replaces only the files an export writes (the rest of the folder is kept).
"""

from __future__ import annotations

from pathlib import Path

from llmcodec.cli_options import add_command, add_legacy_output_positional, add_output_dir_option, take_legacy_output
from llmcodec.errors import UserError
from llmcodec.files import check_output_apart_from_inputs

STORAGE_DTYPES = ("bfloat16", "float16")


def cmd_convert(args) -> int:
    import torch

    from llmcodec.hub import load_codec, save_codec_folder

    take_legacy_output(args)
    out_dir = Path(args.output_dir)
    check_output_apart_from_inputs(out_dir, [args.source, args.card_extra], option="--output-dir")
    if out_dir.exists() and not args.overwrite and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise UserError(
            f"{out_dir} exists and is not empty; pass --overwrite to replace the files an export writes (the "
            "others are kept)"
        )
    card_extra = Path(args.card_extra).read_text(encoding="utf-8") if args.card_extra else ""
    model = load_codec(args.source)
    out = save_codec_folder(
        model,
        out_dir,
        source=None if Path(args.source).is_dir() else Path(args.source).name,
        card_extra=card_extra,
        overwrite=args.overwrite,
        storage_dtype=getattr(torch, args.storage_dtype) if args.storage_dtype else None,
    )
    size = sum(f.stat().st_size for f in out.iterdir() if f.is_file())
    print(f"wrote {out} ({sum(p.numel() for p in model.parameters()):,} parameters, {size / 2**20:.1f} MiB)")
    return 0


def cmd_push(args) -> int:
    from llmcodec.hub import push_folder

    print(push_folder(args.folder, args.repo_id, private=args.private, token=args.token))
    return 0


def add_subcommands(subparsers) -> None:
    convert = add_command(
        subparsers, "convert", cmd_convert,
        help="llm-codec.pt / auv.pt state dict (or an exported folder) -> Hub-ready folder",
    )
    convert.add_argument(
        "source", help="reference state dict (loaded with weights_only=True) or an exported LLM-Codec folder"
    )
    add_legacy_output_positional(convert)
    add_output_dir_option(convert, required=False, help="the Hub-ready folder to write (required)")
    convert.add_argument(
        "--overwrite", action="store_true",
        help="write into an existing folder: replace the export's files, keep every other file",
    )
    convert.add_argument(
        "--storage-dtype", choices=STORAGE_DTYPES, default=None,
        help="store the weights in this dtype (half the size); they are upcast to float32 on load",
    )
    convert.add_argument("--card-extra", default=None, help="Markdown file appended to the model card")

    push = add_command(subparsers, "push", cmd_push, help="upload an exported folder to the Hugging Face Hub")
    push.add_argument("folder")
    push.add_argument("repo_id")
    push.add_argument("--private", action="store_true")
    push.add_argument("--token", default=None, help="Hub token (default: the logged-in token / $HF_TOKEN)")
