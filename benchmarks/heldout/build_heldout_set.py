"""Builds the held-out evaluation set: real speakers, languages, levels and sample rates never trained on.

    python benchmarks/heldout/build_heldout_set.py [--output data/heldout] [--seed 0] [--clips-per-speaker 4]

One sub-folder per source, so ``llmcodec evaluate --data data/heldout`` reports a row per source:

- every held-out speaker of the recorded-speech catalogue (``llmcodec corpus recorded``: the
  ``DEFAULT_VALIDATION_SOURCES`` languages of ktuberling and klettres, four hedgewars voice packs, the Russian and
  the Armelle French asterisk prompt voices), at its native sample rate and level;
- ``alsa/``: the eight spoken ALSA test clips (``alsa-utils``, 48 kHz), ``arctic/``: the bundled CMU ARCTIC clip;
- ``conditions/``: other clips of the held-out speakers at 8 / 11.025 / 22.05 / 44.1 / 48 kHz and -45 / -30 /
  -15 dBFS active level (a full 5 x 3 grid, drawn with ``--seed``), so that level and rate are measured too.

Clip rule: a speaker's files at its most common native rate, in a seeded order, trimmed to their active part
(20 ms frames down to 40 dB below the loudest, plus 0.1 s); a file of 3 s or more is a clip of its own (cut to
10 s), shorter ones are joined with 0.25 s of silence until the clip reaches 3 s (so it stays under 6.25 s); a
short remainder is left out. At most ``--clips-per-speaker`` clips per speaker.

``manifest.json`` lists every clip: source, speaker, language, native rate, active level, duration, licence and
the files it was made from. The build is deterministic (same bytes on every run) and replaces an earlier build
as a whole; it refuses to replace a folder it did not write.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm.auto import tqdm

from llmcodec.training.data.corpus.recorded import read_native
from llmcodec.training.data.corpus.recorded_sources import (
    DEFAULT_VALIDATION_SOURCES,
    RAW_FORMAT_RATES,
    SOURCES,
    RecordedSource,
)
from llmcodec.training.data.corpus.recorded_split import RecordedFile, assign_splits, collect_files

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from speech_clips import ALSA_SOUNDS, ALSA_SPEECH, EXAMPLE_CLIP, REPO  # noqa: E402

MANIFEST_KIND = "llmcodec-heldout-set"

MIN_CLIP_S, MAX_PART_S, GAP_S, FADE_S = 3.0, 10.0, 0.25, 0.01
FRAME_S, ACTIVE_RANGE_DB, TRIM_PAD_S = 0.02, 40.0, 0.1
CONDITION_RATES = (8000, 11025, 22050, 44100, 48000)
CONDITION_LEVELS_DBFS = (-45.0, -30.0, -15.0)
MAX_PEAK = 0.99


@dataclass
class Clip:
    """One clip; ``wave`` (L,) float32 mono at ``rate``."""

    name: str
    source: str
    speaker: str
    language: str
    licence: str
    rate: int
    wave: np.ndarray
    parts: list[str] = field(default_factory=list)
    condition: dict | None = None


def _frame_db(wave: np.ndarray, rate: int) -> np.ndarray:
    hop = max(1, int(FRAME_S * rate))
    frames = wave[: len(wave) // hop * hop].reshape(-1, hop) if len(wave) >= hop else wave[None, :]
    return 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-20)


def active_level_dbfs(wave: np.ndarray, rate: int) -> float:
    """RMS over the 20 ms frames less than 40 dB below the loudest one, in dB re full scale (a simplified
    ITU-T P.56 active speech level: the silences joining parts do not lower it)."""
    db = _frame_db(wave, rate)
    active = db[db > db.max() - ACTIVE_RANGE_DB]
    return float(10 * np.log10(np.mean(10 ** (active / 10))))


def trim(wave: np.ndarray, rate: int) -> np.ndarray | None:
    """The active part of a recording plus 0.1 s either side; None for a silent one."""
    if wave.size == 0 or not np.any(wave):
        return None
    hop = max(1, int(FRAME_S * rate))
    db = _frame_db(wave, rate)
    loud = np.flatnonzero(db > db.max() - ACTIVE_RANGE_DB)
    pad = int(TRIM_PAD_S * rate)
    return wave[max(0, loud[0] * hop - pad): min(len(wave), (loud[-1] + 1) * hop + pad)]


def _fade(wave: np.ndarray, rate: int) -> np.ndarray:
    n = min(int(FADE_S * rate), len(wave) // 2)
    if n:
        ramp = np.linspace(0.0, 1.0, n, dtype=np.float32)
        wave = wave.copy()
        wave[:n] *= ramp
        wave[-n:] *= ramp[::-1]
    return wave


def join(parts: list[np.ndarray], rate: int) -> np.ndarray:
    gap = np.zeros(int(GAP_S * rate), dtype=np.float32)
    pieces = []
    for i, part in enumerate(parts):
        pieces += ([gap] if i else []) + [_fade(part.astype(np.float32), rate)]
    return np.concatenate(pieces)


def _native_rate(f: RecordedFile) -> int:
    fmt = f.source.input_format
    return RAW_FORMAT_RATES[fmt] if fmt in RAW_FORMAT_RATES else sf.info(f.path).samplerate


def _speaker_rng(seed: int, speaker: str) -> np.random.Generator:
    return np.random.default_rng([seed, int(hashlib.sha1(speaker.encode()).hexdigest()[:8], 16)])


def speaker_clips(files: list[RecordedFile], max_clips: int, seed: int) -> list[Clip]:
    """Up to ``max_clips`` clips of one speaker (see the module docstring for the rule)."""
    speaker = files[0].speaker
    rates = Counter(_native_rate(f) for f in files)
    rate = max(rates, key=lambda r: (rates[r], r))
    chosen = sorted((f for f in files if _native_rate(f) == rate), key=lambda f: f.path)
    order = _speaker_rng(seed, speaker).permutation(len(chosen))
    clips: list[Clip] = []
    pending: list[tuple[np.ndarray, str]] = []

    def emit(items: list[tuple[np.ndarray, str]]) -> None:
        field_ = speaker.partition(":")[2] or speaker
        clips.append(Clip(f"{field_}_{len(clips) + 1:02d}", files[0].source.name, speaker, files[0].language,
                          files[0].source.licence, rate, join([w for w, _ in items], rate), [p for _, p in items]))

    for index in order:
        if len(clips) >= max_clips:
            break
        f = chosen[index]
        wave, _ = read_native(f.path, f.source.input_format)
        part = trim(wave, rate)
        if part is None:
            continue
        if len(part) >= MIN_CLIP_S * rate:
            emit([(part[: int(MAX_PART_S * rate)], f.path)])
            continue
        pending.append((part, f.path))
        if sum(len(w) for w, _ in pending) + GAP_S * rate * (len(pending) - 1) >= MIN_CLIP_S * rate:
            emit(pending)
            pending = []
    return clips


def condition_clips(clips: list[Clip], seed: int) -> list[Clip]:
    """The rate x level grid, each cell a held-out clip of 44.1 kHz or more (so that the lower rates band-limit
    it; a different clip per cell while there are enough), resampled to the cell's rate and scaled to its active
    level; a clip that would clip at that level is passed over."""
    import torch
    import torchaudio

    candidates = [c for c in clips if c.rate >= 44100]
    order = list(np.random.default_rng(seed).permutation(len(candidates)))
    out: list[Clip] = []
    for rate in CONDITION_RATES:
        for level in CONDITION_LEVELS_DBFS:
            for position, index in enumerate(order):
                base = candidates[index]
                wave = torchaudio.functional.resample(torch.from_numpy(base.wave), base.rate, rate).numpy()
                wave = wave * np.float32(10 ** ((level - active_level_dbfs(wave, rate)) / 20))
                if np.abs(wave).max() <= MAX_PEAK:
                    order.append(order.pop(position))  # used clips go last: reused only when all were used
                    out.append(Clip(f"{rate}hz_{int(-level)}dbfs", "conditions", base.speaker, base.language,
                                    base.licence, rate, wave.astype(np.float32), base.parts,
                                    {"from": f"{base.source}/{base.name}.wav", "rate": rate, "level_dbfs": level}))
                    break
    return out


def fixed_clips(alsa_dir: Path, arctic: Path) -> list[Clip]:
    clips = []
    for name in ALSA_SPEECH:
        path = alsa_dir / f"{name}.wav"
        if path.is_file():
            wave, rate = read_native(str(path))
            clips.append(Clip(name, "alsa", "alsa", "English", "GPL-2 (alsa-utils)", rate, wave, [str(path)]))
    if arctic.is_file():
        wave, rate = read_native(str(arctic))
        clips.append(Clip(arctic.stem, "arctic", "arctic", "English (US)", "CMU ARCTIC (free for any use)",
                          rate, wave, [str(arctic.relative_to(REPO)) if arctic.is_relative_to(REPO) else str(arctic)]))
    return clips


def heldout_clips(sources: tuple[RecordedSource, ...], validation: tuple[str, ...], seed: int,
                  clips_per_speaker: int) -> list[Clip]:
    """Clips of every held-out speaker of the installed ``sources``."""
    installed = [s for s in sources if s.files()]
    listing = collect_files(installed)
    plan = assign_splits(listing, validation, sources)
    by_speaker: dict[str, list[RecordedFile]] = {}
    for f in listing.files:
        if plan.of(f.speaker) == "validation":
            by_speaker.setdefault(f.speaker, []).append(f)
    clips: list[Clip] = []
    for speaker in tqdm(sorted(by_speaker), desc="held-out speakers", leave=False):
        clips += speaker_clips(by_speaker[speaker], clips_per_speaker, seed)
    return clips


def _entry(clip: Clip) -> dict:
    entry = {
        "file": f"{clip.source}/{clip.name}.wav", "source": clip.source, "speaker": clip.speaker,
        "language": clip.language, "native_rate": clip.rate, "level_dbfs": round(active_level_dbfs(clip.wave, clip.rate), 2),
        "duration": round(len(clip.wave) / clip.rate, 3), "licence": clip.licence, "parts": clip.parts,
    }
    if clip.condition:
        entry["condition"] = clip.condition
    return entry


def summarize(entries: list[dict]) -> dict:
    per_source: dict[str, dict] = {}
    for e in entries:
        s = per_source.setdefault(e["source"], {"clips": 0, "speakers": set(), "languages": set(), "seconds": 0.0,
                                                 "rates": set()})
        s["clips"] += 1
        s["speakers"].add(e["speaker"])
        s["languages"].add(e["language"])
        s["seconds"] += e["duration"]
        s["rates"].add(e["native_rate"])
    return {
        "clips": len(entries), "speakers": len({e["speaker"] for e in entries}),
        "languages": sorted({e["language"] for e in entries}),
        "minutes": round(sum(e["duration"] for e in entries) / 60, 2),
        "per_source": {name: {"clips": s["clips"], "speakers": len(s["speakers"]), "languages": sorted(s["languages"]),
                              "minutes": round(s["seconds"] / 60, 2), "native_rates": sorted(s["rates"])}
                       for name, s in sorted(per_source.items())},
    }


def build(output: Path, *, seed: int = 0, clips_per_speaker: int = 4,
          sources: tuple[RecordedSource, ...] = SOURCES, validation: tuple[str, ...] = DEFAULT_VALIDATION_SOURCES,
          alsa_dir: Path = ALSA_SOUNDS, arctic: Path = EXAMPLE_CLIP) -> dict:
    """Write the set to ``output`` (replacing an earlier build as a whole) and return its manifest."""
    _check_replaceable(output)
    clips = heldout_clips(sources, validation, seed, clips_per_speaker)
    if not clips:
        raise ValueError("no held-out speaker is installed (apt-get install the packages of the validation sources)")
    clips += condition_clips(clips, seed) + fixed_clips(alsa_dir, arctic)
    entries = [_entry(c) for c in clips]
    manifest = {"kind": MANIFEST_KIND, "version": 1, "seed": seed, "clips_per_speaker": clips_per_speaker,
                "validation_sources": list(validation), "summary": summarize(entries), "clips": entries}
    tmp = output.parent / f".{output.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    for clip in clips:
        path = tmp / clip.source / f"{clip.name}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, np.clip(clip.wave, -1.0, 1.0), clip.rate, subtype="PCM_16", format="WAV")
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    old = output.parent / f".{output.name}.old-{os.getpid()}"
    if output.exists():
        output.rename(old)
    tmp.rename(output)
    shutil.rmtree(old, ignore_errors=True)
    return manifest


def _check_replaceable(output: Path) -> None:
    if not output.exists():
        output.parent.mkdir(parents=True, exist_ok=True)
        return
    manifest = output / "manifest.json"
    try:
        ours = json.loads(manifest.read_text(encoding="utf-8")).get("kind") == MANIFEST_KIND
    except (OSError, ValueError):
        ours = False
    if not ours and (not output.is_dir() or any(output.iterdir())):
        raise ValueError(f"{output} exists and is not a held-out set built by this script; choose another --output")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="build_heldout_set", description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=Path("data/heldout"), help="folder to write (default data/heldout)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--clips-per-speaker", type=int, default=4)
    parser.add_argument("--validation-sources", nargs="+", default=list(DEFAULT_VALIDATION_SOURCES),
                        help="held-out sources or source:speaker ids (default: the recorded corpus' validation split)")
    args = parser.parse_args(argv)
    if args.clips_per_speaker < 1:
        parser.error("--clips-per-speaker must be at least 1")
    try:
        manifest = build(args.output, seed=args.seed, clips_per_speaker=args.clips_per_speaker,
                         validation=tuple(args.validation_sources))
    except ValueError as error:
        parser.error(str(error))
    summary = manifest["summary"]
    print(f"{summary['clips']} clips, {summary['speakers']} speakers, {len(summary['languages'])} languages, "
          f"{summary['minutes']} min -> {args.output}")
    for name, s in summary["per_source"].items():
        print(f"  {name}: {s['clips']} clips, {s['speakers']} speakers, {s['minutes']} min, rates {s['native_rates']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
