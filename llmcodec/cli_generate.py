"""`llmcodec generate`: continue a spoken prompt with a codec LM and write the audio (logic: llmcodec.generation)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from llmcodec.errors import UserError


def cmd_generate(args: argparse.Namespace) -> int:
    from llmcodec.audio import load_audio, save_audio
    from llmcodec.cli_codec import _load_model
    from llmcodec.generation import CodecLMError, SamplingConfig, continue_speech, load_codec_lm

    if args.seconds <= 0:
        raise UserError(f"--seconds must be > 0, got {args.seconds:g}")
    prompt_path, output = Path(args.prompt), Path(args.output)
    if not prompt_path.is_file():
        raise UserError(f"--prompt {prompt_path}: no such file")
    if output.exists() and output.resolve() == prompt_path.resolve():
        raise UserError(f"--output {output} would overwrite the prompt")
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
                                 include_prompt=args.include_prompt)
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
    parser = subparsers.add_parser(
        "generate",
        help="continue a spoken prompt with a codec LM (token-lm output or an lm/ artifact) and write a wav",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Encode --prompt with the codec, sample a continuation of <CODEC_n> tokens with the LM "
        "(constrained to audio tokens), decode it and write --output atomically.",
    )
    parser.add_argument("--lm", required=True, help="LM folder: OUT/lm of `llmcodec token-lm`, or an `llmcodec lm build` folder")
    parser.add_argument("--prompt", required=True, help="prompt audio (any format ffmpeg reads)")
    parser.add_argument("--text", default=None, help="text before the audio (LM artifacts with a tokenizer only)")
    parser.add_argument("--seconds", type=float, required=True, help="seconds of audio to generate")
    parser.add_argument("--output", required=True, help="output .wav")
    parser.add_argument("--stream", action="store_true", help="decode chunk by chunk while the LM generates")
    parser.add_argument("--include-prompt", action="store_true", help="write the prompt's decoded audio before the continuation")
    parser.add_argument("--model", default=None, help="codec (default: $LLMCODEC_MODEL, else the bundled default model)")
    parser.add_argument("--temperature", type=float, default=0.8, help="0 = greedy")
    parser.add_argument("--top-k", type=int, default=50, help="0 = off")
    parser.add_argument("--top-p", type=float, default=0.95)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.set_defaults(func=cmd_generate)
