"""``llmcodec export-onnx``: the codec as two ONNX graphs for ONNX Runtime (``--backend onnx`` elsewhere)."""

from __future__ import annotations

import argparse
import sys


def add_subcommands(subparsers: argparse._SubParsersAction) -> None:
    from llmcodec.cli_options import add_command, add_model_option, add_output_dir_option, add_overwrite_option

    parser = add_command(subparsers, "export-onnx", _cmd_export_onnx, help="write the codec as ONNX graphs: "
                         "OUT/encoder.onnx (audio -> codes), OUT/decoder.onnx (codes -> audio)")
    add_model_option(parser)
    add_output_dir_option(parser, metavar="OUT", help="folder for the graphs (created)")
    add_overwrite_option(parser, help="replace graphs already in OUT")


def _cmd_export_onnx(args: argparse.Namespace) -> int:
    """Export the encoder (audio + padding mask -> codes) and the decoder (codes + mask -> audio) with dynamic
    batch and length. `--backend onnx` of encode / decode / reconstruct / tokenize-audio takes this folder as
    --model (or exports any --model into a cache itself). Needs the onnx extra."""
    from pathlib import Path

    from llmcodec.cli_options import resolve_model_spec
    from llmcodec.errors import UserError
    from llmcodec.onnx_export import DECODER_FILE, ENCODER_FILE, META_FILE

    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as error:
        raise UserError(f"export-onnx needs the onnx extra ({error.name} is missing): pip install 'llm-codec[onnx]'")
    out = Path(args.output_dir)
    existing = [name for name in (ENCODER_FILE, DECODER_FILE, META_FILE) if (out / name).exists()]
    if existing and not args.overwrite:
        raise UserError(f"{out} already holds {', '.join(existing)}; pass --overwrite to replace them")
    from llmcodec.hub import load_codec
    from llmcodec.onnx_codec import export_to_folder

    spec = resolve_model_spec(args.model)
    model = load_codec(spec, device="cpu")
    export_to_folder(model, out)
    print(f"exported {spec} -> {out / ENCODER_FILE}, {out / DECODER_FILE}", file=sys.stderr)
    return 0
