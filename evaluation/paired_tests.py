"""Paired consistency tests scored by local likelihood (SALMon-style, on held-out speech).

Each pair is a held-out clip (the positive) and a negative that is identical up to the middle of the clip and
changes there (all seeded, 16 kHz):

* ``speaker``: the second half comes from a clip of another speaker (level-matched);
* ``gain``: the second half is ``gain_db`` louder or quieter;
* ``noise``: a white noise floor at ``noise_snr_db`` below the clip's level starts at the middle;
* ``frame-edit``: on the codes, ``edit_share`` of the frames of the scored window are replaced by uniformly
  drawn codes — a harness check that any model better than chance must pass.

Both clips are tokenized; a model scores the **window** of ``window_seconds`` right after the change by its mean
log-probability of the codes there, each conditioned on its own prefix (local likelihood: a whole-file mean
would dilute the change with the unchanged half). The pair is right when the positive scores higher (a tie
counts ½); chance is 50 %. Every scorer runs on the same pairs — the LM and, as controls, the unigram (which
can only tell codes that are rare from codes that are common, not whether they fit their context) and the
n-gram. Intervals resample pairs (one pair per held-out file).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .learnability_stats import DEFAULT_RESAMPLES, bootstrap_share
from .salmon import SAMPLE_RATE, draw_pairs, pairs_from_items, rms

NEGATIVES: tuple[str, ...] = ("speaker", "gain", "noise", "frame-edit")
TokenScorer = Callable[[Sequence[torch.Tensor]], list[np.ndarray]]


@dataclass
class PairedTestConfig:
    """Pair construction and scoring settings (the change is at the middle of the clip)."""

    clip_seconds: float = 4.0
    window_seconds: float = 1.0
    gain_db: float = -10.0
    noise_snr_db: float = 10.0
    edit_share: float = 0.25
    max_pairs: int = 200
    seed: int = 0
    resamples: int = DEFAULT_RESAMPLES


def gain_second_half(a: torch.Tensor, gain_db: float) -> torch.Tensor:
    """``a`` whose second half is scaled by ``gain_db`` (peak-limited to 0.99 full scale)."""
    half = a.numel() // 2
    tail = a[half:] * 10 ** (gain_db / 20)
    peak = float(tail.abs().max()) if tail.numel() else 0.0
    if peak > 0.99:
        tail = tail * (0.99 / peak)
    return torch.cat([a[:half], tail])


def noise_floor_second_half(a: torch.Tensor, snr_db: float, generator: torch.Generator) -> torch.Tensor:
    """``a`` with white noise at ``snr_db`` below its RMS from the middle on."""
    half = a.numel() // 2
    noise = torch.randn(a.numel() - half, generator=generator)
    noise = noise * (rms(a) / rms(noise)) * 10 ** (-snr_db / 20)
    return torch.cat([a[:half], a[half:] + noise])


def edit_frames(codes: torch.Tensor, start: int, stop: int, share: float, n_codes: int,
                generator: torch.Generator) -> torch.Tensor:
    """A copy of ``codes`` ``(T,)`` with ``ceil(share × (stop - start))`` frames of ``[start, stop)`` replaced by
    uniformly drawn codes different from the original."""
    out = codes.clone()
    span = max(stop - start, 0)
    count = min(span, math.ceil(share * span))
    where = start + torch.randperm(span, generator=generator)[:count]
    shift = torch.randint(1, n_codes, (count,), generator=generator)  # never the original code
    out[where] = (out[where] + shift) % n_codes
    return out


def build_waveform_pairs(clips: Sequence[tuple[str, torch.Tensor, str | None]], config: PairedTestConfig,
                         negatives: Sequence[str] = NEGATIVES) -> list[dict[str, Any]]:
    """``[{negative, id, positive (L,), negative_audio (L,) or None}]`` from ``(id, 16 kHz wave, speaker)`` clips;
    clips shorter than ``clip_seconds`` are skipped, longer ones cropped from the start."""
    drawn = draw_pairs(clips, negatives, config, _make_negative)
    return [{"negative": negative, "id": name, "positive": a, "negative_audio": changed}
            for negative, name, a, changed in drawn]


def _make_negative(negative: str, a: torch.Tensor, config: PairedTestConfig,
                   generator: torch.Generator) -> torch.Tensor | None:
    if negative == "gain":
        return gain_second_half(a, config.gain_db)
    if negative == "noise":
        return noise_floor_second_half(a, config.noise_snr_db, generator)
    if negative == "frame-edit":
        return None  # made on the codes
    raise ValueError(f"unknown negative {negative!r}; choose from {list(NEGATIVES)}")


def window_score(log_probs: np.ndarray, start: int, stop: int) -> float:
    """Mean log-probability of the codes at ``[start, stop)`` (``log_probs[t]`` = ln p(c_t | c_<t))."""
    window = np.asarray(log_probs)[start:stop]
    return float(window.mean()) if window.size else math.nan


def score_paired_tests(pairs: Sequence[dict[str, Any]], encode: Callable[[Sequence[torch.Tensor]], list[torch.Tensor]],
                       scorers: dict[str, TokenScorer], n_codes: int, frame_rate: float,
                       config: PairedTestConfig, batch_size: int = 8) -> dict[str, Any]:
    """Accuracy per negative and scorer, with bootstrap intervals over pairs.

    Returns:
        ``{"accuracy": {scorer: {negative: {"mean", "lo", "hi", "n"}}}, "chance": 0.5, "window_frames": [a, b),
        "pairs": [per-pair records with each scorer's window scores]}``.
    """
    change = int(int(config.clip_seconds * SAMPLE_RATE) // 2 * frame_rate / SAMPLE_RATE)  # frame of the middle
    start, stop = change, change + max(1, round(config.window_seconds * frame_rate))
    generator = torch.Generator().manual_seed(config.seed + 1)
    records, positives, negatives = [], [], []
    for first in range(0, len(pairs), batch_size):
        group = pairs[first : first + batch_size]
        waves = [p["positive"] for p in group] + [p["negative_audio"] for p in group if p["negative_audio"] is not None]
        codes = iter(encode(waves))
        own = [next(codes) for _ in group]
        for pair, positive in zip(group, own):
            negative = (edit_frames(positive, start, stop, config.edit_share, n_codes, generator)
                        if pair["negative_audio"] is None else next(codes))
            stop_here = min(stop, positive.numel(), negative.numel())
            positives.append(positive[:stop_here])
            negatives.append(negative[:stop_here])
            records.append({"negative": pair["negative"], "id": pair["id"], "window": [start, stop_here]})
    for name, scorer in scorers.items():
        good, bad = scorer(positives), scorer(negatives)
        for record, g, b in zip(records, good, bad):
            s_good, s_bad = window_score(g, *record["window"]), window_score(b, *record["window"])
            record[name] = {"positive": s_good, "negative": s_bad,
                            "correct": 1.0 if s_good > s_bad else 0.5 if s_good == s_bad else 0.0}
    accuracy = {}
    for name in scorers:
        accuracy[name] = {}
        for negative in dict.fromkeys(r["negative"] for r in records):
            correct = [r[name]["correct"] for r in records if r["negative"] == negative]
            accuracy[name][negative] = bootstrap_share(np.array(correct), config.resamples, config.seed)
    return {"accuracy": accuracy, "chance": 0.5, "window_frames": [start, stop], "pairs": records}


def ngram_token_scorer(model: Any) -> TokenScorer:
    """A :class:`.ngram.UnigramLM` / :class:`.ngram.KneserNeyLM` as a per-token scorer of whole sequences."""
    from .ngram import window_log_probs

    return lambda code_lists: window_log_probs(model, [np.asarray(c) for c in code_lists])


def render_paired_tests(result: dict[str, Any]) -> str:
    names = list(result["accuracy"])
    negatives = list(next(iter(result["accuracy"].values()))) if names else []
    start, stop = result["window_frames"]
    lines = ["# Paired consistency tests (local likelihood)", "",
             f"Accuracy % (95 % bootstrap interval over pairs); chance 50 %. Scored window: frames {start}–{stop} "
             "after the change at the clip's middle.", "",
             "| negative | pairs | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for negative in negatives:
        cells = []
        for name in names:
            row = result["accuracy"][name][negative]
            cells.append(f"{100 * row['mean']:.1f} [{100 * row['lo']:.1f}, {100 * row['hi']:.1f}]")
        lines.append(f"| {negative} | {result['accuracy'][names[0]][negative]['n']} | " + " | ".join(cells) + " |")
    lines += ["", "The unigram can only prefer common codes to rare ones: where it scores as well as the LM, the test "
              "measures the codes' frequencies, not their fit to the context.", ""]
    return "\n".join(lines)


def run_paired_tests(codec: Any, scorers: dict[str, TokenScorer], items: Sequence[Any],
                     output: str | os.PathLike | None = None, config: PairedTestConfig | None = None,
                     speakers: dict[str, str] | None = None, negatives: Sequence[str] = NEGATIVES) -> dict[str, Any]:
    """Load held-out clips, build pairs, score them with every scorer; writes ``paired_tests.json`` / ``.md``."""
    from llmcodec.audio import save_text

    from .output_folder import write_json

    config = config or PairedTestConfig()
    pairs = pairs_from_items(items, speakers, lambda clips: build_waveform_pairs(clips, config, negatives),
                             f"no test pairs: need held-out clips of at least {config.clip_seconds:g} s")
    frame_rate = float(getattr(codec, "frame_rate", None) or codec.sampling_rate / 320)
    result = score_paired_tests(pairs, codec.encode, scorers, codec.codebook_size, frame_rate, config)
    result["codec"] = getattr(codec, "name", None)
    result["config"] = asdict(config)
    if output is not None:
        out = Path(output)
        write_json(out / "paired_tests.json", result)
        save_text(out / "paired_tests.md", render_paired_tests(result))
    return result
