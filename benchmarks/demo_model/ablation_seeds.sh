#!/usr/bin/env bash
# The stage-2 ablation: three arms from v7's stage-1 codec (runs/demo-stage1-floor/export), each seed 0, 1, 2:
#   recon-gan   (a) reconstruction + GAN only
#   ftp-sa      (b) + Gumbel bridge, future-token prediction and semantic alignment vs SmolLM2 (configs/demo-stage2.yaml)
#   ftp-strong  (c) as (b) with the future-token prediction weighted 5x (lambda_ftp 1.0 instead of 0.2)
# Update budget: the recipe's codec phase is SGD at 5e-6 for 15,000 steps (learning rate x steps = 0.075) on
# 10 x 4 s crops; every arm here runs SGD at 1.5e-4 for 500 steps (the same 0.075) on 4 x 1.5 s crops, 3,000 s of
# audio against the recipe's 600,000 s. Schedules (mel weight, Gumbel temperature, FTP/SA ramps) are stretched to
# the 500 steps. Each model is stored as float16 like the shipped one and scored on the held-out set (data/heldout).
# The token LMs are ablation_token_lm_real.sh; the table is ablation_report.py. One process at a time (one core);
# each step is skipped when its output exists and an interrupted training continues from its last checkpoint.
# Needs what reproduce.sh prepares: data/recorded, data/corpus, runs/smollm2-lm, runs/demo-stage1-floor/export.
#   bash benchmarks/demo_model/ablation_seeds.sh      # SEEDS="0 1 2", ARMS="recon-gan ftp-sa ftp-strong",
#                                                     # WORK=runs/ablation-v7 by default
set -euo pipefail
cd "$(dirname "$0")/../.."
WORK=${WORK:-runs/ablation-v7}
source benchmarks/demo_model/steps.sh
BUDGET=(--max_steps 500 --lr_total_steps 500 --lr_codec 0.00015 --lambda_mel_steps 500 --tau_steps 500
        --ftp_ramp_steps 125 --sa_ramp_steps 125 --save_steps 50)
mkdir -p "$WORK"
heldout_set
for seed in ${SEEDS:-0 1 2}; do
  for arm in ${ARMS:-recon-gan ftp-sa ftp-strong}; do
    dir=$WORK/seed$seed-$arm
    overrides=(--seed "$seed" --codec_init "$STAGE1_CODEC" "${BUDGET[@]}")
    case $arm in
      recon-gan) overrides+=("${CONTROL_OVERRIDES[@]}") ;;
      ftp-strong) overrides+=(--lambda_ftp 1.0) ;;
    esac
    train_run demo-stage2 "$dir/train" "seed$seed-$arm" "${overrides[@]}"
    store_float16 "$dir/train/export" "$dir/model" > "$WORK/convert-seed$seed-$arm.log" 2>&1
    evaluate_heldout "$dir/model" "$dir/eval"
    echo "seed $seed arm $arm done"
  done
done
