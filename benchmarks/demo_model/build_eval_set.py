"""Builds the evaluation set of the default model as a folder tree for `llmcodec evaluate`.

    python benchmarks/demo_model/build_eval_set.py data/eval [--corpus data/corpus] [--recorded data/recorded]

- ``heldout-voices/``: the first utterance (sorted by name) of every voice in the corpus' validation split,
  whose speakers (timbre groups) are held out of training (`llmcodec corpus build --validation-speakers`).
  Skipped (with a note) when the synthetic corpus has not been built.
- ``real-speech/``: real recordings, never seen in training: the bundled CMU ARCTIC clip and the eight spoken
  ALSA test clips ("Front Center" …) from Debian's ``alsa-utils`` (``/usr/share/sounds/alsa``; its
  ``Noise.wav`` is not speech and is left out).
- ``heldout-real/``: a real speaker never trained on: 24 prompts (evenly spaced by name) of the recorded corpus'
  validation split (`llmcodec corpus recorded`: the Russian asterisk voice, CC-BY-SA-3.0).

Files are symlinked (the folder is a view, nothing is copied); rerunning replaces the tree.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from speech_clips import ALSA_SOUNDS, ALSA_SPEECH, EXAMPLE_CLIP, REPO  # noqa: E402


def heldout_voice_files(corpus: Path) -> list[Path]:
    validation = corpus / "validation"
    if not validation.is_dir():
        raise SystemExit(f"error: {validation} not found; build the corpus first: llmcodec corpus build {corpus}")
    files = []
    for voice in sorted(p for p in validation.iterdir() if p.is_dir()):
        wavs = sorted(voice.glob("*.wav"))
        if wavs:
            files.append(wavs[0])
    if not files:
        raise SystemExit(f"error: no .wav files under {validation}")
    return files


def heldout_real_files(recorded: Path, n: int = 24) -> list[Path]:
    import json

    meta = recorded / "validation" / "metadata.jsonl"
    if not meta.is_file():
        raise SystemExit(f"error: {meta} not found; collect it first: llmcodec corpus recorded {recorded}")
    rows = sorted(json.loads(line)["file_name"] for line in meta.read_text().splitlines() if line.strip())
    step = max(1, len(rows) // n)
    return [recorded / "validation" / name for name in rows[::step][:n]]


def real_speech_files() -> list[Path]:
    missing = [name for name in ALSA_SPEECH if not (ALSA_SOUNDS / f"{name}.wav").is_file()]
    if missing:
        raise SystemExit(
            f"error: {ALSA_SOUNDS} lacks {', '.join(missing)}.wav; install Debian's alsa-utils "
            "(scripts/setup.sh does)"
        )
    return [EXAMPLE_CLIP] + [ALSA_SOUNDS / f"{name}.wav" for name in ALSA_SPEECH]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", type=Path)
    parser.add_argument("--corpus", type=Path, default=REPO / "data" / "corpus")
    parser.add_argument("--recorded", type=Path, default=REPO / "data" / "recorded")
    args = parser.parse_args(argv)

    groups = {"real-speech": real_speech_files(), "heldout-real": heldout_real_files(args.recorded)}
    if (args.corpus / "validation").is_dir():
        groups["heldout-voices"] = heldout_voice_files(args.corpus)
    else:
        print(f"note: no synthetic corpus at {args.corpus}: the heldout-voices group is left out")
    if args.output.exists():
        shutil.rmtree(args.output)
    for group, files in groups.items():
        folder = args.output / group
        folder.mkdir(parents=True)
        for source in files:
            name = f"{source.parent.name}_{source.name}" if group == "real-speech" else source.name
            (folder / name).symlink_to(source.resolve())
        print(f"{group}: {len(files)} files -> {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
