"""SALMon-style acoustic consistency: does the token LM prefer a consistent clip to a perturbed one?

SALMon (Maimon et al.) scores a speech LM on pairs of equal-length clips that differ by one acoustic
inconsistency; the LM is right when it gives the consistent clip the higher likelihood. The paper's
exact scripts are not released, so this is a reconstruction with synthetic perturbations made from
held-out clips (:func:`make_pairs`, all deterministic with a seed, 16 kHz mono):

* ``speaker``: consistent = clip A; perturbed = the first half of A followed by the second half of a
  clip B of a **different speaker** (speaker labels from ``metadata.jsonl`` when available, otherwise
  a different file), level-matched to A.
* ``noise``: perturbed = A with white noise added to its middle third at ``noise_snr_db`` (5 dB).
* ``reverb``: perturbed = A whose second half is convolved (``torchaudio.functional.fftconvolve``)
  with a synthetic room impulse response (exponentially decaying noise, RT60 ``rt60_s``), level-matched.

Both clips of a pair are cropped to the same length, tokenized with the codec, and scored by
:class:`CausalLMScorer`: the sum over codes of ``log p(c_t | c_<t)`` with the softmax over the audio
codes (the ``llmcodec token-lm`` normalisation). Accuracy per perturbation counts a tie as ½; chance
is 50 %.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchaudio

from llmcodec.tokenizer.mapping import AudioTokenMap

from .output_folder import write_json
from .sources import AudioItem
from .token_lm_data import collate

PERTURBATIONS: tuple[str, ...] = ("speaker", "noise", "reverb")
SAMPLE_RATE = 16_000


@dataclass
class SalmonPair:
    """One test pair: ``consistent`` and ``perturbed`` are ``(L,)`` float32 at 16 kHz, same length."""

    perturbation: str
    id: str
    consistent: torch.Tensor
    perturbed: torch.Tensor


@dataclass
class SalmonConfig:
    """Pair construction settings."""

    clip_seconds: float = 4.0
    noise_snr_db: float = 5.0
    rt60_s: float = 0.8
    max_pairs: int = 100
    seed: int = 0


def rms(x: torch.Tensor) -> torch.Tensor:
    return x.pow(2).mean().sqrt().clamp(min=1e-8)


def splice_speakers(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """First half of ``a`` then the second half of ``b`` (scaled to ``a``'s RMS); ``(len(a),)``."""
    half = a.numel() // 2
    tail = b[half : a.numel()]
    if tail.numel() < a.numel() - half:
        tail = torch.nn.functional.pad(tail, (0, a.numel() - half - tail.numel()))
    tail = tail * (rms(a[half:]) / rms(tail))
    return torch.cat([a[:half], tail])


def add_noise_middle(a: torch.Tensor, snr_db: float, generator: torch.Generator) -> torch.Tensor:
    """``a`` with white noise at ``snr_db`` (relative to ``a``'s RMS) over its middle third."""
    start, stop = a.numel() // 3, 2 * a.numel() // 3
    noise = torch.randn(stop - start, generator=generator)
    noise = noise * (rms(a) / rms(noise)) * 10 ** (-snr_db / 20)
    out = a.clone()
    out[start:stop] += noise
    return out


def synthetic_rir(rt60_s: float, generator: torch.Generator, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """``(n,)`` impulse response: a direct path then Gaussian noise decaying 60 dB over ``rt60_s``."""
    n = int(rt60_s * sample_rate)
    t = torch.arange(n) / sample_rate
    rir = torch.randn(n, generator=generator) * torch.exp(-6.9078 * t / rt60_s)  # ln(1000) = 60 dB amplitude
    rir[0] = 1.0
    return rir / rir.norm()


def reverb_second_half(a: torch.Tensor, rt60_s: float, generator: torch.Generator) -> torch.Tensor:
    """``a`` whose second half is convolved with :func:`synthetic_rir`, level-matched to the dry half."""
    half = a.numel() // 2
    wet = torchaudio.functional.fftconvolve(a[half:], synthetic_rir(rt60_s, generator))[: a.numel() - half]
    wet = wet * (rms(a[half:]) / rms(wet))
    return torch.cat([a[:half], wet])


def make_pairs(
    clips: Sequence[tuple[str, torch.Tensor, str | None]],
    perturbations: Sequence[str] = PERTURBATIONS,
    config: SalmonConfig | None = None,
) -> list[SalmonPair]:
    """Build pairs from ``(id, waveform (L,) 16 kHz, speaker or None)`` clips.

    Clips shorter than ``clip_seconds`` are skipped, longer ones are cropped from the start. Up to
    ``max_pairs`` pairs per perturbation, deterministic with ``seed``.
    """
    config = config or SalmonConfig()
    unknown = [p for p in perturbations if p not in PERTURBATIONS]
    if unknown:
        raise ValueError(f"unknown perturbation(s) {unknown}; choose from {list(PERTURBATIONS)}")
    drawn = draw_pairs(clips, perturbations, config, _perturb_salmon)
    return [SalmonPair(perturbation, name, a, perturbed) for perturbation, name, a, perturbed in drawn]


def _perturb_salmon(
    perturbation: str, a: torch.Tensor, config: SalmonConfig, generator: torch.Generator
) -> torch.Tensor:
    if perturbation == "noise":
        return add_noise_middle(a, config.noise_snr_db, generator)
    return reverb_second_half(a, config.rt60_s, generator)


def draw_pairs(
    clips: Sequence[tuple[str, torch.Tensor, str | None]],
    kinds: Sequence[str],
    config: Any,
    perturb: Callable[[str, torch.Tensor, Any, torch.Generator], torch.Tensor | None],
) -> list[tuple[str, str, torch.Tensor, torch.Tensor | None]]:
    """Seeded pairs ``(kind, id, clip (L,), changed clip (L,) or None)`` from ``(id, 16 kHz wave, speaker)`` clips.

    Clips shorter than ``config.clip_seconds`` are skipped, longer ones cropped from the start; up to
    ``config.max_pairs`` clips per kind, drawn with ``config.seed``. A ``"speaker"`` change splices in a clip
    of another speaker (:func:`splice_speakers`; a clip without one is skipped); any other kind is
    ``perturb(kind, clip, config, generator)``. Shared by SALMon and the paired tests, so both draw alike.
    """
    length = int(config.clip_seconds * SAMPLE_RATE)
    usable = [(i, w[:length].float(), s) for i, w, s in clips if w.numel() >= length]
    rng = np.random.default_rng(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    pairs = []
    for kind in kinds:
        for index in rng.permutation(len(usable))[: config.max_pairs]:
            name, a, speaker = usable[index]
            if kind == "speaker":
                others = [j for j, (other, _, s) in enumerate(usable)
                          if other != name and (speaker is None or s is None or s != speaker)]
                if not others:
                    continue
                changed = splice_speakers(a, usable[others[rng.integers(len(others))]][1])
            else:
                changed = perturb(kind, a, config, generator)
            pairs.append((kind, name, a, changed))
    return pairs


class CausalLMScorer:
    """Log-likelihood of code sequences under a token LM from ``llmcodec token-lm``.

    ``__call__(code_lists) -> list[float]``: for codes ``(T,)`` scores ``[BOS] + codes`` and returns
    ``sum_t log p(c_t | BOS, c_<t)`` (softmax over the audio codes).
    """

    def __init__(self, model: Any, vocab: AudioTokenMap, batch_size: int = 16) -> None:
        self.model, self.vocab, self.batch_size = model.eval(), vocab, batch_size

    @classmethod
    def from_folder(cls, folder: str | os.PathLike, device: str = "cpu") -> "CausalLMScorer":
        from transformers import AutoModelForCausalLM

        vocab = AudioTokenMap.load_token_lm(folder)
        # trust_remote_code=False: an auto_map in the folder's config never runs (nor asks to run) its .py files.
        return cls(AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=False).to(device), vocab)

    @torch.no_grad()
    def token_log_probs(self, code_lists: Sequence[torch.Tensor]) -> list[np.ndarray]:
        """Per code list ``(T,)``: ``ln p(c_t | BOS, c_<t)`` for every ``t`` (softmax over the audio codes)."""
        device = next(self.model.parameters()).device
        lo, hi = self.vocab.first_id, self.vocab.end_id
        out: list[np.ndarray] = []
        for start in range(0, len(code_lists), self.batch_size):
            group = [torch.cat([torch.tensor([self.vocab.bos_id]), torch.as_tensor(c).long() + lo])
                     for c in code_lists[start : start + self.batch_size]]
            batch = collate(group, self.vocab.pad_id)
            logits = self.model(input_ids=batch["input_ids"].to(device),
                                attention_mask=batch["attention_mask"].to(device)).logits[:, :-1, lo:hi].float()
            labels = batch["labels"][:, 1:].to(device)
            log_probs = logits.log_softmax(-1).gather(-1, (labels.clamp(min=lo) - lo)[..., None])[..., 0]
            out += [row[: s.numel() - 1].cpu().numpy() for row, s in zip(log_probs, group)]
        return out

    def __call__(self, code_lists: Sequence[torch.Tensor]) -> list[float]:
        return [float(lp.sum()) for lp in self.token_log_probs(code_lists)]


def score_pairs(
    pairs: Sequence[SalmonPair],
    encode: Callable[[Sequence[torch.Tensor]], list[torch.Tensor]],
    scorer: Callable[[Sequence[torch.Tensor]], list[float]],
    batch_size: int = 8,
) -> dict[str, Any]:
    """Accuracy per perturbation.

    Args:
        pairs: from :func:`make_pairs`.
        encode: waveforms ``(L,)`` → codes ``(T,)`` (e.g. ``CodeExtractor.encode``).
        scorer: code sequences → log-likelihoods (e.g. :class:`CausalLMScorer`).

    Returns:
        ``{"accuracy": {perturbation: float}, "overall": float (mean over perturbations),
        "counts": {perturbation: int}, "ties": {perturbation: int}, "chance": 0.5, "pairs": [per-pair
        records with both log-likelihoods]}``.
    """
    records = []
    for start in range(0, len(pairs), batch_size):
        group = pairs[start : start + batch_size]
        codes = encode([p.consistent for p in group] + [p.perturbed for p in group])
        scores = scorer(codes)
        for i, pair in enumerate(group):
            good, bad = scores[i], scores[len(group) + i]
            records.append({"perturbation": pair.perturbation, "id": pair.id, "ll_consistent": good,
                            "ll_perturbed": bad, "correct": 1.0 if good > bad else 0.5 if good == bad else 0.0})
    accuracy, counts, ties = {}, {}, {}
    for perturbation in dict.fromkeys(r["perturbation"] for r in records):
        own = [r for r in records if r["perturbation"] == perturbation]
        accuracy[perturbation] = float(np.mean([r["correct"] for r in own]))
        counts[perturbation] = len(own)
        ties[perturbation] = sum(r["correct"] == 0.5 for r in own)
    overall = float(np.mean(list(accuracy.values()))) if accuracy else math.nan
    return {"accuracy": accuracy, "overall": overall, "counts": counts, "ties": ties, "chance": 0.5, "pairs": records}


def speakers_from_metadata(root: str | os.PathLike) -> dict[str, str]:
    """``relative path → speaker`` from every ``metadata.jsonl`` (audiofolder layout, as written by
    ``llmcodec corpus build``) under ``root``; empty when there is none."""
    root = Path(root)
    speakers: dict[str, str] = {}
    for meta in root.rglob("metadata.jsonl"):
        for line in meta.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if "file_name" in row and row.get("speaker") is not None:
                speakers[str((meta.parent / row["file_name"]).relative_to(root))] = str(row["speaker"])
    return speakers


def load_clips(
    items: Sequence[AudioItem], speakers: dict[str, str] | None = None
) -> list[tuple[str, torch.Tensor, str | None]]:
    """``(id, waveform (L,) at 16 kHz, speaker or None)`` of each readable item; an unreadable one is left out."""
    from llmcodec.audio import resample

    clips = []
    for item in items:
        try:
            audio, rate = item.load()
        except Exception:  # noqa: BLE001 - an unreadable clip is left out, the others still count
            continue
        clips.append((item.id, resample(torch.as_tensor(audio).float().reshape(-1), rate, SAMPLE_RATE),
                      (speakers or {}).get(item.id)))
    return clips


def pairs_from_items(
    items: Sequence[AudioItem], speakers: dict[str, str] | None, build_pairs: Callable[[list], list], no_pairs: str
) -> list:
    """``build_pairs(clips)`` over the clips of the readable items (:func:`load_clips`).

    When it gives no pair, raises ValueError with the message ``no_pairs`` and the number of readable clips.
    """
    clips = load_clips(items, speakers)
    pairs = build_pairs(clips)
    if not pairs:
        raise ValueError(f"{no_pairs} ({len(clips)} readable clips given)")
    return pairs


def run_salmon(
    codec: Any, scorer: Callable[[Sequence[torch.Tensor]], list[float]], items: Sequence[AudioItem],
    output: str | os.PathLike | None = None, perturbations: Sequence[str] = PERTURBATIONS,
    config: SalmonConfig | None = None, speakers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Load clips, build pairs, score; writes ``salmon.json`` and ``salmon.md`` to ``output`` if given."""
    from llmcodec.audio import save_text

    config = config or SalmonConfig()
    pairs = pairs_from_items(items, speakers, lambda clips: make_pairs(clips, perturbations, config),
                             f"no SALMon pairs: need clips of at least {config.clip_seconds:g} s")
    result = score_pairs(pairs, codec.encode, scorer)
    result["codec"] = getattr(codec, "name", None)
    result["config"] = {k: getattr(config, k) for k in ("clip_seconds", "noise_snr_db", "rt60_s", "max_pairs", "seed")}
    if output is not None:
        out = Path(output)
        write_json(out / "salmon.json", result)
        lines = ["# SALMon-style consistency", "", "| perturbation | pairs | accuracy % | ties |", "|---|---|---|---|"]
        lines += [f"| {p} | {result['counts'][p]} | {100 * a:.1f} | {result['ties'][p]} |" for p, a in result["accuracy"].items()]
        lines += [f"| **overall** (mean) | {sum(result['counts'].values())} | {100 * result['overall']:.1f} | |", "",
                  "Chance is 50 %. LM log-likelihoods are summed over codes, softmax over the audio codes.", ""]
        save_text(out / "salmon.md", "\n".join(lines))
    return result
