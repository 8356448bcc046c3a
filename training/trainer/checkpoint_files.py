"""The files of an LLM-Codec training checkpoint, and what makes a checkpoint (or an output folder) usable.

A checkpoint ``output_dir/checkpoint-N/`` is written into a hidden staging folder and renamed into place when
every file is there (``CheckpointMixin._save_checkpoint``), so a ``checkpoint-N`` folder is complete unless it
came from an older version or was damaged later; :func:`checkpoint_problem` says which file is missing or
unreadable in one line.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import zipfile

STATE_FILE = "training_state.safetensors"
DISC_FILE = "discriminator.safetensors"
DISC_OPT_FILE = "discriminator_optimizer.pt"
EXTRAS_FILE = "llmcodec_trainer.json"
TRAINER_FILES = ("optimizer.pt", "scheduler.pt", "trainer_state.json")  # written by transformers.Trainer
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def checkpoints_in(output_dir: str) -> list[str]:
    """The ``checkpoint-N`` folders of ``output_dir``, newest (highest N) first."""
    if not os.path.isdir(output_dir):
        return []
    found = [(int(m.group(1)), name) for name in os.listdir(output_dir)
             if (m := _CHECKPOINT.match(name)) and os.path.isdir(os.path.join(output_dir, name))]
    return [os.path.join(output_dir, name) for _, name in sorted(found, reverse=True)]


def required_files(folder: str, gan: bool, rng: bool) -> list[str]:
    """The files resuming from ``folder`` reads (``rng``: one ``rng_state*.pth``, the first one present)."""
    files = [STATE_FILE, *TRAINER_FILES, EXTRAS_FILE]
    if gan:
        files += [DISC_FILE, DISC_OPT_FILE]
    if rng:
        present = sorted(n for n in os.listdir(folder) if n.startswith("rng_state") and n.endswith(".pth")) \
            if os.path.isdir(folder) else []
        files.append(present[0] if present else "rng_state.pth")
    return files


def checkpoint_problem(folder: str, gan: bool = True, rng: bool = True) -> str | None:
    """None for a complete, readable checkpoint; else one sentence naming the missing or damaged file."""
    if not os.path.isdir(folder):
        return f"{folder} is not a folder"
    for name in required_files(folder, gan, rng):
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            return f"{path} is missing (an incomplete checkpoint)"
        problem = _file_problem(path)
        if problem:
            return f"{path} is damaged ({problem})"
    return None


def _file_problem(path: str) -> str | None:
    """A cheap integrity check by format: the safetensors header and size, the zip directory and CRCs of a
    ``torch.save`` file, JSON syntax."""
    try:
        if path.endswith(".safetensors"):
            return _safetensors_problem(path)
        if path.endswith((".pt", ".pth")):
            with zipfile.ZipFile(path) as archive:
                bad = archive.testzip()
            return f"its entry {bad} fails its checksum" if bad else None
        if path.endswith(".json"):
            with open(path, encoding="utf-8") as fh:
                json.load(fh)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        return f"{type(error).__name__}: {' '.join(str(error).split())[:200]}"
    return None


def _safetensors_problem(path: str) -> str | None:
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            return "shorter than a safetensors header"
        length = struct.unpack("<Q", head)[0]
        if length > size - 8:
            return "truncated: its header runs past the end of the file"
        header = json.loads(fh.read(length))
    end = max((entry["data_offsets"][1] for key, entry in header.items() if key != "__metadata__"), default=0)
    if 8 + length + end != size:
        return f"truncated: {size} bytes where its header describes {8 + length + end}"
    return None


def latest_complete_checkpoint(output_dir: str, gan: bool, rng: bool) -> tuple[str | None, list[str]]:
    """``(the newest complete checkpoint of output_dir or None, why each newer one was skipped)``."""
    skipped = []
    for folder in checkpoints_in(output_dir):
        problem = checkpoint_problem(folder, gan, rng)
        if problem is None:
            return folder, skipped
        skipped.append(problem)
    return None, skipped


def previous_run_outputs(output_dir: str) -> list[str]:
    """What a fresh run into ``output_dir`` would mix with: its ``checkpoint-N`` folders and ``export/``."""
    export = os.path.join(output_dir, "export")
    has_export = os.path.isdir(export) and bool(os.listdir(export))
    return checkpoints_in(output_dir) + ([export] if has_export else [])


def refuse_previous_run(output_dir: str, overwrite: bool) -> list[str]:
    """What a fresh run into ``output_dir`` replaces (``previous_run_outputs``); raises ``TrainingSetupError`` when
    there is any and ``overwrite`` (``overwrite_output_dir``) is not set: a fresh run would overwrite the previous
    run's early checkpoints and export but keep its later ones, and a later resume would continue a mixed folder."""
    from llmcodec.training.trainer.errors import TrainingSetupError

    previous = previous_run_outputs(output_dir)
    if previous and not overwrite:
        names = ", ".join(os.path.basename(p) for p in previous[:3]) + (" ..." if len(previous) > 3 else "")
        raise TrainingSetupError(
            f"{output_dir} holds a previous run ({names}); continue it with --resume, start over with "
            "--overwrite_output_dir (deletes its checkpoints and export), or choose another output_dir")
    return previous


def remove_previous_run(output_dir: str) -> list[str]:
    """Delete the previous run's checkpoints and export (``overwrite_output_dir``); returns what was deleted."""
    removed = previous_run_outputs(output_dir)
    for path in removed:
        shutil.rmtree(path)
    for name in os.listdir(output_dir) if os.path.isdir(output_dir) else []:
        if name.startswith(".checkpoint-") and name.endswith(".incomplete"):  # an interrupted save
            shutil.rmtree(os.path.join(output_dir, name), ignore_errors=True)
    return removed
