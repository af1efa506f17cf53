#!/usr/bin/env bash
# Side by side: one training epoch of the default network (same recipe as the anchor: Adam
# lr 1e-3 constant, batch 64, no augmentation, no label smoothing, 60,000 images) with the
# hand-written anchor (anchors/cnn/handwritten) and with classic-cv, back to back, ROUNDS
# times alternating; prints each run's training seconds and the ratio of the best times.
#
# Usage: scripts/cnn_sidebyside.sh            (ROUNDS=2 TRAIN_N=60000 by default)
#        ROUNDS=3 TRAIN_N=12000 scripts/cnn_sidebyside.sh
# The machine is shared: compare only numbers from one run of this script.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
ANCHORS=/tmp/anchors
if [ ! -d "$ANCHORS/cnn/handwritten" ]; then
  cp -r "$ROOT/../shared/anchors" "$ANCHORS" && "$ANCHORS/setup.sh"
fi
ROUNDS="${ROUNDS:-2}"
TRAIN_N="${TRAIN_N:-60000}"
DATA="$ROOT/data/cache/fashion-mnist"
[ -f "$DATA/train-images-idx3-ubyte.gz" ] || (cd "$ROOT" && cargo run --release -q -- fetch-data)

(cd "$ANCHORS/cnn/handwritten" && cargo build --release -q)
(cd "$ROOT" && cargo build --release -q)
REF="$ANCHORS/cnn/handwritten/target/release/cnn-handwritten"
OURS="$ROOT/target/release/classic-cv"
MODEL="$(mktemp -d)/m.bin"

best_ref=""; best_ours=""
for r in $(seq "$ROUNDS"); do
  ref=$("$REF" --data "$DATA" --epochs 1 --train "$TRAIN_N" --test 1000 --batch 64 --seed 42 2>/dev/null \
        | sed -n 's/^RESULT //p' | python3 -c 'import json,sys; e=json.load(sys.stdin)["epochs"][0]; print(e["train_secs"], e["train_cpu_secs"])')
  ours=$(/usr/bin/time -f "%U %S" -o "$MODEL.time" "$OURS" --json cnn train --epochs 1 --train-limit "$TRAIN_N" --optimizer adam --learning-rate 1e-3 \
        --schedule constant --weight-decay 0 --label-smoothing 0 --flip false -o "$MODEL" \
        | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["train_seconds"], 3))')
  ours_cpu=$(python3 -c "u,s=open('$MODEL.time').read().split(); print(round(float(u)+float(s),2))")
  read -r ref_s ref_cpu <<<"$ref"
  echo "round $r: anchor handwritten ${ref_s} s (cpu ${ref_cpu} s, epoch only)   classic-cv ${ours} s (cpu ${ours_cpu} s, whole process incl. data loading)   load $(cut -d' ' -f1 /proc/loadavg)"
  best_ref=$(python3 -c "print(min(x for x in [$ref_s, ${best_ref:-1e9}]))")
  best_ours=$(python3 -c "print(min(x for x in [$ours, ${best_ours:-1e9}]))")
done
python3 -c "print(f'best epoch ({$TRAIN_N} images): anchor {$best_ref:.2f} s, classic-cv {$best_ours:.2f} s, ratio classic-cv/anchor = {$best_ours/$best_ref:.3f}')"
