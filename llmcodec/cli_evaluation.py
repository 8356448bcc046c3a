"""Evaluation subcommands: ``llmcodec metrics REF DEG``.

``metrics`` prints Codec-SUPERB's six metrics for one reference/degraded pair as JSON (failed
metrics are ``null`` with their reason under ``errors``). The degraded file is resampled to the
reference's rate and lengths are matched (zero-pad; ``--textbook`` crops), see
:mod:`llmcodec.evaluation.metrics`.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import torch


def _read_audio(path: Path) -> tuple[torch.Tensor, int]:
    """Read a file as mono float32 ``(L,)`` at its native rate (channels averaged).

    The native rate is kept on purpose: Codec-SUPERB computes mel/stft/waveform at the reference's
    own rate. Raises ``llmcodec.audio.AudioReadError`` for unreadable files.
    """
    from llmcodec.audio import load_audio

    return load_audio(path, target_sr=None)


def _json_ready(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN; failures are explained in "errors"
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    return value


def run_metrics(args: argparse.Namespace) -> int:
    """Compute and print the metrics for ``args.reference`` vs ``args.degraded``."""
    from llmcodec.evaluation.metrics import InvalidAudioError, MetricOptions, compute_metrics

    if args.textbook and args.codec_superb_compat:
        print("error: --textbook and --codec-superb-compat are mutually exclusive", file=sys.stderr)
        return 2
    if args.textbook:
        options = MetricOptions.textbook()
    elif args.codec_superb_compat:
        options = MetricOptions.codec_superb_compat()
    else:
        options = MetricOptions.codec_superb()
    audio = {}
    for role, path in (("reference", args.reference), ("degraded", args.degraded)):
        try:
            audio[role] = _read_audio(Path(path))
        except Exception as error:  # noqa: BLE001 - any decoder failure means an unreadable file
            print(f"error: cannot read {role} file {path}: {error}", file=sys.stderr)
            return 1
    (reference, rate), (degraded, degraded_rate) = audio["reference"], audio["degraded"]
    try:
        result = compute_metrics(reference, degraded, rate, degraded_rate, options=options)
    except InvalidAudioError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    result["reference"] = str(args.reference)
    result["degraded"] = str(args.degraded)
    result["degraded_sample_rate"] = degraded_rate
    result["mode"] = "textbook" if args.textbook else "codec_superb_compat" if args.codec_superb_compat else "codec_superb"
    print(json.dumps(_json_ready(result), indent=2, allow_nan=False))
    return 0


def add_subcommands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``metrics`` on the ``llmcodec`` parser."""
    parser = subparsers.add_parser(
        "metrics",
        help="Codec-SUPERB metrics (mel, stft, waveform, pesq, stoi, f0corr) for one pair, as JSON",
        description=(
            "Compare a degraded/reconstructed file with its reference. Defaults follow Codec-SUPERB's "
            "definitions (STOI/F0Corr at 16 kHz, its STOI port, F0 at an assumed 22,050 Hz, zero-pad "
            "alignment); failed metrics are null with a reason."
        ),
    )
    parser.add_argument("reference", help="reference audio file")
    parser.add_argument("degraded", help="degraded / reconstructed audio file")
    parser.add_argument(
        "--textbook",
        action="store_true",
        help="textbook variants: pystoi STOI, STOI/F0 at the native rate, true F0 rate, crop alignment",
    )
    parser.add_argument(
        "--codec-superb-compat",
        action="store_true",
        help="reproduce Codec-SUPERB's failure numbers (PESQ 1.0, STOI 0.0, F0Corr 0.0) instead of null",
    )
    parser.set_defaults(func=run_metrics)
