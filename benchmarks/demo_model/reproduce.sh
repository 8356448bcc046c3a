#!/usr/bin/env bash
# Reproduces the bundled default model v7 (llmcodec/assets/default-model) and its held-out measurements on a 2-core
# CPU (AMD EPYC; wall times as measured, one core for training):
#   0. data: the broad recorded corpus (llmcodec corpus recorded, ~9 min), the synthetic espeak-ng corpus with
#      transcripts (stage 2's semantic alignment), SmolLM2-135M-Instruct (llmcodec lm smollm2), the held-out set
#      (benchmarks/heldout) and v6, the model stage 1 continues, from the git history
#   1. stage 1a: configs/demo-stage1-broad.yaml, 600 steps of its 1,000-step schedule: v6 on the broad corpus,
#      every crop degraded by recording conditions, level normalisation on (~25 min)
#   2. stage 1b: configs/demo-stage1-floor.yaml without the spectral floor, 700 steps of a 2,000-step schedule (~22 min)
#   3. stage 1c: configs/demo-stage1-floor.yaml, the spectral floor on, 1,700 steps (~55 min)
#   4. stage 2: configs/demo-stage2.yaml from stage 1c: GAN, Gumbel bridge, FTP and SA against SmolLM2's first
#      4 layers, 120 steps (11 min)
#   5. the float16 model; the held-out evaluation beside Codec2 700C / 1200 / 3200 and Opus 6 kbps (~11 min;
#      ~2 min without the baselines);
#      its tables (benchmarks/heldout/report.py); token stability of v6 on the same set
#   6. installed as the default model, its README generated from docs/model-card.md
# Each step is skipped when its output exists. The training runs of the shipped model are not bit-identical to
# these commands: stage 1a was stopped and resumed once (its first 300 steps ran on an 1,800-step schedule).
# Run from the repository root of a git clone with the project's environment (bash scripts/setup.sh) and:
#   apt-get install klettres-data ktuberling-data hedgewars-data asterisk-prompt-es-co asterisk-prompt-fr-armelle \
#     asterisk-prompt-it-menardi fillets-ng-data-cs fillets-ng-data-nl asterisk-core-sounds-{en,es,fr,it,ru}-g722 alsa-utils
set -euo pipefail
cd "$(dirname "$0")/../.."
export WORK=runs/default-model-v7
V6_COMMIT=2109bb0   # the commit that shipped v6
mkdir -p "$WORK"

source benchmarks/demo_model/steps.sh
prepare_data
shipped_model "$V6_COMMIT" runs/default-model-v6
[ -f data/heldout/manifest.json ] || python benchmarks/heldout/build_heldout_set.py --output data/heldout

train_run demo-stage1-broad runs/demo-stage1-broad stage1a --codec_init runs/default-model-v6 --max_steps 600
train_run demo-stage1-floor runs/demo-stage1-broad-cont stage1b --codec_init runs/demo-stage1-broad/export \
    --codec_config '{spectral_floor: 0.0}' --max_steps 700 --lr_total_steps 2000 --lambda_mel_steps 2000
train_run demo-stage1-floor runs/demo-stage1-floor stage1c
train_run demo-stage2 runs/demo-stage2-v7 stage2 --codec_init runs/demo-stage1-floor/export
store_float16 runs/demo-stage2-v7/export "$WORK/model"

heldout() {  # NAME MODEL [FLAGS]: llmcodec evaluate on the held-out set, then its tables
  [ -f "$WORK/heldout-$1/summary.json" ] || OMP_NUM_THREADS=1 llmcodec evaluate --model "$2" --data data/heldout \
      --output-dir "$WORK/heldout-$1" --num-plots 0 "${@:3}" > "$WORK/heldout-$1.log" 2>&1
  python benchmarks/heldout/report.py "$WORK/heldout-$1" --manifest data/heldout/manifest.json --name "$1"
}
heldout v7 "$WORK/model" --baselines codec2_700C,codec2_1200,codec2_3200,opus_6kbps
heldout v7-stage1 runs/demo-stage1-floor/export
heldout v6 runs/default-model-v6

python benchmarks/heldout/compare.py v7 v7-stage1 v6 --baselines-from v7

# The bundled folder holds weights, configs and the card only: it loads with the installed classes, so the
# Hub export's code files and auto_map are left out.
llmcodec convert "$WORK/model" --output-dir "$WORK/hub" --storage-dtype float16 --card-extra docs/model-card.md --overwrite
python - "$WORK/hub" llmcodec/assets/default-model <<'PY'
import json, shutil, sys
from pathlib import Path
source, target = Path(sys.argv[1]), Path(sys.argv[2])
for name in ("config.json", "preprocessor_config.json"):
    config = json.loads((source / name).read_text())
    config.pop("auto_map", None)
    (target / name).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
for name in ("model.safetensors", "README.md"):
    shutil.copy(source / name, target / name)
PY
