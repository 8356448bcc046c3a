#!/usr/bin/env bash
# The miniature ablation with more seeds (issue 10): stage 2 arms (b) bridge + FTP + SA vs SmolLM2 and (a) GAN only,
# from the same stage-1 v2 codec, trained again with seeds 1 and 2 (seed 0 is reproduce_v2.sh's run), each arm then
# stored as float16 like the shipped model, its codes learned by the same token LM (seed = the arm's seed) and
# its quality and token stability scored on the real evaluation speech. One process at a time (one core), so it
# can run beside a training run; each step is skipped when its output exists. Then:
#   python benchmarks/demo_model/ablation_report.py --out benchmarks/demo_model/results
# Needs what reproduce_v2.sh needs (data/recorded, data/corpus, runs/smollm2-lm, the stage-1 v2 export) and the
# evaluation set (python benchmarks/demo_model/build_eval_set.py data/eval-v2).
set -euo pipefail
cd "$(dirname "$0")/../.."
WORK=runs/demo-model-eval/ablation
EVAL=${EVAL:-data/eval-v2}
mkdir -p "$WORK"
for seed in ${SEEDS:-1 2}; do
  for arm in ftp-sa recon-gan; do
    run=runs/ablation/seed$seed-$arm
    [ -f "$run/export/model.safetensors" ] || OMP_NUM_THREADS=1 llmcodec train "configs/demo-small-stage2-$arm.yaml" \
        --seed "$seed" --output_dir "$run" > "$WORK/train-seed$seed-$arm.log" 2>&1
    model=$WORK/seed$seed-$arm/model
    [ -f "$model/model.safetensors" ] || llmcodec convert "$run/export" "$model" --storage-dtype float16 --overwrite \
        > "$WORK/convert-seed$seed-$arm.log" 2>&1
    [ -f "$WORK/seed$seed-$arm/token-lm/token_lm.json" ] || OMP_NUM_THREADS=1 llmcodec token-lm --codec "$model" \
        --data data/corpus/validation --output "$WORK/seed$seed-$arm/token-lm" --epochs 10 --seed "$seed" \
        > "$WORK/token-lm-seed$seed-$arm.log" 2>&1
    [ -f "$WORK/seed$seed-$arm/eval/summary.json" ] || OMP_NUM_THREADS=1 llmcodec evaluate --model "$model" \
        --data "$EVAL" --output "$WORK/seed$seed-$arm/eval" --num-plots 0 > "$WORK/eval-seed$seed-$arm.log" 2>&1
    echo "seed $seed arm $arm done"
  done
done
