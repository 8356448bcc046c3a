# Steps of the default-model pipeline (reproduce.sh) and the stage-2 ablation (ablation_seeds.sh); sourced, not run.
# Each step is skipped when its output exists, so an interrupted pipeline continues where it stopped.
# The caller sets WORK (its evaluation folder) and runs from the repository root.

# The stage-1 codec every stage-2 arm starts from: stage 1c of the default model v7.
STAGE1_CODEC=runs/demo-stage1-floor/export
# The control arm (a) of stage 2: configs/demo-stage2.yaml without the LLM-facing losses.
CONTROL_OVERRIDES=(--lambda_bridge 0 --lambda_ftp 0 --lambda_sa_cosine 0 --lambda_sa_contrast 0)

prepare_data() {  # real recorded speech, the synthetic espeak-ng corpus (SA transcripts), the frozen SmolLM2 LM
  [ -f data/recorded/train/metadata.jsonl ] || llmcodec corpus recorded data/recorded
  [ -f data/corpus/train/metadata.jsonl ] || llmcodec corpus build data/corpus --engines espeak-ng --utterances-per-voice 2
  [ -f runs/smollm2-lm/config.json ] || llmcodec lm smollm2 runs/smollm2-lm
}

heldout_set() {  # the held-out evaluation set (benchmarks/heldout) in data/heldout
  [ -f data/heldout/manifest.json ] || python benchmarks/heldout/build_heldout_set.py --output data/heldout
}

shipped_model() {  # COMMIT DIR: the default model as that commit shipped it, from the git history
  [ -f "$2/model.safetensors" ] && return 0
  mkdir -p "$2"
  git archive "$1" llmcodec/assets/default-model | tar -x -C "$2" --strip-components 3
}

train_run() {  # CONFIG OUTPUT_DIR LOG_NAME [--key value ...]: llmcodec train configs/CONFIG.yaml on one core, unless
  # exported; an interrupted run continues from its newest complete checkpoint
  local config=$1 out=$2 log=$3 resume=()
  shift 3
  [ -f "$out/export/model.safetensors" ] && return 0
  compgen -G "$out/checkpoint-*" > /dev/null && resume=(--resume)
  OMP_NUM_THREADS=1 llmcodec train "configs/$config.yaml" --output_dir "$out" "$@" "${resume[@]}" \
      >> "$WORK/train-$log.log" 2>&1
}

store_float16() {  # EXPORT_DIR OUT_DIR: the Hub folder as it ships (float16 storage, float32 on load)
  [ -f "$2/model.safetensors" ] || llmcodec convert "$1" --output-dir "$2" --storage-dtype float16 --overwrite
}

evaluate_heldout() {  # MODEL OUT_DIR [FLAGS]: llmcodec evaluate on the held-out set into OUT_DIR, its log OUT_DIR.log
  [ -f "$2/summary.json" ] && return 0
  OMP_NUM_THREADS=1 llmcodec evaluate --model "$1" --data data/heldout --output-dir "$2" --num-plots 0 "${@:3}" \
      > "$2.log" 2>&1
}
