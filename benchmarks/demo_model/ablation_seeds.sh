#!/usr/bin/env bash
# The stage-2 ablation over seeds: arms (b) recon + GAN + bridge/FTP/SA vs SmolLM2 (configs/demo-stage2.yaml) and
# (a) recon + GAN only (the same without the LLM-facing losses), both from v7's stage-1 codec
# (runs/demo-stage1-floor/export), seeds 0, 1 and 2. Each model is stored as float16 like the shipped one and its
# quality and token stability scored on the held-out set (data/heldout, benchmarks/heldout). Seed 0 of arm (b) is
# the shipped model's stage 2 (runs/demo-stage2-v7, reproduce.sh) when that run exists. The token LMs on real
# speech are ablation_token_lm_real.sh; the table is ablation_report.py. One process at a time (one core), so it can
# run beside another job; each step is skipped when its output exists.
# Needs what reproduce.sh prepares: data/recorded, data/corpus, runs/smollm2-lm, runs/demo-stage1-floor/export.
#   bash benchmarks/demo_model/ablation_seeds.sh      # SEEDS="0 1 2" and WORK=runs/ablation-v7 by default
set -euo pipefail
cd "$(dirname "$0")/../.."
WORK=${WORK:-runs/ablation-v7}
source benchmarks/demo_model/steps.sh
mkdir -p "$WORK"
heldout_set
for seed in ${SEEDS:-0 1 2}; do
  for arm in ftp-sa recon-gan; do
    dir=$WORK/seed$seed-$arm
    run=$dir/train
    overrides=(--seed "$seed" --codec_init "$STAGE1_CODEC")
    [ "$arm" = recon-gan ] && overrides+=("${CONTROL_OVERRIDES[@]}")
    if [ "$seed-$arm" = 0-ftp-sa ] && [ -f runs/demo-stage2-v7/export/model.safetensors ]; then
      run=runs/demo-stage2-v7  # the same command: configs/demo-stage2.yaml (seed 0) from the same stage-1 codec
    fi
    train_run demo-stage2 "$run" "seed$seed-$arm" "${overrides[@]}"
    store_float16 "$run/export" "$dir/model" > "$WORK/convert-seed$seed-$arm.log" 2>&1
    evaluate_heldout "$dir/model" "$dir/eval"
    echo "seed $seed arm $arm done"
  done
done
