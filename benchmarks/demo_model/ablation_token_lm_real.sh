#!/usr/bin/env bash
# Token learnability of every stage-2 ablation arm (ablation_seeds.sh, same WORK): first how many frames each arm
# codes differently from arm (a) recon-gan of the same seed on the held-out set (llmcodec code-agreement), then the
# warm-started token LM of benchmarks/learnability on data/learnability (2.06 M training codes of recorded and
# synthetic speech; held-out speakers only in validation/), seeds 0, 1, 2 of the LM per arm model. Resumable: codes
# are cached per codec, the LM checkpoints every 25 steps and a finished seed is reused; each step is skipped when
# its output exists. One process at a time (a lock folder keeps a second copy off the same step).
#   bash benchmarks/demo_model/ablation_token_lm_real.sh     # WORK=runs/ablation-v7, SEEDS="0 1 2" (arm seeds)
set -euo pipefail
cd "$(dirname "$0")/../.."
WORK=${WORK:-runs/ablation-v7}
export OMP_NUM_THREADS=1
[ -f data/learnability/.complete ] || { echo "data/learnability is missing: bash benchmarks/learnability/build_learnability_set.sh" >&2; exit 2; }
locked() {  # OUT COMMAND...: run COMMAND unless OUT's lock is held by another copy
  local out=$1; shift
  mkdir "$out.lock" 2>/dev/null || return 0
  "$@" > "$out.log" 2>&1 || { rmdir "$out.lock"; return 1; }
  rmdir "$out.lock"
}
for seed in ${SEEDS:-0 1 2}; do
  control=$WORK/seed$seed-recon-gan/model
  for arm in ${ARMS:-recon-gan ftp-sa ftp-strong}; do
    dir=$WORK/seed$seed-$arm
    [ -f "$dir/model/model.safetensors" ] || continue
    if [ "$arm" != recon-gan ] && [ -f "$control/model.safetensors" ] && [ ! -f "$dir/agreement/code_agreement.json" ]; then
      locked "$dir/agreement" llmcodec code-agreement --model "$control" --other "$dir/model" --data data/heldout \
          --output-dir "$dir/agreement"
    fi
    [ -f "$dir/token-lm-real/token_lm.json" ] || locked "$dir/token-lm-real" llmcodec token-lm --model "$dir/model" \
        --data data/learnability --output-dir "$dir/token-lm-real" --init-lm runs/smollm2-lm --init-layers 2 \
        --vocab replace --init-rows fresh --epochs 1 --seeds 0,1,2 --save-steps 25 --paired-tests --paired-seconds 3
  done
done
