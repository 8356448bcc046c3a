"""How differently do two codecs tokenize the same speech? Check this before reading anything into an LM
difference between two codec arms: arms that assign the same code to 99 % of frames cannot differ much in
learnability, whatever an LM score says.

For every file both codecs could code (same sample rate and frame rate, so frame ``t`` is the same 20 ms):

* **frame agreement**: the share of frames given the same code (over the frames both sequences have);
* **unit edit distance** (UED; Gat et al.): Levenshtein distance between the run-length-deduplicated code
  strings of codec A and codec B, divided by A's deduplicated length, micro-averaged (sum of edits / sum of
  lengths), so that a code held longer or shorter by one frame costs nothing.

Both come with 95 % bootstrap intervals over files. Frame agreement compares code *indices*: it is meaningful
between arms that share a codebook (e.g. two stage-2 fine-tunes of one stage-1 model), not between codecs trained
apart, whose indices are arbitrary labels.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .learnability_stats import DEFAULT_RESAMPLES, file_bootstrap
from .token_stability import unit_edits


def code_agreement(codes_a: Mapping[str, Sequence[int]], codes_b: Mapping[str, Sequence[int]],
                   resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> dict[str, Any]:
    """Frame agreement and UED of codec B against codec A on the files both coded.

    Returns:
        ``{"files", "frames", "frame_agreement": {"mean", "lo", "hi", "half_width"}, "ued": {...},
        "length_mismatch_files", "per_file": [{"id", "frames", "same", "edits", "dedup_length"}]}``.
    """
    shared = sorted(set(codes_a) & set(codes_b))
    if not shared:
        raise ValueError("the two codecs coded no file in common")
    rows = []
    for name in shared:
        a = torch.as_tensor(list(codes_a[name]), dtype=torch.long)
        b = torch.as_tensor(list(codes_b[name]), dtype=torch.long)
        n = min(a.numel(), b.numel())
        edits, length = unit_edits(a, b)
        rows.append({"id": name, "frames": n, "same": int((a[:n] == b[:n]).sum()), "edits": edits,
                     "dedup_length": length, "length_a": a.numel(), "length_b": b.numel()})
    frames = np.array([r["frames"] for r in rows], dtype=np.float64)
    same = np.array([r["same"] for r in rows], dtype=np.float64)
    agreement = file_bootstrap({"agreement": same}, frames, resamples, seed)["agreement"]
    ued = file_bootstrap({"ued": np.array([r["edits"] for r in rows], dtype=np.float64)},
                         np.array([r["dedup_length"] for r in rows], dtype=np.float64), resamples, seed)["ued"]
    return {"files": len(rows), "frames": int(frames.sum()), "frame_agreement": agreement, "ued": ued,
            "length_mismatch_files": sum(r["length_a"] != r["length_b"] for r in rows), "per_file": rows}


def run_code_agreement(codec_a: Any, codec_b: Any, items: Sequence[Any], output: str | os.PathLike,
                       batch_size: int = 8, progress: bool = True) -> dict[str, Any]:
    """Tokenize ``items`` with both codecs (cached under ``OUT/codes/``, resumable), compare, and write
    ``OUT/code_agreement.json`` / ``.md``."""
    from llmcodec.audio import save_text

    from .output_folder import write_json
    from .token_lm_data import codes_cache_dir, tokenize_items

    if codec_a.sampling_rate != codec_b.sampling_rate:
        raise ValueError(f"the codecs run at {codec_a.sampling_rate} and {codec_b.sampling_rate} Hz; frames do not align")
    out = Path(output)
    codes = []
    for codec in (codec_a, codec_b):
        cache = codes_cache_dir(out, codec, items, [])
        codes.append(tokenize_items(codec, items, cache / "train.jsonl", batch_size, progress)[0])
    result = {"codec_a": codec_a.name, "codec_b": codec_b.name, **code_agreement(*codes)}
    write_json(out / "code_agreement.json", result)
    agree, ued = result["frame_agreement"], result["ued"]
    save_text(out / "code_agreement.md", "\n".join([
        f"# Code agreement: `{codec_a.name}` vs `{codec_b.name}`", "",
        f"{result['files']} files, {result['frames']} frames; 95 % bootstrap intervals over files.", "",
        "| measure | value |", "|---|---|",
        f"| frames with the same code % | {100 * agree['mean']:.2f} [{100 * agree['lo']:.2f}, {100 * agree['hi']:.2f}] |",
        f"| unit edit distance % (deduplicated, vs A) | {100 * ued['mean']:.2f} [{100 * ued['lo']:.2f}, {100 * ued['hi']:.2f}] |",
        f"| files whose code counts differ | {result['length_mismatch_files']} |", "",
    ]) + "\n")
    return result
