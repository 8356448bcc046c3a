#!/usr/bin/env bash
# The miniature ablation with more seeds (issue 10): stage 2 arms (b) bridge + FTP + SA vs SmolLM2 and (a) GAN only,
# from the same stage-1 codec, trained again with seeds 1 and 2 (seed 0 is the reproduce script's run), each arm then
# stored as float16 like the shipped model and its quality and token stability scored on the real evaluation speech;
# with SYNTHETIC_TOKEN_LM=1 (v2's default) also its codes learned by the token LM on the small synthetic corpus (the
# real-speech token LM is ablation_token_lm_real.sh). One process at a time (one core), so it can run beside a
# training run; each step is skipped when its output exists. Then:
#   python benchmarks/demo_model/ablation_report.py --work WORK --out OUT
# The version is set by the environment (defaults: v2, as reproduce_v2.sh ran it):
#   CONFIGS  stage-2 config prefix: configs/$CONFIGS-{ftp-sa,recon-gan}.yaml     (demo-small-stage2)
#   WORK     the version's evaluation folder; seeds land in WORK/ablation/        (runs/demo-model-eval)
#   RUNS     the training runs' folder                                            (runs/ablation)
#   BASE     the stage-1 codec both arms start from, passed as --codec_init      (the configs' own codec_init)
#   EVAL     the evaluation set                                                   (data/eval-v2)
# Needs what the reproduce script needs (data/recorded, data/corpus, runs/smollm2-lm, the stage-1 export) and the
# evaluation set (python benchmarks/demo_model/build_eval_set.py EVAL).
set -euo pipefail
cd "$(dirname "$0")/../.."
CONFIGS=${CONFIGS:-demo-small-stage2}
WORK=${WORK:-runs/demo-model-eval}/ablation
RUNS=${RUNS:-runs/ablation}
EVAL=${EVAL:-data/eval-v2}
SYNTHETIC_TOKEN_LM=${SYNTHETIC_TOKEN_LM:-1}
init=()
[ -n "${BASE:-}" ] && init=(--codec_init "$BASE")
mkdir -p "$WORK"
for seed in ${SEEDS:-1 2}; do
  for arm in ftp-sa recon-gan; do
    run=$RUNS/seed$seed-$arm
    [ -f "$run/export/model.safetensors" ] || OMP_NUM_THREADS=1 llmcodec train "configs/$CONFIGS-$arm.yaml" \
        --seed "$seed" --output_dir "$run" "${init[@]}" > "$WORK/train-seed$seed-$arm.log" 2>&1
    model=$WORK/seed$seed-$arm/model
    [ -f "$model/model.safetensors" ] || llmcodec convert "$run/export" "$model" --storage-dtype float16 --overwrite \
        > "$WORK/convert-seed$seed-$arm.log" 2>&1
    [ "$SYNTHETIC_TOKEN_LM" = 1 ] && [ ! -f "$WORK/seed$seed-$arm/token-lm/token_lm.json" ] && \
      OMP_NUM_THREADS=1 llmcodec token-lm --codec "$model" \
        --data data/corpus/validation --output "$WORK/seed$seed-$arm/token-lm" --epochs 10 --seed "$seed" \
        > "$WORK/token-lm-seed$seed-$arm.log" 2>&1
    [ -f "$WORK/seed$seed-$arm/eval/summary.json" ] || OMP_NUM_THREADS=1 llmcodec evaluate --model "$model" \
        --data "$EVAL" --output "$WORK/seed$seed-$arm/eval" --num-plots 0 > "$WORK/eval-seed$seed-$arm.log" 2>&1
    echo "seed $seed arm $arm done"
  done
done
