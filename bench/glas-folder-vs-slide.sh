#!/bin/bash
# Training from the stitched GlaS slide + GeoJSON against training on the same
# images as a folder: the annotated half of GlaS's training images (every other
# one, as bench/make-glas-slide.ts annotates them), the same settings, seed and
# number of patches, then pixel Dice on the other half with patho eval. The order of
# the two runs alternates with the seed (the load on a shared machine drifts).
#
# Run: npx tsc -p tsconfig.json && node dist/bench/make-glas-slide.js && bench/glas-folder-vs-slide.sh
# Env: GLAS (default ../shared/datasets/glas-train), SLIDE_DIR (default /tmp/glas-slide),
#      OUT (default /tmp/glas-vs), EPOCHS (25), SEEDS ("0 1"), SIZE ("--patch 128 --depth 3 --base-channels 8").
set -euo pipefail
cd "$(dirname "$0")/.."
GLAS=${GLAS:-../shared/datasets/glas-train}
SLIDE_DIR=${SLIDE_DIR:-/tmp/glas-slide}
OUT=${OUT:-/tmp/glas-vs}
EPOCHS=${EPOCHS:-25}
SEEDS=${SEEDS:-0 1}
SIZE=${SIZE:---patch 128 --depth 3 --base-channels 8}
GLAS=$(realpath "$GLAS")

# the folders: annotated images to train on, the others to score on
rm -rf "$OUT/train" "$OUT/test"
mkdir -p "$OUT"/{train,test}/{images,masks}
node -e "
const m = require('$SLIDE_DIR/manifest.json'); const fs = require('fs');
for (const i of m.images) for (const k of ['images', 'masks'])
  fs.symlinkSync('$GLAS/' + k + '/' + i.name + '.png', '$OUT/' + (i.annotated ? 'train' : 'test') + '/' + k + '/' + i.name + '.png');
"
train_images=$(ls "$OUT/train/images" | wc -l)
for seed in $SEEDS; do
  common="--no-plan --epochs $EPOCHS $SIZE --batch-size 4 --lr 1e-3 --optimizer adam --preset he --threads 1 --workers 1 --seed $seed --devices cpu"
  if [ $((seed % 2)) = 0 ]; then order="folder slide"; else order="slide folder"; fi
  for kind in $order; do
    if [ $kind = folder ]; then data="--data $OUT/train --val-split 0"
    else data="--slides $SLIDE_DIR/slides --annotations $SLIDE_DIR/annotations --samples-per-epoch $train_images"; fi
    node bin/patho.js train $data $common --out "$OUT/$kind-$seed" 2> "$OUT/$kind-$seed.log" > /dev/null
    rate=$(grep -E '^epoch [0-9]+  loss' "$OUT/$kind-$seed.log" | awk '{print $7}' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    dice=$(node bin/patho.js eval --model "$OUT/$kind-$seed/model.pt" --data "$OUT/test" --threads 1 --workers 1 --devices cpu --object-metrics none --json |
      node -e "const r = JSON.parse(require('fs').readFileSync(0, 'utf8')); console.log(r.thresholds['0.5'].dice.toFixed(4))")
    echo "seed $seed  $kind  Dice@0.5 $dice on $(ls "$OUT/test/images" | wc -l) held-out images  median $rate img/s"
  done
done
