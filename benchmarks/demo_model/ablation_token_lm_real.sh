#!/usr/bin/env bash
# Token learnability of every ablation arm and seed on real speech: the token LM learns from the codes of 1,200
# clips of the real training speech (seeded choice, ~1 h; both arms saw it equally, in stage 1) and is scored on the held-out Russian asterisk voice (575 prompts,
# 0.41 h) that no stage trained on. Models: seed 0 from reproduce.sh, seeds 1 and 2 from ablation_seeds.sh.
# One process at a time (start a second copy to use two cores: a lock folder keeps them apart); each step is skipped
# when its output exists. Then ablation_report.py reads token-lm-real/.
# WORK (default runs/demo-model-eval) is the evaluation folder: seed 0's model is WORK/model-ARM,
# seeds 1 and 2 are WORK/ablation/seedN-ARM/model (ablation_seeds.sh with the same WORK).
set -euo pipefail
cd "$(dirname "$0")/../.."
WORK=${WORK:-runs/demo-model-eval}
DATA=data/token-lm-real
if [ ! -f "$DATA/.complete" ]; then  # file symlinks into data/recorded (no copies)
  python - "$DATA" <<'PY'
import os, random, sys
from pathlib import Path
out = Path(sys.argv[1])
train = sorted(Path("data/recorded/train").glob("*/*.wav"))
for split, files in (("train", random.Random(0).sample(train, 1200)),
                     ("validation", sorted(Path("data/recorded/validation").glob("*/*.wav")))):
    for f in files:
        link = out / split / f.parent.name / f.name
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.is_symlink():
            os.symlink(os.path.relpath(f.resolve(), link.parent), link)
(out / ".complete").touch()
PY
fi
token_lm() {  # model folder, output folder, seed
  [ -f "$2/token_lm.json" ] && return 0
  mkdir "$2.lock" 2>/dev/null || return 0  # a second copy of this script is on it
  OMP_NUM_THREADS=1 llmcodec token-lm --model "$1" --data "$DATA" --output-dir "$2" --epochs 3 --seed "$3" > "$2.log" 2>&1
  rmdir "$2.lock"
}
for arm in ftp-sa recon-gan; do
  token_lm "$WORK/model-$arm" "$WORK/token-lm-real-$arm" 0
  for seed in ${SEEDS:-1 2}; do
    model=$WORK/ablation/seed$seed-$arm/model
    [ -f "$model/model.safetensors" ] && token_lm "$model" "$WORK/ablation/seed$seed-$arm/token-lm-real" "$seed"
  done
done
echo done
