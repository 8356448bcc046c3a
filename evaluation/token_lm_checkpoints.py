"""Resumable token-LM training: each seed trains in its own ``transformers.Trainer`` folder
(``OUT/trainer/seed{N}``), which the Trainer fills with ``checkpoint-<step>`` folders; this module decides which of
them a rerun may resume from.

A folder records the run it was written for (``run_identity.json``: the seed and the identity string of the
codes, LM recipe and warm start that ``run_seed`` compares). Only a folder of the same run is resumed, from its
newest complete checkpoint; a folder of another run loses its ``checkpoint-*`` folders (nothing else) and the seed
starts afresh. The state itself is saved and restored by the Trainer (``save_strategy="steps"``,
``resume_from_checkpoint``)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from .output_folder import write_json

IDENTITY_FILE = "run_identity.json"
# The Trainer writes trainer_state.json last in a checkpoint (after weights, optimizer, scheduler, RNG states),
# so a checkpoint whose state file parses was written whole.
STATE_FILE = "trainer_state.json"
_CHECKPOINT = re.compile(r"checkpoint-(\d+)")


def checkpoint_step(folder: Path) -> int | None:
    """The optimizer step of a ``checkpoint-<step>`` folder (None for any other name)."""
    match = _CHECKPOINT.fullmatch(folder.name)
    return int(match.group(1)) if match and folder.is_dir() else None


def checkpoints(folder: Path) -> list[Path]:
    """The ``checkpoint-<step>`` folders in ``folder``, oldest step first."""
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if checkpoint_step(p) is not None), key=checkpoint_step)


def is_complete(checkpoint: Path) -> bool:
    """Whether the Trainer finished writing ``checkpoint`` (its state file parses and names the same step)."""
    try:
        state = json.loads((checkpoint / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(state, dict) and state.get("global_step") == checkpoint_step(checkpoint)


def remove_checkpoints(folder: Path) -> None:
    """Delete the ``checkpoint-*`` folders in ``folder`` (and only those)."""
    for checkpoint in checkpoints(folder):
        shutil.rmtree(checkpoint)


def resume_point(folder: Path, identity: str, seed: int) -> Path | None:
    """The checkpoint a seed's training resumes from, or None to start at step 0; readies ``folder`` for the run.

    A folder written for another run (or with no ``run_identity.json``) has its checkpoints removed; one of
    this run keeps its newest complete checkpoint (incomplete ones, torn by a kill mid-save, are removed so the
    Trainer's rotation never keeps them over a good one). ``run_identity.json`` then names this run.
    """
    wanted = {"identity": identity, "seed": seed}
    try:
        stored = json.loads((folder / IDENTITY_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        stored = None
    if stored != wanted:
        remove_checkpoints(folder)
        write_json(folder / IDENTITY_FILE, wanted)
        return None
    found = checkpoints(folder)
    for torn in (p for p in found if not is_complete(p)):
        shutil.rmtree(torn)
    complete = [p for p in found if p.is_dir()]
    return complete[-1] if complete else None
