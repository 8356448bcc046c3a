#!/usr/bin/env bash
# Token learnability of every stage-2 ablation arm and seed on real speech: the token LM learns from the codes of
# 1,200 clips of the recorded corpus' training split (seeded choice; both arms saw it equally, in stage 1) and is
# scored on its validation split (data/recorded/validation: the held-out speakers, languages and voice packs that
# no stage trained on, the sources of the held-out set); both are linked into WORK/token-lm-data. Models:
# WORK/seedN-ARM/model from ablation_seeds.sh with the same WORK (default runs/ablation-v7). One process at a time
# (start a second copy to use two cores: a lock folder keeps them apart); each step is skipped when its output
# exists. Then ablation_report.py reads WORK/seedN-ARM/token-lm-real.
set -euo pipefail
cd "$(dirname "$0")/../.."
WORK=${WORK:-runs/ablation-v7}
DATA=$WORK/token-lm-data
if [ ! -f "$DATA/.complete" ]; then  # file symlinks into data/recorded (no copies), train/ and validation/
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
for seed in ${SEEDS:-0 1 2}; do
  for arm in ftp-sa recon-gan; do
    dir=$WORK/seed$seed-$arm
    [ -f "$dir/model/model.safetensors" ] && token_lm "$dir/model" "$dir/token-lm-real" "$seed"
  done
done
echo done
