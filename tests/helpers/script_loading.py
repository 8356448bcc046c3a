"""Benchmark scripts are files, not packages: tests import them by path (``load_script("benchmarks/x/y.py")``)."""

from __future__ import annotations

import importlib.util
from types import ModuleType

from repo_paths import REPO_ROOT


def load_script(relative_path: str) -> ModuleType:
    """The module of the script at ``REPO_ROOT / relative_path``, executed once per call."""
    path = REPO_ROOT / relative_path
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
