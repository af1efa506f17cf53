#!/usr/bin/env bash
# A cascade trained by `classic-cv train-cascade` loads in OpenCV 4.14 and OpenCV's
# detections equal ours. Trains a small 20x20 face cascade (LFW crops, non-face
# scikit-image photos as backgrounds), then runs cv2.CascadeClassifier.detectMultiScale and
# `classic-cv detect` on every shared anchor frame (gray), with minNeighbors 0 (raw windows)
# and 3, scaleFactor 1.1, no minimum size, and compares the boxes (as sorted lists).
#   scripts/cascade_opencv_check.sh [CASCADE.xml]   (default: train one into a temp dir)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
SHARED="${CLASSIC_CV_SHARED:-$ROOT/../shared}"
[ -d "$SHARED/anchors" ] || SHARED="$ROOT/../../shared"
if [ ! -x /tmp/anchors/venv/bin/python ]; then
  cp -r "$SHARED/anchors" /tmp/anchors && /tmp/anchors/setup.sh
fi
PY=/tmp/anchors/venv/bin/python
FRAMES="$SHARED/anchors/opencv/frames"
cargo build --release --quiet
BIN="$ROOT/target/release/classic-cv"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
if [ $# -ge 1 ]; then
  CASCADE="$1"
else
  mkdir "$TMP/neg"
  for f in brick cell chessboard_GRAY clock_motion coffee coins grass gravel ihc logo \
           microaneurysms moon motorcycle_left motorcycle_right page phantom text horse \
           chelsea color; do
    ln -s "$ROOT/data/cache/skimage/$f.png" "$TMP/neg/"
  done
  CASCADE="$TMP/trained.xml"
  "$BIN" --seed 7 train-cascade --positives lfw --negatives "$TMP/neg" --window 20x20 \
    --stages 8 --num-pos 500 --num-neg 500 --max-features 4000 -o "$CASCADE"
fi
for mn in 0 3; do
  "$BIN" --json detect --cascade "$CASCADE" --min-size 0 --min-neighbors "$mn" \
    "$FRAMES"/*_gray.png > "$TMP/ours$mn.jsonl"
done
"$PY" - "$CASCADE" "$TMP" "$FRAMES" <<'PYEOF'
import glob, json, sys, cv2
cascade, tmp, frames = sys.argv[1:]
c = cv2.CascadeClassifier(cascade)
assert not c.empty(), "OpenCV could not load " + cascade
cv2.setNumThreads(1)
total = same = 0
for mn in (0, 3):
    ours = {json.loads(l)["image"]: sorted(json.loads(l)["boxes"]) for l in open(f"{tmp}/ours{mn}.jsonl")}
    for p in sorted(glob.glob(frames + "/*_gray.png")):
        img = cv2.imread(p, cv2.IMREAD_GRAYSCALE)
        ref = sorted([int(v) for v in r] for r in c.detectMultiScale(img, 1.1, mn))
        total += 1
        ok = ref == ours[p]
        same += ok
        print(f"minNeighbors {mn} {p.split('/')[-1]:32s} opencv {len(ref):5d} ours {len(ours[p]):5d} {'equal' if ok else 'DIFFERENT'}")
print(f"cv {cv2.__version__}: {same}/{total} frame runs give identical boxes")
sys.exit(0 if same == total else 1)
PYEOF
