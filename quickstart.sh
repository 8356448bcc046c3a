#!/usr/bin/env bash
# Quick start, step 1 of 2: install everything (apt packages + .venv), then reconstruct the bundled real-speech
# clip with the bundled default model: prints the codes, the LLM token string and the quality metrics, and
# writes demo-output/arctic_a0007.reconstructed.wav. Step 2 is the test suite: .venv/bin/python -m pytest -q
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/setup.sh
.venv/bin/llmcodec demo "$@"
