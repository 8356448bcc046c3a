#!/usr/bin/env bash
# Reproduces the bundled default model (llmcodec/assets/default-model) and its measurements (issue 6) on a
# 2-core CPU, in about two hours:
#   1. stage 1: a compact LLM-Codec from scratch, reconstruction only      (configs/demo-small-stage1.yaml)
#   2. stage 2, side by side from the stage-1 codec, for the same steps (one core each):
#        (b) + GAN + bridge + FTP + SA vs a small frozen Qwen3-vocabulary LM  (configs/demo-small-stage2-ftp-sa.yaml)
#        (a) + GAN only, the ablation's control arm                          (configs/demo-small-stage2-recon-gan.yaml)
#   3. both arms stored as float16 Hub folders (what ships; the weights upcast to float32 on load)
#   4. quality of both on held-out voices and real speech, beside Codec2 700C / 1200 / 3200 (llmcodec evaluate)
#   5. the token-learnability ablation: the same small token LM trained on each arm's codes of the held-out
#      corpus (llmcodec token-lm)
#   6. results tables, plots and the model card (benchmarks/demo_model/report.py), then (b) is installed as the
#      default model.
# Each step is skipped when its output exists, so an interrupted run continues where it stopped
# (`llmcodec train ... --resume` continues a stage from its last checkpoint).
# Run it from the repository root with the project's environment active (bash scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
WORK=runs/demo-model-eval
mkdir -p "$WORK"

[ -d data/corpus/train ] || llmcodec corpus build data/corpus --workers 2
[ -f runs/demo-small-stage1/export/model.safetensors ] || llmcodec train configs/demo-small-stage1.yaml

train_arm() {  # one core per arm
  local arm=$1
  [ -f "runs/demo-small-stage2-$arm/export/model.safetensors" ] && return 0
  OMP_NUM_THREADS=1 llmcodec train "configs/demo-small-stage2-$arm.yaml" > "$WORK/train-$arm.log" 2>&1
}
train_arm ftp-sa & pid_b=$!
train_arm recon-gan & pid_a=$!
wait $pid_b
wait $pid_a

for arm in ftp-sa recon-gan; do
  [ -f "$WORK/model-$arm/model.safetensors" ] || llmcodec convert "runs/demo-small-stage2-$arm/export" \
      "$WORK/model-$arm" --storage-dtype float16 --overwrite
done

python benchmarks/demo_model/build_eval_set.py data/eval
evaluate_arm() {
  local arm=$1 baselines=$2
  [ -f "$WORK/eval-$arm/summary.json" ] && return 0
  OMP_NUM_THREADS=1 llmcodec evaluate --model "$WORK/model-$arm" --data data/eval --output "$WORK/eval-$arm" \
      $baselines --num-plots 4 > "$WORK/eval-$arm.log" 2>&1
}
token_lm_arm() {
  local arm=$1
  [ -f "$WORK/token-lm-$arm/token_lm.json" ] && return 0
  OMP_NUM_THREADS=1 llmcodec token-lm --codec "$WORK/model-$arm" --data data/corpus/validation \
      --output "$WORK/token-lm-$arm" --epochs 10 --seed 0 > "$WORK/token-lm-$arm.log" 2>&1
}
{ evaluate_arm ftp-sa "--baselines codec2_700C,codec2_1200,codec2_3200" && token_lm_arm ftp-sa; } & pid_b=$!
{ evaluate_arm recon-gan "" && token_lm_arm recon-gan; } & pid_a=$!
wait $pid_b
wait $pid_a

python benchmarks/demo_model/report.py --work "$WORK" --out benchmarks/demo_model/results
llmcodec convert "runs/demo-small-stage2-ftp-sa/export" llmcodec/assets/default-model --storage-dtype float16 \
    --card-extra benchmarks/demo_model/results/model-card.md --overwrite
