# Steps of the default-model pipeline (reproduce.sh, ablation_seeds.sh); sourced, not run.
# Each step is skipped when its output exists, so an interrupted pipeline continues where it stopped.
# The caller sets WORK (its evaluation folder) and runs from the repository root.

# The control arm (a) of stage 2: configs/demo-stage2.yaml without the LLM-facing losses.
CONTROL_OVERRIDES=(--lambda_bridge 0 --lambda_ftp 0 --lambda_sa_cosine 0 --lambda_sa_contrast 0)

prepare_data() {  # real recorded speech, the synthetic espeak-ng corpus (SA transcripts), the frozen SmolLM2 LM
  [ -f data/recorded/train/metadata.jsonl ] || llmcodec corpus recorded data/recorded
  [ -f data/corpus/train/metadata.jsonl ] || llmcodec corpus build data/corpus --engines espeak-ng --utterances-per-voice 2
  [ -f runs/smollm2-lm/config.json ] || llmcodec lm smollm2 runs/smollm2-lm
}

shipped_model() {  # COMMIT DIR: the default model as that commit shipped it, from the git history
  [ -f "$2/model.safetensors" ] && return 0
  mkdir -p "$2"
  git archive "$1" llmcodec/assets/default-model | tar -x -C "$2" --strip-components 3
}

train_run() {  # CONFIG OUTPUT_DIR LOG_NAME [--key value ...]: llmcodec train configs/CONFIG.yaml on one core, unless exported
  local config=$1 out=$2 log=$3
  shift 3
  [ -f "$out/export/model.safetensors" ] && return 0
  OMP_NUM_THREADS=1 llmcodec train "configs/$config.yaml" --output_dir "$out" "$@" > "$WORK/train-$log.log" 2>&1
}

stage2_arms() {  # SEED OUT_PREFIX: stage 2 arms (b) OUT_PREFIX and (a) OUT_PREFIX-control side by side, one core each
  local seed=$1 out=$2
  train_run demo-stage2 "$out" "stage2-seed$seed" --seed "$seed" & local first=$!
  train_run demo-stage2 "$out-control" "stage2-control-seed$seed" --seed "$seed" "${CONTROL_OVERRIDES[@]}" & local second=$!
  wait $first
  wait $second
}

store_float16() {  # EXPORT_DIR OUT_DIR: the Hub folder as it ships (float16 storage, float32 on load)
  [ -f "$2/model.safetensors" ] || llmcodec convert "$1" "$2" --storage-dtype float16 --overwrite
}

evaluate_model() {  # NAME MODEL [BASELINES_FLAGS]: llmcodec evaluate on data/eval into WORK/eval-NAME
  local name=$1 model=$2 baselines=${3:-}
  [ -f "$WORK/eval-$name/summary.json" ] && return 0
  OMP_NUM_THREADS=1 llmcodec evaluate --model "$model" --data data/eval --output-dir "$WORK/eval-$name" \
      $baselines --num-plots 2 > "$WORK/eval-$name.log" 2>&1
}
