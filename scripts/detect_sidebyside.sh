#!/usr/bin/env bash
# Viola-Jones side by side: OpenCV 4.14 (cv2.CascadeClassifier.detectMultiScale) and
# `classic-cv detect --raw` on the same 640x480 anchor frames, in one run, interleaved.
# Default cascade, scaleFactor 1.1, minNeighbors 3, minSize 24; 1 and 2 threads.
# Prints ms/frame for both, the ratios ours/OpenCV, the --raw stream rate, and checks that
# both give identical boxes on every frame.
#   scripts/detect_sidebyside.sh [REPS]        (default 5 interleaved repetitions)
# The cascade is read from $CLASSIC_CV_DATA (default data/cache).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
REPS="${1:-5}"
SHARED="${CLASSIC_CV_SHARED:-$ROOT/../shared}"
[ -d "$SHARED/anchors" ] || SHARED="$ROOT/../../shared"
if [ ! -x /tmp/anchors/venv/bin/python ]; then
  cp -r "$SHARED/anchors" /tmp/anchors && /tmp/anchors/setup.sh
fi
PY=/tmp/anchors/venv/bin/python
CASCADE="${CLASSIC_CV_DATA:-$ROOT/data/cache}/opencv/haarcascades/haarcascade_frontalface_default.xml"
FRAMES="$SHARED/anchors/opencv/frames"
cargo build --release --quiet
BIN="$ROOT/target/release/classic-cv"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

# The frames as one raw stream (3 passes over the 8 gray frames), and OpenCV's boxes.
"$PY" - "$FRAMES" "$CASCADE" "$TMP" <<'PYEOF'
import glob, json, sys, cv2
frames, cascade, tmp = sys.argv[1:]
paths = sorted(glob.glob(frames + "/*_gray.png"))
imgs = [cv2.imread(p, cv2.IMREAD_GRAYSCALE) for p in paths]
assert all(i.shape == (480, 640) for i in imgs)
with open(tmp + "/frames.raw", "wb") as f:
    for _ in range(3):
        for i in imgs:
            f.write(i.tobytes())
c = cv2.CascadeClassifier(cascade)
cv2.setNumThreads(1)
boxes = [sorted(map(list, map(lambda r: [int(v) for v in r],
                              c.detectMultiScale(i, 1.1, 3, minSize=(24, 24))))) for i in imgs]
json.dump({"n": len(imgs), "boxes": boxes}, open(tmp + "/ocv.json", "w"))
PYEOF

ocv_time() {  # threads -> ms per frame (one pass of 3 x 8 frames)
  "$PY" - "$TMP" "$CASCADE" "$1" <<'PYEOF'
import sys, time, cv2, numpy as np
tmp, cascade, nt = sys.argv[1], sys.argv[2], int(sys.argv[3])
cv2.setNumThreads(nt)
raw = np.fromfile(tmp + "/frames.raw", np.uint8).reshape(-1, 480, 640)
c = cv2.CascadeClassifier(cascade)
c.detectMultiScale(raw[0], 1.1, 3, minSize=(24, 24))
t = time.perf_counter()
for f in raw:
    c.detectMultiScale(f, 1.1, 3, minSize=(24, 24))
print((time.perf_counter() - t) * 1e3 / len(raw))
PYEOF
}
ours_time() {  # threads -> ms per frame, from the fps line on stderr (CPU ms/frame in cpu$1)
  /usr/bin/time -f "%U %S" -o "$TMP/cpu$1.txt" \
    "$BIN" --threads "$1" detect --cascade "$CASCADE" --min-size 24 --raw 640x480 \
    < "$TMP/frames.raw" > "$TMP/ours$1.jsonl" 2> "$TMP/err$1.txt"
  awk '{print ($1 + $2) * 1000 / 24}' "$TMP/cpu$1.txt" >> "$TMP/cpums$1.txt"
  awk '/fps$/ {print 1000 / $(NF-1)}' "$TMP/err$1.txt" | tail -1
}

declare -A O U
for t in 1 2; do O[$t]=""; U[$t]=""; done
for r in $(seq "$REPS"); do
  for t in 1 2; do
    O[$t]="${O[$t]} $(ocv_time "$t")"
    U[$t]="${U[$t]} $(ours_time "$t")"
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

"$PY" - "$TMP" <<'PYEOF'
import json, sys
tmp = sys.argv[1]
ref = json.load(open(tmp + "/ocv.json"))
for t in (1, 2):
    lines = [json.loads(l) for l in open(f"{tmp}/ours{t}.jsonl")]
    same = sum(sorted(l["boxes"]) == ref["boxes"][k % ref["n"]] for k, l in enumerate(lines))
    print(f"identical boxes, {t} thread(s): {same}/{len(lines)} frames")
PYEOF
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $REPS interleaved reps (median)"
printf "%-10s %14s %14s %8s\n" threads "OpenCV ms/fr" "ours ms/fr" ratio
for t in 1 2; do
  o=$(echo "${O[$t]}" | median); u=$(echo "${U[$t]}" | median)
  printf "%-10s %14.1f %14.1f %8.3f\n" "$t" "$o" "$u" "$(echo "$u / $o" | bc -l)"
done
u2=$(echo "${U[2]}" | median); o1=$(echo "${O[1]}" | median)
printf "ours 2 threads / OpenCV 1 thread: %.3f\n" "$(echo "$u2 / $o1" | bc -l)"
printf "raw stream, 2 threads: %.1f fps measured (target >= 60)\n" "$(echo "1000 / $u2" | bc -l)"
c2=$(tr '\n' ' ' < "$TMP/cpums2.txt" | median)
printf "ours CPU time: %.1f ms/frame; on 2 idle cores that bounds the stream at %.1f fps\n" \
  "$c2" "$(echo "2000 / $c2" | bc -l)"
