#!/usr/bin/env bash
# The token-learnability data set, data/learnability: real recorded speech (llmcodec corpus recorded, whose
# validation split holds whole speakers, languages and voice packs out) beside synthetic espeak-ng speech with real
# sentences (llmcodec corpus build; its validation split holds voices out). Files are hard-linked, not copied:
#   train/recorded      = data/recorded/train        validation/recorded = data/recorded/validation
#   train/tts           = data/corpus-lm/train       validation/tts      = data/corpus-lm/validation
# 14,495 training files (2.06 M codes with the bundled model) and 2,722 held-out files (0.29 M codes).
#   bash benchmarks/learnability/build_learnability_set.sh   # ~1 h on one core, most of it espeak-ng
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-data/learnability}
[ -f "$OUT/.complete" ] && { echo "$OUT is complete"; exit 0; }
[ -f data/recorded/train/metadata.jsonl ] || llmcodec corpus recorded data/recorded
[ -f data/corpus-lm/train/metadata.jsonl ] || llmcodec corpus build data/corpus-lm --engines espeak-ng \
    --utterances-per-voice 14 --seed 1
rm -rf "$OUT.partial" && mkdir -p "$OUT.partial/train" "$OUT.partial/validation"
for split in train validation; do
  cp -al "data/recorded/$split" "$OUT.partial/$split/recorded"
  cp -al "data/corpus-lm/$split" "$OUT.partial/$split/tts"
done
touch "$OUT.partial/.complete"
rm -rf "$OUT" && mv "$OUT.partial" "$OUT"
echo "wrote $OUT"
