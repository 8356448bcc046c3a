"""`llmcodec generate`: continue a spoken prompt with a codec LM and write the audio (logic: llmcodec.generation).

The continuation is written to `--output-dir DIR` as `DIR/<prompt stem>.continuation.wav` (an existing file is
kept unless `--overwrite`). The old spelling `--output FILE` (hidden) still writes exactly that file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from llmcodec.cli_options import (
    add_command,
    add_device_option,
    add_model_option,
    add_overwrite_option,
    finite_float,
    non_negative_int,
    positive_seconds,
)
from llmcodec.errors import UserError

OUTPUT_SUFFIX = ".continuation.wav"


def _output_path(args: argparse.Namespace, prompt_path: Path) -> Path:
    """Where the continuation goes; refuses to replace the prompt, or an existing file without --overwrite."""
    if (args.output_dir is None) == (args.output_file is None):
        raise UserError("give the output folder: --output-dir DIR")
    if args.output_file is not None:  # the old spelling: a file path, replaced if it exists (as before)
        output = Path(args.output_file)
    else:
        output = Path(args.output_dir) / f"{prompt_path.stem}{OUTPUT_SUFFIX}"
        if output.exists() and not args.overwrite:
            raise UserError(f"{output} exists; pass --overwrite to replace it")
    if output.exists() and output.resolve() == prompt_path.resolve():
        raise UserError(f"{output} would overwrite the prompt")
    return output


def cmd_generate(args: argparse.Namespace) -> int:
    """Encode --prompt with the codec, sample a continuation of <CODEC_n> tokens with the LM (constrained to audio
    tokens), decode it and write DIR/<prompt stem>.continuation.wav atomically."""
    from llmcodec.audio import load_audio, save_audio
    from llmcodec.cli_codec import _load_model
    from llmcodec.generation import MAX_SECONDS, CodecLMError, SamplingConfig, continue_speech, load_codec_lm

    if args.seconds > MAX_SECONDS:
        raise UserError(f"--seconds {args.seconds:g}: at most {MAX_SECONDS:g} (one hour) per continuation")
    prompt_path = Path(args.prompt)
    if not prompt_path.is_file():
        raise UserError(f"--prompt {prompt_path}: no such file")
    output = _output_path(args, prompt_path)
    try:
        sampling = SamplingConfig(args.temperature, args.top_k, args.top_p, args.seed)
        lm = load_codec_lm(args.lm, device=args.device)
    except CodecLMError as error:
        raise UserError(str(error)) from error
    if args.text and lm.tokenizer is None:
        raise UserError(f"--lm {lm.path} is a token LM without a text tokenizer: --text needs an LM artifact (llmcodec lm build)")
    print(f"lm: {lm.path} ({lm.kind}, {sum(p.numel() for p in lm.model.parameters()) / 1e6:.1f} M parameters)",
          file=sys.stderr)
    args.dtype = "float32"  # _load_model reads it; generation runs the codec in float32
    codec = _load_model(args)
    prompt, _ = load_audio(prompt_path, target_sr=codec.config.sampling_rate)
    if prompt.numel() < codec.config.hop_length:
        raise UserError(f"--prompt {prompt_path} is shorter than one code ({codec.config.hop_length} samples)")
    try:
        result = continue_speech(codec, lm, prompt, args.seconds, sampling, text=args.text, stream=args.stream,
                                 include_prompt=args.include_prompt, progress=True)
    except CodecLMError as error:
        raise UserError(str(error)) from error
    save_audio(output, result.audio, codec.config.sampling_rate)
    t = result.timings
    line = (f"wrote {output}: {t['audio_seconds']:.2f} s ({result.codes.numel()} codes after "
            f"{result.prompt_codes.numel()} prompt codes) in {t['total']:.2f} s")
    if "first_audio" in t:
        line += f"; streaming: first audio after {1000 * t['first_audio']:.0f} ms"
    print(line, file=sys.stderr)
    return 0


def add_subcommands(subparsers) -> None:
    parser = add_command(
        subparsers, "generate", cmd_generate,
        help="continue a spoken prompt with a codec LM (token-lm output or an lm/ artifact) and write a wav",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--lm", required=True, help="LM folder: DIR/lm of `llmcodec token-lm`, or an `llmcodec lm build` folder")
    parser.add_argument("--prompt", required=True, help="prompt audio (any format ffmpeg reads)")
    parser.add_argument("--text", default=None, help="text before the audio (LM artifacts with a tokenizer only)")
    parser.add_argument("--seconds", type=positive_seconds, required=True,
                        help="seconds of audio to generate (at most 3600: one hour)")
    parser.add_argument("--output-dir", default=None, metavar="DIR", help="folder for the continuation (created if missing)")
    # The old spelling: the output file itself.
    parser.add_argument("--output", dest="output_file", default=None, help=argparse.SUPPRESS)
    add_overwrite_option(parser, help="replace an existing continuation (never the prompt)")
    parser.add_argument("--stream", action="store_true", help="decode chunk by chunk while the LM generates")
    parser.add_argument("--include-prompt", action="store_true", help="write the prompt's decoded audio before the continuation")
    add_model_option(parser)
    parser.add_argument("--temperature", type=finite_float(0), default=0.8, help="0 = greedy")
    parser.add_argument("--top-k", type=non_negative_int, default=50, help="0 = off")
    parser.add_argument("--top-p", type=finite_float(0, 1, exclusive_minimum=True), default=0.95)
    parser.add_argument("--seed", type=int, default=0)
    add_device_option(parser)
