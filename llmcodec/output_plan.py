"""Which outputs a file command (`encode`, `decode`, `reconstruct`) may write, decided before any model loads.

Nothing a user wrote is lost:
- an output that would replace one of the inputs (same path, hard link, case-insensitive twin) fails that
  input, whatever the options;
- an output that already exists, which this run did not write, fails that input unless `--overwrite`
  (replace it) or `--skip-existing` (keep it: an input whose outputs all exist is skipped, and only the
  missing outputs of the others are written);
- two inputs that would write the same output name refuse the command.
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from llmcodec.errors import UserError


@dataclass
class OutputPlan:
    """`todo`: inputs to process; `outputs[input]`: suffix -> path to write; `failures`: (input, reason)."""

    todo: list[Path]
    outputs: dict[Path, dict[str, Path]]
    failures: list[tuple[Path, str]] = field(default_factory=list)
    total: int = 0  # inputs counted in the final "N of M done" line (skipped ones are not)


def prepare_output_dir(out_dir: Path) -> None:
    """Creates `out_dir` and proves it writable now, before a model loads and a first batch runs."""
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"the output folder {out_dir} is a file")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out_dir, prefix=".llmcodec-write-test-"):
            pass
    except OSError as error:
        raise UserError(f"cannot write to the output folder {out_dir}: {error.strerror or error}") from error


def _check_unique_stems(paths: list[Path]) -> None:
    seen: dict[str, Path] = {}
    for path in paths:
        if path.stem in seen:
            raise UserError(f"{seen[path.stem]} and {path} would write the same output name {path.stem!r}")
        seen[path.stem] = path


def _file_identities(path: Path) -> list:
    """The keys under which `path` is the same file as another: its resolved path and, if it exists, its inode."""
    keys: list = [path.resolve()]
    try:
        stat = path.stat()
        keys.append((stat.st_dev, stat.st_ino))  # hard links, case-insensitive file systems
    except OSError:
        pass
    return keys


def plan_outputs(
    inputs: list[str | os.PathLike], out_dir: str | os.PathLike, suffixes: list[str], *,
    overwrite: bool = False, skip_existing: bool = False,
) -> OutputPlan:
    """Plans `out_dir/<input stem><suffix>` for every input and suffix (see the module docstring)."""
    if overwrite and skip_existing:
        raise UserError("--overwrite and --skip-existing contradict each other; choose one")
    paths = [Path(p) for p in inputs]
    _check_unique_stems(paths)
    out_dir = Path(out_dir)
    prepare_output_dir(out_dir)
    planned = {p: {suffix: out_dir / f"{p.stem}{suffix}" for suffix in suffixes} for p in paths}
    identities = {key: path for path in paths for key in _file_identities(path)}
    plan = OutputPlan(todo=[], outputs={}, total=len(paths))
    skipped = 0
    for path in paths:
        outputs = planned[path]
        clash = next(((o, identities[k]) for o in outputs.values() for k in _file_identities(o) if k in identities), None)
        existing = [o for o in outputs.values() if o.exists()]
        if clash is not None:
            plan.failures.append((path, f"writing {clash[0]} would overwrite the input {clash[1]}; choose another --output-dir"))
        elif skip_existing and len(existing) == len(outputs):
            skipped += 1
        elif skip_existing:
            plan.todo.append(path)
            plan.outputs[path] = {suffix: o for suffix, o in outputs.items() if not o.exists()}
        elif existing and not overwrite:
            names = ", ".join(str(o) for o in existing)
            plan.failures.append(
                (path, f"{names} already exist{'s' if len(existing) == 1 else ''}; pass --overwrite to replace, "
                 "or --skip-existing to keep what is there")
            )
        else:
            plan.todo.append(path)
            plan.outputs[path] = outputs
    if skipped:
        plan.total -= skipped
        print(f"skipped {skipped} file(s) whose outputs all exist", file=sys.stderr)
    return plan


def report_failures(failures: list[tuple[Path, str]], total: int) -> int:
    """Prints each failure and the summary line; returns the exit status (1 if any input failed)."""
    for path, message in failures:
        print(f"failed: {path}: {message}", file=sys.stderr)
    print(f"{total - len(failures)} of {total} file(s) done, {len(failures)} failed", file=sys.stderr)
    return 1 if failures else 0
