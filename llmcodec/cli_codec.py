"""`llmcodec encode | decode | reconstruct | convert | push`.

Nothing a user wrote is lost: an output that would replace one of the inputs refuses that file (the others
go on), every output is written atomically, and the output folder is checked before the model loads.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from llmcodec.cli_options import DEFAULT_MODEL_DIR, resolve_model_spec  # noqa: F401 - re-exported
from llmcodec.errors import UserError
from llmcodec.precision import DTYPE_CHOICES, resolve_dtype

STORAGE_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16}


def _check_device(name: str) -> None:
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise UserError(f"--device {name!r} is not a torch device ({error})") from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"--device {name}: CUDA is not available on this machine (use --device cpu)")


def _load_model(args):
    """Loads `--model` (recorded in `args.model_spec`, for messages) after resolving `--dtype auto`."""
    from llmcodec.hub import load_codec

    _check_device(args.device)
    args.dtype = resolve_dtype(args.dtype, args.device)
    args.model_spec = resolve_model_spec(args.model)
    model = load_codec(args.model_spec, device=args.device)
    parameters = sum(p.numel() for p in model.parameters())
    print(
        f"model: {args.model_spec} ({parameters / 1e6:.1f} M parameters, {model.config.frame_rate:g} codes/s, "
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
            raise UserError(f"{seen[path.stem]} and {path} would write the same output name {path.stem!r}")
        seen[path.stem] = path


def _prepare_output_dir(out_dir: Path) -> None:
    """Creates `out_dir` and proves it writable now, before a model loads and a first batch runs."""
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"the output folder {out_dir} is a file")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out_dir, prefix=".llmcodec-write-test-"):
            pass
    except OSError as error:
        raise UserError(f"cannot write to the output folder {out_dir}: {error.strerror or error}") from error


def _file_identities(path: Path) -> list:
    """The keys under which `path` is the same file as another: its resolved path and, if it exists, its inode."""
    keys: list = [path.resolve()]
    try:
        stat = path.stat()
        keys.append((stat.st_dev, stat.st_ino))  # hard links, case-insensitive file systems
    except OSError:
        pass
    return keys


def _drop_inputs_overwritten(
    paths: list[Path], outputs: dict[Path, list[Path]], failures: list[tuple[Path, str]]
) -> list[Path]:
    """Refuses (as a failure) every input whose outputs would replace one of the inputs; returns the rest."""
    inputs = {key: path for path in paths for key in _file_identities(path)}
    kept = []
    for path in paths:
        clash = next(((o, inputs[k]) for o in outputs[path] for k in _file_identities(o) if k in inputs), None)
        if clash is None:
            kept.append(path)
        else:
            failures.append((path, f"writing {clash[0]} would overwrite the input {clash[1]}; choose another --output-dir"))
    return kept


def _non_finite_message(what: str, args) -> str:
    return f"model {args.model_spec} produced non-finite {what} (NaN or Inf); nothing written for this file"


def _check_finite(tensor: torch.Tensor, what: str, args) -> None:
    if not bool(torch.isfinite(tensor).all()):
        raise ValueError(_non_finite_message(what, args))


def _batches(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _encode_files(args, write_audio: bool) -> int:
    from llmcodec.audio import AudioReadError, load_audio, save_array, save_audio, save_text
    from llmcodec.batching import decode_batch, encode_batch

    paths = [Path(p) for p in args.inputs]
    _check_unique_stems(paths)
    out_dir = Path(args.output_dir)
    _prepare_output_dir(out_dir)
    suffixes = [".npy"] + [".txt"] * bool(args.tokens) + [".wav"] * write_audio
    outputs = {p: [out_dir / f"{p.stem}{suffix}" for suffix in suffixes] for p in paths}
    failures: list[tuple[Path, str]] = []
    total = len(paths)
    paths = _drop_inputs_overwritten(paths, outputs, failures)
    if args.skip_existing:  # a file is done only when every output this command writes exists
        done = [p for p in paths if all(o.exists() for o in outputs[p])]
        paths = [p for p in paths if p not in done]
        total -= len(done)
        if done:
            print(f"skipped {len(done)} file(s) whose outputs all exist", file=sys.stderr)
    if not paths:  # all refused or already done: no model to load
        return _report_failures(failures, total)
    model = _load_model(args)
    model._resolve_partitions(args.codebook_domain, 1)  # an unknown --codebook-domain fails before any work
    token_map = None
    if args.tokens:
        from llmcodec.tokenizer import AudioTokenMap

        token_map = AudioTokenMap(first_id=0, n_codes=model.config.codebook_size)
    rate, hop = model.config.sampling_rate, model.config.hop_length
    chunking = dict(chunk_length_s=args.chunk_seconds, chunk_context_s=args.chunk_context_seconds)
    compute = dict(device=args.device, compute_dtype=args.dtype)
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
        codes, finite = encode_batch(
            model, clips, sampling_rate=rate, codebook_domain=args.codebook_domain, warn_out_of_range=False,
            return_finite=True, **chunking, **compute,
        )
        del clips
        audios = decode_batch(model, codes, **chunking, **compute) if write_audio else [None] * len(codes)
        for path, item_codes, item_finite, audio in zip(names, codes, finite, audios):
            progress.update(1)
            try:
                if not item_finite:
                    raise ValueError(_non_finite_message("encoder output", args))
                if audio is not None:
                    _check_finite(audio, "audio", args)
            except ValueError as error:
                failures.append((path, str(error)))
                continue
            item_codes = item_codes.astype(np.int32)
            # With --skip-existing only the missing outputs are written; the others are already there.
            wanted = {o.suffix: o for o in outputs[path] if not (args.skip_existing and o.exists())}
            if ".npy" in wanted:
                save_array(wanted[".npy"], item_codes)
            if ".txt" in wanted:
                save_text(wanted[".txt"], token_map.codes_to_text(item_codes))
            if ".wav" in wanted:
                save_audio(wanted[".wav"], audio, rate)
    progress.close()
    return _report_failures(failures, total)


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
    from llmcodec.code_files import read_code_file

    paths = [Path(p) for p in args.inputs]
    _check_unique_stems(paths)
    out_dir = Path(args.output_dir)
    _prepare_output_dir(out_dir)
    outputs = {p: [out_dir / f"{p.stem}.wav"] for p in paths}
    failures: list[tuple[Path, str]] = []
    todo = _drop_inputs_overwritten(paths, outputs, failures)
    model = _load_model(args)
    for path in tqdm(todo, desc="decode", unit="file"):
        try:  # one bad file fails alone: the later ones are still decoded
            codes = read_code_file(path, model.config.codebook_size)
            with torch.inference_mode(), _autocast(args):
                decoded = model.decode(
                    torch.from_numpy(codes)[None].to(args.device),
                    chunk_length_s=args.chunk_seconds,
                    chunk_context_s=args.chunk_context_seconds,
                )
            audio = decoded.audio_values[0, 0].float()
            _check_finite(audio, "audio", args)
            save_audio(outputs[path][0], audio, model.config.sampling_rate)
        except (OSError, ValueError, TypeError) as error:
            failures.append((path, str(error)))
    return _report_failures(failures, len(paths))


def cmd_convert(args) -> int:
    from llmcodec.hub import load_codec, save_codec_folder

    out_dir = Path(args.output_dir)
    if out_dir.exists() and not args.overwrite and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise UserError(f"{out_dir} exists and is not empty; pass --overwrite to replace it")
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

    print(push_folder(args.folder, args.repo_id, private=args.private, token=args.token))
    return 0


def _at_least_one(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds >= 0, got {text!r}")
    return value


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        default=None,
        help="exported folder, raw llm-codec.pt / auv.pt, or Hub repo id (default: $LLMCODEC_MODEL, else the "
        "bundled default model)",
    )
    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    parser.add_argument(
        "--dtype",
        choices=DTYPE_CHOICES,
        default="auto",
        help="auto (default): bfloat16 autocast where the device computes bf16 natively (CUDA with bf16, a CPU "
        "with AVX512-BF16 / AMX), else float32",
    )
    parser.add_argument(
        "--chunk-seconds",
        type=_seconds,
        default=60.0,
        help="process audio longer than this in windows of this length (bounded memory); 0 disables",
    )
    parser.add_argument(
        "--chunk-context-seconds", type=_seconds, default=5.0, help="context on each side of a window"
    )


def _normalise_chunking(args) -> None:
    if args.chunk_seconds == 0:
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
        parser.add_argument("--batch-size", type=_at_least_one, default=8)
        parser.add_argument("--codebook-domain", default=None, help="restrict codes to a partition, e.g. speech")
        parser.add_argument(
            "--skip-existing", action="store_true",
            help="skip inputs whose outputs (.npy, and .wav / .txt where written) all exist; write the missing ones",
        )
        parser.add_argument("--tokens", action="store_true", help="also write DIR/<stem>.txt with <CODEC_i> tokens")
        parser.set_defaults(func=with_chunk_fix(func))

    decode = subparsers.add_parser("decode", help="DIR/<stem>.npy (or .txt <CODEC_n> tokens) -> DIR/<stem>.wav")
    decode.add_argument("inputs", nargs="+", help=".npy files of 1-D integer codes, or .txt files of <CODEC_n> tokens")
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
