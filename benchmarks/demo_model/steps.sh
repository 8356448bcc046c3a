# Steps shared by the default-model pipelines (reproduce.sh, reproduce_v4.sh, reproduce_v3.sh, reproduce_v2.sh); sourced, not run.
# Each step is skipped when its output exists, so an interrupted pipeline continues where it stopped.
# The caller sets WORK (its evaluation folder) and runs from the repository root.

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

train_run() {  # CONFIG_NAME LOG_NAME [--key value ...]: llmcodec train configs/CONFIG_NAME.yaml on one core, unless exported
  local config=$1 log=$2
  shift 2
  [ -f "runs/$config/export/model.safetensors" ] && return 0
  OMP_NUM_THREADS=1 llmcodec train "configs/$config.yaml" "$@" > "$WORK/train-$log.log" 2>&1
}

train_pair() {  # CONFIG_A LOG_A CONFIG_B LOG_B [--key value ...]: two train_run side by side (one core each), the
  # overrides applied to both; fails if either fails
  local config_a=$1 log_a=$2 config_b=$3 log_b=$4
  shift 4
  train_run "$config_a" "$log_a" "$@" & local first=$!
  train_run "$config_b" "$log_b" "$@" & local second=$!
  wait $first
  wait $second
}

store_float16() {  # EXPORT_DIR OUT_DIR: the Hub folder as it ships (float16 storage, float32 on load)
  [ -f "$2/model.safetensors" ] || llmcodec convert "$1" "$2" --storage-dtype float16 --overwrite
}

evaluate_model() {  # NAME MODEL [BASELINES_FLAGS]: llmcodec evaluate on data/eval into WORK/eval-NAME
  local name=$1 model=$2 baselines=${3:-}
  [ -f "$WORK/eval-$name/summary.json" ] && return 0
  OMP_NUM_THREADS=1 llmcodec evaluate --model "$model" --data data/eval --output "$WORK/eval-$name" \
      $baselines --num-plots 2 > "$WORK/eval-$name.log" 2>&1
}

evaluate_pair() {  # NAME_A MODEL_A NAME_B MODEL_B: two evaluate_model side by side (one core each), no baselines
  evaluate_model "$1" "$2" "" & local first=$!
  evaluate_model "$3" "$4" "" & local second=$!
  wait $first
  wait $second
}

stage1_base() {  # NAME_A EXPORT_A NAME_B EXPORT_B: prints the stage-1 export stage 2 continues, from the evaluations
  # WORK/eval-NAME_A and WORK/eval-NAME_B: B when its STOI is higher on both real sets (the real recordings and the
  # held-out real speaker) and its PESQ-WB not lower by more than 0.05 on either, else A
  python - "$WORK" "$@" <<'PY'
import json, sys
work, name_a, export_a, name_b, export_b = sys.argv[1:]
def means(name):
    domains = json.load(open(f"{work}/eval-{name}/summary.json"))["systems"]["llmcodec"]["domains"]
    return {d: {m: domains[d][m]["mean"] for m in ("pesq", "stoi")} for d in ("real-speech", "heldout-real")}
a, b = means(name_a), means(name_b)
wins = all(b[d]["stoi"] > a[d]["stoi"] and b[d]["pesq"] >= a[d]["pesq"] - 0.05 for d in a)
print(export_b if wins else export_a)
PY
}
