"""Shared pytest setup: the opt-in `slow` marker, a small thread count for the 2-core CI machine, and
`tests/helpers` on `sys.path` so every test folder imports the shared helpers by name (`from codec_testing import ...`)."""

import os
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent / "helpers"))


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="run tests marked slow")


def pytest_configure(config):
    # At most 2 threads (the CI machine has 2 cores); fewer when OMP_NUM_THREADS asks for fewer (a shared machine).
    requested = os.environ.get("OMP_NUM_THREADS", "")
    limit = int(requested) if requested.isdigit() and int(requested) > 0 else 2
    torch.set_num_threads(min(limit, 2, os.cpu_count() or 1))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow") or os.environ.get("LLMCODEC_RUN_SLOW") == "1":
        return
    skip_slow = pytest.mark.skip(reason="slow check: opt in with --runslow or LLMCODEC_RUN_SLOW=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)
