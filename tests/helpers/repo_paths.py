"""The repository root (for tests that read configs, assets or benchmark scripts) and this helpers folder."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
HELPERS_DIR = Path(__file__).resolve().parent
