"""`llmcodec encode | decode | reconstruct | convert | push`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from llmcodec.hub import DEFAULT_MODEL_DIR  # re-exported: the CLI's default --model

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
STORAGE_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16}


def resolve_model_spec(spec: str | None) -> str:
    """`--model`, else $LLMCODEC_MODEL, else the bundled default model."""
    if spec:
        return spec
    if os.environ.get("LLMCODEC_MODEL"):
        return os.environ["LLMCODEC_MODEL"]
    if (DEFAULT_MODEL_DIR / "config.json").is_file():
        return str(DEFAULT_MODEL_DIR)
    raise SystemExit(
        "error: no model given and no default model is bundled with this install; pass --model "
        "(an exported folder, a raw llm-codec.pt / auv.pt, or a Hub repo id) or set LLMCODEC_MODEL"
    )


def _load_model(args):
    from llmcodec.hub import load_codec

    spec = resolve_model_spec(args.model)
    model = load_codec(spec, device=args.device)
    parameters = sum(p.numel() for p in model.parameters())
    print(
        f"model: {spec} ({parameters / 1e6:.1f} M parameters, {model.config.frame_rate:g} codes/s, "
        f"{model.config.codebook_size} codes) on {args.device}, {args.dtype}",
        file=sys.stderr,
    )
    return model


def _autocast(args):
    enabled = args.dtype == "bfloat16"
    return torch.autocast(device_type=torch.device(args.device).type, dtype=torch.bfloat16, enabled=enabled)


def _check_unique_stems(paths: list[Path]) -> None:
    seen: dict[str, Path] = {}
    for path in paths:
        if path.stem in seen:
            raise SystemExit(f"error: {seen[path.stem]} and {path} would write the same output name {path.stem!r}")
        seen[path.stem] = path


def _batches(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _encode_files(args, write_audio: bool) -> int:
    from llmcodec.audio import AudioReadError, load_audio, save_array, save_audio, save_text

    paths = [Path(p) for p in args.inputs]
    _check_unique_stems(paths)
    out_dir = Path(args.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = _load_model(args)
    token_map = None
    if getattr(args, "tokens", False):
        from llmcodec.tokenizer import AudioTokenMap

        token_map = AudioTokenMap(first_id=0, n_codes=model.config.codebook_size)
    rate, hop = model.config.sampling_rate, model.config.hop_length
    if args.skip_existing:
        paths = [p for p in paths if not (out_dir / f"{p.stem}.npy").exists()]
    failures: list[tuple[Path, str]] = []
    progress = tqdm(total=len(paths), desc="reconstruct" if write_audio else "encode", unit="file")
    for group in _batches(paths, args.batch_size):
        clips, names = [], []
        for path in group:
            try:
                waveform, _ = load_audio(path, target_sr=rate)
                if waveform.numel() < hop:
                    raise AudioReadError(f"{path}: {waveform.numel()} samples is shorter than one code ({hop} samples)")
                clips.append(waveform)
                names.append(path)
            except AudioReadError as error:
                failures.append((path, str(error)))
                progress.update(1)
        if not clips:
            continue
        lengths = torch.tensor([c.numel() for c in clips])
        batch = torch.zeros(len(clips), 1, int(lengths.max()))
        for i, clip in enumerate(clips):
            batch[i, 0, : clip.numel()] = clip
        mask = torch.arange(batch.shape[-1])[None, :] < lengths[:, None]
        with torch.inference_mode(), _autocast(args):
            encoded = model.encode(
                batch.to(args.device),
                mask.to(args.device),
                codebook_domain=args.codebook_domain,
                chunk_length_s=args.chunk_seconds,
                chunk_context_s=args.chunk_context_seconds,
            )
            decoded = None
            if write_audio:
                decoded = model.decode(
                    encoded.audio_codes,
                    encoded.audio_codes_mask,
                    chunk_length_s=args.chunk_seconds,
                    chunk_context_s=args.chunk_context_seconds,
                )
        for i, path in enumerate(names):
            valid = encoded.audio_codes_mask[i]
            codes = encoded.audio_codes[i][valid].cpu().numpy().astype(np.int32)
            save_array(out_dir / f"{path.stem}.npy", codes)
            if token_map is not None:
                save_text(out_dir / f"{path.stem}.txt", token_map.codes_to_text(codes))
            if decoded is not None:
                audio = decoded.audio_values[i, 0, : codes.shape[0] * hop].float()
                save_audio(out_dir / f"{path.stem}.wav", audio, rate)
            progress.update(1)
    progress.close()
    return _report_failures(failures, len(paths))


def _report_failures(failures: list[tuple[Path, str]], total: int) -> int:
    for path, message in failures:
        print(f"failed: {path}: {message}", file=sys.stderr)
    print(f"{total - len(failures)} of {total} file(s) done, {len(failures)} failed", file=sys.stderr)
    return 1 if failures else 0


def cmd_encode(args) -> int:
    return _encode_files(args, write_audio=False)


def cmd_reconstruct(args) -> int:
    return _encode_files(args, write_audio=True)


def cmd_decode(args) -> int:
    from llmcodec.audio import save_audio

    paths = [Path(p) for p in args.inputs]
    _check_unique_stems(paths)
    out_dir = Path(args.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = _load_model(args)
    failures: list[tuple[Path, str]] = []
    for path in tqdm(paths, desc="decode", unit="file"):
        try:
            codes = np.load(path, allow_pickle=False)
            if codes.ndim != 1 or codes.size == 0:
                raise ValueError(f"expected a 1-D array of codes, got shape {codes.shape}")
            if codes.dtype.kind not in "iu":
                raise ValueError(f"codes must be integers, got dtype {codes.dtype}")
            with torch.inference_mode(), _autocast(args):
                decoded = model.decode(
                    torch.from_numpy(codes.astype(np.int64))[None].to(args.device),
                    chunk_length_s=args.chunk_seconds,
                    chunk_context_s=args.chunk_context_seconds,
                )
            save_audio(out_dir / f"{path.stem}.wav", decoded.audio_values[0, 0].float(), model.config.sampling_rate)
        except (OSError, ValueError, TypeError) as error:
            failures.append((path, str(error)))
    return _report_failures(failures, len(paths))


def cmd_convert(args) -> int:
    from llmcodec.hub import load_codec, save_codec_folder

    model = load_codec(args.source)
    card_extra = Path(args.card_extra).read_text() if args.card_extra else ""
    out = save_codec_folder(
        model,
        args.output_dir,
        source=None if Path(args.source).is_dir() else Path(args.source).name,
        card_extra=card_extra,
        overwrite=args.overwrite,
        storage_dtype=STORAGE_DTYPES[args.storage_dtype] if args.storage_dtype else None,
    )
    size = sum(f.stat().st_size for f in out.iterdir() if f.is_file())
    print(f"wrote {out} ({sum(p.numel() for p in model.parameters()):,} parameters, {size / 2**20:.1f} MiB)")
    return 0


def cmd_push(args) -> int:
    from llmcodec.hub import push_folder

    try:
        url = push_folder(args.folder, args.repo_id, private=args.private, token=args.token)
    except ConnectionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(url)
    return 0


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        default=None,
        help="exported folder, raw llm-codec.pt / auv.pt, or Hub repo id (default: $LLMCODEC_MODEL, else the "
        "bundled default model)",
    )
    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="float32", help="bfloat16 runs under autocast")
    parser.add_argument(
        "--chunk-seconds",
        type=float,
        default=60.0,
        help="process audio longer than this in windows of this length (bounded memory); 0 disables",
    )
    parser.add_argument("--chunk-context-seconds", type=float, default=5.0, help="context on each side of a window")


def _normalise_chunking(args) -> None:
    if args.chunk_seconds is not None and args.chunk_seconds <= 0:
        args.chunk_seconds = None


def add_subcommands(subparsers) -> None:
    def with_chunk_fix(func):
        def run(args):
            _normalise_chunking(args)
            return func(args)

        return run

    encode = subparsers.add_parser("encode", help="audio files -> DIR/<stem>.npy codes")
    reconstruct = subparsers.add_parser("reconstruct", help="audio files -> DIR/<stem>.wav (16 kHz) + DIR/<stem>.npy")
    for parser, func in ((encode, cmd_encode), (reconstruct, cmd_reconstruct)):
        parser.add_argument("inputs", nargs="+", help="audio files (any format ffmpeg reads; any rate; downmixed)")
        parser.add_argument("--output-dir", required=True)
        _add_model_options(parser)
        parser.add_argument("--batch-size", type=int, default=8)
        parser.add_argument("--codebook-domain", default=None, help="restrict codes to a partition, e.g. speech")
        parser.add_argument("--skip-existing", action="store_true", help="skip inputs whose .npy already exists")
        parser.add_argument("--tokens", action="store_true", help="also write DIR/<stem>.txt with <CODEC_i> tokens")
        parser.set_defaults(func=with_chunk_fix(func))

    decode = subparsers.add_parser("decode", help="DIR/<stem>.npy codes -> DIR/<stem>.wav")
    decode.add_argument("inputs", nargs="+", help=".npy files of 1-D integer codes")
    decode.add_argument("--output-dir", required=True)
    _add_model_options(decode)
    decode.set_defaults(func=with_chunk_fix(cmd_decode))

    convert = subparsers.add_parser(
        "convert", help="llm-codec.pt / auv.pt state dict (or an exported folder) -> Hub-ready folder"
    )
    convert.add_argument(
        "source", help="reference state dict (loaded with weights_only=True) or an exported LLM-Codec folder"
    )
    convert.add_argument("output_dir")
    convert.add_argument("--overwrite", action="store_true")
    convert.add_argument(
        "--storage-dtype", choices=sorted(STORAGE_DTYPES), default=None,
        help="store the weights in this dtype (half the size); they are upcast to float32 on load",
    )
    convert.add_argument("--card-extra", default=None, help="Markdown file appended to the model card")
    convert.set_defaults(func=cmd_convert)

    push = subparsers.add_parser("push", help="upload an exported folder to the Hugging Face Hub")
    push.add_argument("folder")
    push.add_argument("repo_id")
    push.add_argument("--private", action="store_true")
    push.add_argument("--token", default=None, help="Hub token (default: the logged-in token / $HF_TOKEN)")
    push.set_defaults(func=cmd_push)
