#!/usr/bin/env bash
# One-GPU check of the real-scale numbers, sized to finish in under 8 minutes on one GPU (not run on a GPU yet).
#   bash benchmarks/gpu_check.sh              # on a GPU machine
#   bash benchmarks/gpu_check.sh --cpu-smoke  # seconds-to-minutes on CPU: the same steps at toy sizes
# 1. encode/decode RTF of the released-size codec (random weights), fp32 and bf16 autocast, code agreement;
# 2. the recipe training step (benchmarks/bench_training_step.py --recipe): time breakdown and peak memory
#    with a 2-layer and, if it fits, the 36-layer Qwen3-4B-shaped random LM.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
SMOKE=0
[[ "${1:-}" == "--cpu-smoke" ]] && SMOKE=1
if [[ $SMOKE == 0 ]] && ! "$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)'; then
  echo "no CUDA device: run with --cpu-smoke for a CPU smoke run" >&2; exit 2
fi
SECONDS_AUDIO=$([[ $SMOKE == 1 ]] && echo 1 || echo 30)
echo "== 1. codec encode/decode RTF (released size, ${SECONDS_AUDIO} s of audio)"
timeout 180 "$PY" - "$SECONDS_AUDIO" "$SMOKE" <<'PY'
import sys, time, torch
from llmcodec.modeling import LLMCodecConfig, LLMCodecModel
seconds, smoke = float(sys.argv[1]), sys.argv[2] == "1"
dev = "cuda" if torch.cuda.is_available() and not smoke else "cpu"
torch.manual_seed(0)
cfg = LLMCodecConfig() if not smoke else LLMCodecConfig(hidden_size=64, encoder_num_layers=1, decoder_num_layers=1,
                                                         num_attention_heads=2, head_dim=32)
model = LLMCodecModel(cfg).to(dev).eval()
wav = (torch.randn(1, 1, int(seconds * 16000), device=dev) * 0.1)
def run(dtype):
    with torch.inference_mode(), torch.autocast(dev, dtype=torch.bfloat16, enabled=dtype == "bf16"):
        codes = model.encode(wav).audio_codes
        if dev == "cuda": torch.cuda.synchronize()
        t0 = time.perf_counter(); codes = model.encode(wav).audio_codes
        if dev == "cuda": torch.cuda.synchronize()
        t1 = time.perf_counter(); model.decode(codes)
        if dev == "cuda": torch.cuda.synchronize()
        t2 = time.perf_counter()
    return codes, (t1 - t0) / seconds, (t2 - t1) / seconds
c32, e32, d32 = run("fp32"); c16, e16, d16 = run("bf16")
print(f"device {dev}: fp32 encode RTF {e32:.5f} decode RTF {d32:.5f}; bf16 encode RTF {e16:.5f} decode RTF {d16:.5f}; "
      f"bf16 codes equal to fp32: {(c32 == c16).float().mean().item():.4f}")
PY
if [[ $SMOKE == 1 ]]; then
  STEP=(--recipe --lm-layers 2 --steps 1 --repeats 1 --segment_seconds 0.5 --threads 1)  # SA needs >= 2 layers
  echo "== 2. recipe step (smoke: 2 LM layers, 0.5 s crops)"
  timeout 900 "$PY" benchmarks/bench_training_step.py "${STEP[@]}"
  exit 0
fi
echo "== 2a. recipe step, 2 LM layers"
timeout 150 "$PY" benchmarks/bench_training_step.py --recipe --lm-layers 2 --steps 3 --repeats 3
echo "== 2b. recipe step, 36 LM layers (the real depth), if memory allows"
timeout 150 "$PY" benchmarks/bench_training_step.py --recipe --lm-layers 36 --steps 2 --repeats 2 \
  || echo "36 layers did not finish (out of memory or over 150 s); see the output above"
