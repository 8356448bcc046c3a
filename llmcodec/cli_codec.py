"""`llmcodec encode | decode | reconstruct`: audio files <-> code files.

Nothing a user wrote is lost (`llmcodec.output_plan`): an output that would replace an input fails that file,
an existing output is replaced only with `--overwrite` (or kept with `--skip-existing`), every output is
written atomically, and the output folder is checked before the model loads. One bad file fails alone.

Memory: files are coded in padded batches (`llmcodec.batching`); a lossless file (WAV, FLAC, AIFF) longer than
`--chunk-seconds` is read, coded and written window by window on its own (`llmcodec.long_audio`), so memory
stays flat with its length (measured on AMD EPYC, 2 cores, `reconstruct`: peak RSS 1.62 GB for a 70 s WAV and
1.69 GB for a 10 min one with the bundled model; 1.20 GB for 70 s and 1.28 GB for 2 h with a tiny model). A long
file in a lossy format (mp3, ogg, m4a ...) is decoded whole: about 4 bytes per sample at its own rate and
channels, plus the 16 kHz copy and the codec's activations.
"""

from __future__ import annotations

import functools
import math
import sys
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from llmcodec.cli_options import (  # noqa: F401 - DEFAULT_MODEL_DIR and resolve_model_spec re-exported
    DEFAULT_MODEL_DIR,
    add_command,
    add_device_option,
    add_model_option,
    add_output_dir_option,
    check_device,
    non_negative_seconds,
    positive_int,
    resolve_model_spec,
)
from llmcodec.output_plan import plan_outputs, report_failures
from llmcodec.precision import DTYPE_CHOICES, resolve_dtype


def _load_model(args):
    """Loads `--model` (recorded in `args.model_spec`, for messages) after resolving `--dtype auto`."""
    from llmcodec.errors import UserError
    from llmcodec.onnx_codec import load_backend

    check_device(args.device)
    backend = getattr(args, "backend", "torch")
    if backend == "onnx" and args.dtype == "bfloat16":
        raise UserError("--backend onnx computes in float32; drop --dtype bfloat16 or use --backend torch")
    args.dtype = resolve_dtype(args.dtype, args.device) if backend == "torch" else "float32"
    args.model_spec = resolve_model_spec(args.model)
    model = load_backend(args.model_spec, backend, device=args.device)
    print(
        f"model: {args.model_spec} ({model.num_parameters() / 1e6:.1f} M parameters, {model.config.frame_rate:g} "
        f"codes/s, {model.config.codebook_size} codes) on {args.device}, {args.dtype}, {backend} backend",
        file=sys.stderr,
    )
    return model


def _non_finite_message(what: str, args) -> str:
    return f"model {args.model_spec} produced non-finite {what} (NaN or Inf); nothing written for this file"


def _coding_options(args) -> dict:
    return dict(
        chunk_length_s=args.chunk_seconds, chunk_context_s=args.chunk_context_seconds, device=args.device,
        compute_dtype=args.dtype,
    )


def _codes_in_windows(path: Path, model, chunk_seconds: float | None) -> bool:
    """Whether `path` is coded window by window: lossless, and longer than one window.

    Not for a level-normalising model: its gain comes from the RMS of the whole item, which windows do not see.
    """
    if chunk_seconds is None or getattr(model.config, "normalize_level_dbfs", None) is not None:
        return False
    import soundfile

    from llmcodec.long_audio import chunk_frames, readable_in_windows

    if not readable_in_windows(path):
        return False
    info = soundfile.info(str(path))
    samples = math.ceil(info.frames * model.config.sampling_rate / info.samplerate)
    return samples // model.config.hop_length > chunk_frames(model, chunk_seconds, 0.0)[0]


def _write_outputs(path: Path, codes: np.ndarray, wanted: dict[str, Path], args, model, token_map, audio=None) -> None:
    """Writes the wanted outputs of one input: the wav first (decoded window by window when `audio` is None)."""
    from llmcodec.audio import save_array, save_audio, save_text
    from llmcodec.long_audio import NonFiniteAudioError, decode_to_wav

    if ".wav" in wanted:
        if audio is not None:
            save_audio(wanted[".wav"], audio, model.config.sampling_rate)
        else:
            try:
                decode_to_wav(model, codes, wanted[".wav"], progress=True, **_coding_options(args))
            except NonFiniteAudioError as error:
                raise ValueError(_non_finite_message("audio", args)) from error
    codes = codes.astype(np.int32)
    if ".npy" in wanted:
        save_array(wanted[".npy"], codes)
    if ".txt" in wanted:
        save_text(wanted[".txt"], token_map.codes_to_text(codes))


def _encode_files(args, write_audio: bool) -> int:
    suffixes = [".npy"] + [".txt"] * bool(args.tokens) + [".wav"] * write_audio
    plan = plan_outputs(args.inputs, args.output_dir, suffixes, overwrite=args.overwrite, skip_existing=args.skip_existing)
    if not plan.todo:  # all refused or already done: no model to load
        return report_failures(plan.failures, plan.total)
    model = _load_model(args)
    model._resolve_partitions(args.codebook_domain, 1)  # an unknown --codebook-domain fails before any work
    token_map = None
    if args.tokens:
        from llmcodec.tokenizer.mapping import AudioTokenMap

        token_map = AudioTokenMap(first_id=0, n_codes=model.config.codebook_size)
    job = (args, model, token_map, plan)
    # A context manager: the bar ends its line even when an error stops the command.
    with tqdm(total=len(plan.todo), desc="reconstruct" if write_audio else "encode", unit="file") as progress:
        windowed = [p for p in plan.todo if _codes_in_windows(p, model, args.chunk_seconds)]
        _encode_in_windows(windowed, job, progress)
        batched = [p for p in plan.todo if p not in windowed]
        for start in range(0, len(batched), args.batch_size):
            _encode_one_batch(batched[start : start + args.batch_size], job, write_audio, progress)
    return report_failures(plan.failures, plan.total)


def _encode_in_windows(paths: list[Path], job, progress) -> None:
    """Long lossless files: one at a time, read, coded and written window by window."""
    from llmcodec.audio import AudioReadError
    from llmcodec.long_audio import encode_file_windowed

    args, model, token_map, plan = job
    for path in paths:
        progress.update(1)
        try:
            codes, finite = encode_file_windowed(
                model, path, codebook_domain=args.codebook_domain, progress=True, **_coding_options(args)
            )
            if not finite:
                raise ValueError(_non_finite_message("encoder output", args))
            _write_outputs(path, codes, plan.outputs[path], args, model, token_map)
        except (AudioReadError, ValueError) as error:
            plan.failures.append((path, str(error)))


def _encode_one_batch(paths: list[Path], job, write_audio: bool, progress) -> None:
    """Reads the files whole, codes them in one padded batch (and decodes them for `reconstruct`), writes."""
    from llmcodec.audio import AudioReadError, load_audio
    from llmcodec.batching import decode_batch, encode_batch

    args, model, token_map, plan = job
    rate, hop = model.config.sampling_rate, model.config.hop_length
    clips, names = [], []
    for path in paths:
        try:
            waveform, _ = load_audio(path, target_sr=rate)
            if waveform.numel() < hop:
                raise AudioReadError(f"{path}: {waveform.numel()} samples is shorter than one code ({hop} samples)")
            clips.append(waveform)
            names.append(path)
        except AudioReadError as error:
            plan.failures.append((path, str(error)))
            progress.update(1)
    if not clips:
        return
    options = _coding_options(args)
    codes, finite, scales = encode_batch(
        model, clips, sampling_rate=rate, codebook_domain=args.codebook_domain, warn_out_of_range=False,
        return_finite=True, return_scales=True, **options,
    )
    del clips
    # A level-normalising model's reconstruction is restored to each input's level.
    audios = decode_batch(model, codes, audio_scales=scales, **options) if write_audio else [None] * len(codes)
    for path, item_codes, item_finite, audio in zip(names, codes, finite, audios):
        progress.update(1)
        if not item_finite or (audio is not None and not bool(audio.isfinite().all())):
            plan.failures.append((path, _non_finite_message("encoder output" if not item_finite else "audio", args)))
            continue
        _write_outputs(path, item_codes, plan.outputs[path], args, model, token_map, audio=audio)


def cmd_encode(args) -> int:
    return _encode_files(args, write_audio=False)


def cmd_reconstruct(args) -> int:
    return _encode_files(args, write_audio=True)


def cmd_decode(args) -> int:
    from llmcodec.code_files import read_code_file

    plan = plan_outputs(args.inputs, args.output_dir, [".wav"], overwrite=args.overwrite, skip_existing=args.skip_existing)
    if not plan.todo:
        return report_failures(plan.failures, plan.total)
    model = _load_model(args)
    with tqdm(plan.todo, desc="decode", unit="file") as progress:
        for path in progress:
            try:  # one bad file fails alone: the later ones are still decoded
                codes = read_code_file(path, model.config.codebook_size)
                _write_outputs(path, codes, plan.outputs[path], args, model, None)
            except (OSError, ValueError, TypeError) as error:
                plan.failures.append((path, str(error)))
    return report_failures(plan.failures, plan.total)


def _add_coding_options(parser) -> None:
    add_model_option(parser)
    parser.add_argument(
        "--backend", choices=["torch", "onnx"], default="torch",
        help="torch (default), or onnx: ONNX Runtime on the CPU (the onnx extra; --model may be an export-onnx "
        "folder, else the model is exported once into a cache)",
    )
    add_device_option(parser)
    parser.add_argument(
        "--dtype",
        choices=DTYPE_CHOICES,
        default="auto",
        help="auto (default): bfloat16 autocast where the device computes bf16 natively (CUDA with bf16, a CPU "
        "with AVX512-BF16 / AMX), else float32",
    )
    parser.add_argument(
        "--chunk-seconds",
        type=non_negative_seconds,
        default=60.0,
        help="code audio longer than this in windows of this length (bounded memory; a long WAV/FLAC is also "
        "read and written window by window); 0 disables",
    )
    parser.add_argument(
        "--chunk-context-seconds", type=non_negative_seconds, default=5.0, help="context on each side of a window"
    )
    existing = parser.add_mutually_exclusive_group()
    existing.add_argument("--overwrite", action="store_true", help="replace outputs that already exist (never an input)")
    existing.add_argument(
        "--skip-existing", action="store_true",
        help="skip inputs whose outputs all exist, and write only the missing outputs of the others",
    )


def _with_chunking_normalised(func):
    """`func` (its name and docstring kept), with `--chunk-seconds 0` passed on as one pass (None for the model)."""

    @functools.wraps(func)
    def run(args):
        if args.chunk_seconds == 0:
            args.chunk_seconds = None
        return func(args)

    return run


def add_subcommands(subparsers) -> None:
    encode = add_command(subparsers, "encode", _with_chunking_normalised(cmd_encode),
                         help="audio files -> DIR/<stem>.npy codes")
    reconstruct = add_command(subparsers, "reconstruct", _with_chunking_normalised(cmd_reconstruct),
                              help="audio files -> DIR/<stem>.wav (16 kHz) + DIR/<stem>.npy")
    for parser in (encode, reconstruct):
        parser.add_argument("inputs", nargs="+", help="audio files (any format ffmpeg reads; any rate; downmixed)")
        add_output_dir_option(parser)
        _add_coding_options(parser)
        parser.add_argument("--batch-size", type=positive_int, default=8, help="files per padded batch (default: 8)")
        parser.add_argument("--codebook-domain", default=None, help="restrict codes to a partition, e.g. speech")
        parser.add_argument("--tokens", action="store_true", help="also write DIR/<stem>.txt with <CODEC_i> tokens")

    decode = add_command(subparsers, "decode", _with_chunking_normalised(cmd_decode),
                         help="DIR/<stem>.npy (or .txt <CODEC_n> tokens) -> DIR/<stem>.wav")
    decode.add_argument("inputs", nargs="+", help=".npy files of 1-D integer codes, or .txt files of <CODEC_n> tokens")
    add_output_dir_option(decode)
    _add_coding_options(decode)
