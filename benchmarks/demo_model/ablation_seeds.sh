#!/usr/bin/env bash
# The miniature ablation with more seeds: stage 2 arms (b) bridge + FTP + SA vs SmolLM2 and (a) GAN only, from the
# same stage-1 codec, trained again with seeds 1 and 2 (seed 0 is reproduce.sh's run), each stored as float16 like
# the shipped model and its quality and token stability scored on the real evaluation speech (data/eval). The
# real-speech token LM is ablation_token_lm_real.sh. One process at a time (one core), so it can run beside another
# job; each step is skipped when its output exists. Then: python benchmarks/demo_model/ablation_report.py
# Needs what reproduce.sh prepares (data, runs/smollm2-lm, runs/demo-stage1/export, data/eval).
set -euo pipefail
cd "$(dirname "$0")/../.."
WORK=${WORK:-runs/demo-model-eval}
source benchmarks/demo_model/steps.sh
mkdir -p "$WORK/ablation"
for seed in ${SEEDS:-1 2}; do
  for arm in ftp-sa recon-gan; do
    run=runs/ablation/seed$seed-$arm
    overrides=(--seed "$seed")
    [ "$arm" = recon-gan ] && overrides+=("${CONTROL_OVERRIDES[@]}")
    WORK=$WORK/ablation train_run demo-stage2 "$run" "seed$seed-$arm" "${overrides[@]}"
    model=$WORK/ablation/seed$seed-$arm/model
    store_float16 "$run/export" "$model" > "$WORK/ablation/convert-seed$seed-$arm.log" 2>&1
    [ -f "$WORK/ablation/seed$seed-$arm/eval/summary.json" ] || OMP_NUM_THREADS=1 llmcodec evaluate --model "$model" \
        --data data/eval --output-dir "$WORK/ablation/seed$seed-$arm/eval" --num-plots 0 \
        > "$WORK/ablation/eval-seed$seed-$arm.log" 2>&1
    echo "seed $seed arm $arm done"
  done
done
