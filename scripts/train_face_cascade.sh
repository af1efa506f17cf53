#!/usr/bin/env bash
# The face-cascade recipe: trains data/models/face-cascade.xml from what `classic-cv
# fetch-data` provides plus the labelled faces of ../shared/anchors/data/dlibfaces, then
# evaluates it (and OpenCV's default frontal-face cascade) on the held-out faces of
# data/faces-eval.xml with the CLI's default detection parameters.
#   scripts/train_face_cascade.sh [OUTPUT.xml]   (default: data/models/face-cascade.xml)
# Positives: the 100 LFW face crops of scikit-image's lfw_subset.npy and the 18 faces of
# dlib's training.xml, augmented. Negatives: the non-face scikit-image photos, the 100 LFW
# non-face crops, dlib's dogs.jpg and the regions of the dlib training photos away from any
# labelled face. The evaluation photos (data/faces-eval.xml) are never used for training.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
SHARED="${CLASSIC_CV_SHARED:-$ROOT/../shared}"
[ -d "$SHARED/anchors" ] || SHARED="$ROOT/../../shared"
DLIB="$SHARED/anchors/data/dlibfaces"
export CLASSIC_CV_DATA="${CLASSIC_CV_DATA:-$ROOT/data/cache}"
CACHE="$CLASSIC_CV_DATA"
OUT="${1:-$ROOT/data/models/face-cascade.xml}"
cargo build --release --quiet
BIN="$ROOT/target/release/classic-cv"
NEG="$(mktemp -d)"
trap 'rm -rf "$NEG"' EXIT
for f in brick.png cell.png chessboard_GRAY.png clock_motion.png coffee.png coins.png \
         grass.png gravel.png ihc.png logo.png microaneurysms.png moon.png \
         motorcycle_left.png motorcycle_right.png page.png phantom.png text.png horse.png \
         chelsea.png color.png hubble_deep_field.jpg retina.jpg rocket.jpg; do
  ln -s "$CACHE/skimage/$f" "$NEG/"
done
ln -s "$DLIB/dogs.jpg" "$NEG/"
mkdir -p "$(dirname "$OUT")"
rm -f "$OUT.state"
/usr/bin/time -f 'training: %U s user, %S s sys, %e s wall, %M KB' \
  "$BIN" --seed 2026 train-cascade --positives lfw "$DLIB/training.xml" \
    --negatives "$NEG" "$CACHE/wallpapers/lomiri-16.04" "$CACHE/wallpapers/lomiri-20.04" "$CACHE/wallpapers/ukui" lfw "$DLIB/training.xml" \
    --window 24x24 --stages "${STAGES:-22}" --num-pos 1500 --num-neg 1000 \
    --max-features 10000 -o "$OUT"
rm -f "$OUT.state"
EVAL="$(mktemp -d)"
trap 'rm -rf "$NEG" "$EVAL"' EXIT
sed "s#file='cache/#file='$CACHE/#" data/faces-eval.xml > "$EVAL/truth.xml"
for c in "$OUT" "$CACHE/opencv/haarcascades/haarcascade_frontalface_default.xml"; do
  echo "== $(basename "$c")"
  "$BIN" eval-detector --cascade "$c" --truth "$EVAL/truth.xml" --iou 0.3 -o "$EVAL/pr.png"
done
