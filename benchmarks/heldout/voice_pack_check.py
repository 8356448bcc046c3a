"""Listen-free check of the hedgewars voice packs for effect processing (robot, vocoder, pitch quantisation).

    python benchmarks/heldout/voice_pack_check.py [--voices /usr/share/games/hedgewars/Data/Sounds/voices]
        [--output benchmarks/heldout/results/voice_packs.json]

Per pack, the medians over its files of (Praat, ``praat-parselmouth``):

- ``f0_sd_semitones``: the spread of the pitch contour within a file. Robotised or monotone-vocoded speech is
  nearly flat (well under 1 semitone); shouted exclamations move by several semitones.
- ``grid_fraction``: the share of voiced frames within 15 cents of the equal-tempered semitone grid (chance is
  0.30). Pitch-corrected ("auto-tuned") voices sit far above it.
- ``hnr_db``: harmonics-to-noise ratio; sung or synthetic tones are far above speech.
- ``f0_hz``, ``voiced_fraction``: for the record.

A pack is flagged when its ``f0_sd_semitones`` is under 1.0 or its ``grid_fraction`` over 0.5.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

VOICES = Path("/usr/share/games/hedgewars/Data/Sounds/voices")
FLAT_PITCH_SEMITONES, GRID_FRACTION = 1.0, 0.5


def file_features(path: Path) -> dict[str, float]:
    import parselmouth

    data, rate = sf.read(path, dtype="float64", always_2d=True)
    sound = parselmouth.Sound(data.mean(axis=1), sampling_frequency=rate)
    f0 = sound.to_pitch_ac(pitch_floor=60, pitch_ceiling=800, voicing_threshold=0.45).selected_array["frequency"]
    voiced = f0[f0 > 0]
    hnr = sound.to_harmonicity_cc().values
    hnr = hnr[hnr > -100]
    cents = 1200 * np.log2(voiced / 440.0) if voiced.size else np.array([])
    return {
        "f0_hz": float(np.median(voiced)) if voiced.size else np.nan,
        "f0_sd_semitones": float(np.std(12 * np.log2(voiced / np.median(voiced)))) if voiced.size > 3 else np.nan,
        "grid_fraction": float(np.mean(np.abs((cents + 50) % 100 - 50) < 15)) if voiced.size > 5 else np.nan,
        "hnr_db": float(np.median(hnr)) if hnr.size else np.nan,
        "voiced_fraction": voiced.size / max(1, f0.size),
    }


def check(voices: Path) -> dict[str, dict]:
    packs = {}
    for pack in sorted(p for p in voices.iterdir() if p.is_dir()):
        rows = [file_features(f) for f in sorted(pack.glob("*.ogg"))]
        if not rows:
            continue
        summary = {k: round(float(np.nanmedian([r[k] for r in rows])), 3) for k in rows[0]}
        summary["files"] = len(rows)
        summary["flagged"] = bool(summary["f0_sd_semitones"] < FLAT_PITCH_SEMITONES
                                  or summary["grid_fraction"] > GRID_FRACTION)
        packs[pack.name] = summary
    return packs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="voice_pack_check", description=__doc__.split("\n\n")[0])
    parser.add_argument("--voices", type=Path, default=VOICES)
    parser.add_argument("--output", type=Path, default=None, help="write the per-pack numbers as JSON")
    args = parser.parse_args(argv)
    if not args.voices.is_dir():
        parser.error(f"{args.voices} not found (apt-get install hedgewars-data)")
    packs = check(args.voices)
    for name, s in packs.items():
        print(f"{name:12s} f0 {s['f0_hz']:6.1f} Hz  f0 sd {s['f0_sd_semitones']:5.2f} st  grid {s['grid_fraction']:.2f}  "
              f"HNR {s['hnr_db']:5.1f} dB  voiced {s['voiced_fraction']:.2f}  {'FLAGGED' if s['flagged'] else ''}")
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(packs, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
