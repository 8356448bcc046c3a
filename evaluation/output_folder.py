"""A resumable output folder: append-only JSON-lines logs and the record of what produced them.

``llmcodec evaluate`` (and ``token-lm``'s code cache) append each result to a JSON-lines file as it is made, so
an interrupted run resumes where it stopped (:class:`JsonlLog`). ``OUT/run.json`` records what the rows depend
on (the model's path and weights hash, the metric and coding options); a rerun into the same folder with
another model or other options is refused in one line instead of mixing two evaluations (:func:`check_resume`).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

RUN_FILENAME = "run.json"


def printable(text: str) -> str:
    """``text`` that any UTF-8 file can hold: undecodable bytes of a file name (lone surrogates) shown as ``\\xNN``."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        try:
            return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        except UnicodeEncodeError:
            return text.encode("utf-8", "backslashreplace").decode("utf-8")


def json_ready(value: Any) -> Any:
    """``value`` with NaN/Inf as None, numpy scalars as Python numbers and strings printable (strict UTF-8 JSON)."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {printable(k) if isinstance(k, str) else k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        return json_ready(value.item())
    return value


def write_json(path: str | os.PathLike, value: Any) -> Path:
    """``value`` as indented strict JSON, written atomically."""
    from llmcodec.audio import save_text

    return save_text(path, json.dumps(json_ready(value), indent=2, allow_nan=False) + "\n")


class JsonlLog:
    """An append-only JSON-lines file: each record is one ``write`` of a full line, flushed and fsynced.

    On open, a torn last line (no trailing newline, e.g. after a kill) is cut off so the file stays valid.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            data = self.path.read_bytes()
            if data and not data.endswith(b"\n"):
                with open(self.path, "r+b") as handle:
                    handle.truncate(data.rfind(b"\n") + 1)

    def read(self) -> list[dict[str, Any]]:
        """All complete records (lines that fail to parse are skipped)."""
        if not self.path.exists():
            return []
        records = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return records

    def append(self, records: Sequence[dict[str, Any]]) -> None:
        if not records:
            return
        # The text is fully encoded before the file is opened: a record that cannot be written adds nothing.
        data = "".join(json.dumps(json_ready(r), ensure_ascii=False, allow_nan=False) + "\n" for r in records).encode()
        with open(self.path, "ab") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())


def weights_sha256(model: Any) -> str:
    """SHA-256 over the model's state dict (names, dtypes, shapes and bytes, sorted by name): its identity."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def check_resume(out: Path, identity: dict[str, Any], has_rows: bool) -> None:
    """Record ``identity`` in ``out/run.json``, or refuse (``UserError``, one line) to resume rows it did not make.

    ``identity``: ``{"model": {"path", "weights_sha256"}, ...options}``. The model path may differ (a copied
    folder); the weights hash and every other entry must not.
    """
    from llmcodec.errors import UserError

    path = out / RUN_FILENAME
    if not path.is_file():
        if has_rows:
            raise UserError(f"{out} holds evaluation rows without a record of their model and options ({RUN_FILENAME}); "
                            "choose another output folder")
        write_json(path, identity)
        return
    recorded = json.loads(path.read_text(encoding="utf-8"))
    differences = []
    there_model, now_model = recorded.get("model") or {}, identity["model"]
    if there_model.get("weights_sha256") != now_model["weights_sha256"]:
        differences.append(f"model {there_model.get('path')} (weights sha256 {str(there_model.get('weights_sha256'))[:12]}) "
                           f"there, {now_model['path']} (weights sha256 {now_model['weights_sha256'][:12]}) now")
    for key in sorted(set(identity) - {"model"}):
        there, now = recorded.get(key), json_ready(identity[key])
        if there != now:
            if isinstance(there, dict) and isinstance(now, dict):  # name only the options that differ
                there, now = ({k: d.get(k) for k in sorted(set(there) | set(now)) if there.get(k) != now.get(k)}
                              for d in (there, now))
            differences.append(f"{key} {there} there, {now} now")
    if differences:
        raise UserError(f"{out} holds an evaluation with other settings ({'; '.join(differences)}); "
                        "choose another output folder to keep both, or remove it to start over")
