"""`llmcodec demo`: the quick start's main job, in one command.

Reconstructs one clip (by default the bundled real-speech example) with a codec (by default the bundled
model): prints which model ran, the codes, the LLM token string and ids they become, and the quality
metrics (PESQ-WB, STOI, mel distance) beside Codec2 1200 bps on the same clip; writes the reconstruction,
the codes and the token string.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from llmcodec.cli_options import add_command, add_device_option, add_model_option, add_output_dir_option

EXAMPLE_CLIP = Path(__file__).parent / "assets" / "examples" / "arctic_a0007.wav"
DEFAULT_OUTPUT_DIR = "demo-output"
SHOWN_CODES = 16


def __getattr__(name: str):
    # QWEN3_FIRST_AUDIO_ID: <CODEC_0> is the first id after Qwen3's own tokens. Resolved on first use, since
    # the tokenizer package imports torch and this module is imported while the CLI builds its parser.
    if name == "QWEN3_FIRST_AUDIO_ID":
        from llmcodec.tokenizer.extend import QWEN3_BASE_LEN

        return QWEN3_BASE_LEN
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _format_metrics(metrics: dict) -> str:
    return f"PESQ-WB {metrics['pesq']:.2f}   STOI {metrics['stoi']:.3f}   mel distance {metrics['mel']:.3f}"


def run_demo(
    audio_path: str | Path = EXAMPLE_CLIP,
    model_spec: str | None = None,
    output_dir: str | Path = DEFAULT_OUTPUT_DIR,
    compare_codec2: bool = True,
    out=None,
    device: str = "cpu",
) -> dict:
    """Runs the demo and returns what it printed, as numbers (for tests and scripts).

    Returns ``{"model", "num_codes", "codes" (T,) int64 tensor, "token_text", "token_ids", "metrics",
    "codec2_1200" (metrics or None), "outputs" {"wav", "codes", "tokens"}}``.
    """
    import torch

    from llmcodec.audio import load_audio, save_array, save_audio, save_text
    from llmcodec.cli_options import resolve_model_spec
    from llmcodec.evaluation.baselines import BaselineError, MissingToolError, run_baseline
    from llmcodec.evaluation.metrics import compute_metrics
    from llmcodec.hub import load_codec
    from llmcodec.tokenizer.extend import QWEN3_BASE_LEN
    from llmcodec.tokenizer.mapping import AudioTokenMap

    out = out or sys.stdout  # resolved at call time, so redirected stdout is honoured
    audio_path = Path(audio_path)
    spec = resolve_model_spec(model_spec)
    model = load_codec(spec, device=device)
    config = model.config
    parameters = sum(p.numel() for p in model.parameters())
    print(
        f"model: {spec}\n       {parameters / 1e6:.1f} M parameters, {config.sampling_rate} Hz, "
        f"{config.frame_rate:g} codes/s, {config.codebook_size:,} codes ({config.bitrate:.0f} bps)",
        file=out,
    )

    waveform, original_rate = load_audio(audio_path, target_sr=config.sampling_rate)
    seconds = waveform.numel() / config.sampling_rate
    print(f"input: {audio_path} ({seconds:.2f} s, read at {original_rate} Hz)", file=out)

    start = time.perf_counter()
    with torch.inference_mode():
        encoded = model.encode(waveform.view(1, 1, -1).to(device))
        codes = encoded.audio_codes[0][encoded.audio_codes_mask[0]]
        decoded = model.decode(codes.view(1, -1))
    elapsed = time.perf_counter() - start
    codes = codes.cpu()
    reconstruction = decoded.audio_values[0, 0, : waveform.numel()].cpu()

    token_map = AudioTokenMap(QWEN3_BASE_LEN, n_codes=config.codebook_size)
    token_text = token_map.codes_to_text(codes.numpy())
    token_ids = token_map.codes_to_ids(codes.numpy())
    shown = ", ".join(str(int(c)) for c in codes[:SHOWN_CODES])
    print(f"codes: {codes.numel()} ({codes.numel() / seconds:.1f}/s): [{shown}, ...]", file=out)
    print(f"distinct codes in this clip: {codes.unique().numel()}", file=out)
    first_tokens = token_map.codes_to_text(codes[:4].numpy())
    print(f"LLM tokens: {first_tokens}...  ({len(token_text):,} characters)", file=out)
    print(f"LLM token ids (Qwen3 + <CODEC_*>): {[int(i) for i in token_ids[:4]]}...", file=out)
    print(f"encode + decode: {elapsed:.2f} s (real-time factor {elapsed / seconds:.3f}, {device})", file=out)

    metrics = compute_metrics(waveform, reconstruction, config.sampling_rate)
    print(f"quality vs the input:  {_format_metrics(metrics)}", file=out)
    codec2_metrics = None
    if compare_codec2:
        try:
            baseline = run_baseline("codec2_1200", waveform)
        except (MissingToolError, BaselineError) as error:
            print(f"Codec2 1200 bps: not run ({error})", file=out)
        else:
            codec2_metrics = compute_metrics(waveform, baseline.audio, config.sampling_rate)
            print(f"Codec2 1200 bps:       {_format_metrics(codec2_metrics)}", file=out)

    output_dir = Path(output_dir)
    stem = audio_path.stem
    outputs = {
        "wav": save_audio(output_dir / f"{stem}.reconstructed.wav", reconstruction, config.sampling_rate),
        "codes": save_array(output_dir / f"{stem}.codes.npy", codes.numpy()),
        "tokens": save_text(output_dir / f"{stem}.tokens.txt", token_text + "\n"),
    }
    print(f"wrote {outputs['wav']}, {outputs['codes'].name}, {outputs['tokens'].name}", file=out)
    return {
        "model": spec,
        "num_codes": int(codes.numel()),
        "codes": codes,
        "token_text": token_text,
        "token_ids": token_ids,
        "metrics": metrics,
        "codec2_1200": codec2_metrics,
        "outputs": outputs,
    }


def cmd_demo(args) -> int:
    from llmcodec.audio import AudioReadError
    from llmcodec.cli_options import check_device

    check_device(args.device)
    try:
        run_demo(args.audio, args.model, args.output_dir, compare_codec2=not args.no_codec2, device=args.device)
    except AudioReadError as error:  # the one input failed: reported as the file commands do (exit 1)
        print(f"failed: {error}", file=sys.stderr)
        return 1
    return 0


def add_subcommands(subparsers) -> None:
    demo = add_command(subparsers, "demo", cmd_demo, help="reconstruct a clip (default: the bundled example) and print "
                       "codes, LLM tokens and metrics")
    demo.add_argument(
        "audio", nargs="?", default=str(EXAMPLE_CLIP),
        help="audio file (any format ffmpeg reads; default: the bundled example clip)",
    )
    add_model_option(demo)
    add_output_dir_option(demo, default=DEFAULT_OUTPUT_DIR, help="folder for the reconstruction, codes and tokens")
    add_device_option(demo)
    demo.add_argument(
        "--no-codec2", action="store_true",
        help="skip the Codec2 1200 bps comparison (it runs when codec2's c2enc/c2dec are installed)",
    )
