#!/usr/bin/env bash
# Dense SIFT side by side with VLFeat 0.9.21 (vl_dsift / vl_phow-like), same machine, back to back.
#
#   scripts/sift_sidebyside.sh            correctness on 20+ cases, then timings (ratios)
#   QUICK=1 scripts/sift_sidebyside.sh    fewer repeats
#   SKIP_CHECK=1 / SKIP_TIME=1            only one half
#
# Correctness: for each case (image, size, step, bin size(s), window), VLFeat's output from
# scripts/sift_vlfeat.c (compiled here, linked with -lvl) is compared with `classic-cv dsift`:
# keypoints must be identical and max |diff| <= 1e-4 over descriptors of mass >= 0.005.
# Timing: one image on 1 thread (median wall and process CPU ms, VLFeat with a warm filter as in
# the anchors' dsift_bench.c; ours includes every allocation), and a batch of 8 images on 2
# threads against VLFeat's per-image time. Ratios < 1 mean ours is faster.
# Needs gcc, libvlfeat-dev and a python with numpy (the anchors' venv).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
if [ ! -d /tmp/anchors ]; then
  cp -r ../shared/anchors /tmp/anchors && /tmp/anchors/setup.sh
fi
PY="${PY:-/tmp/anchors/venv/bin/python}"
IN="$(cd ../shared/anchors/vlfeat/out 2>/dev/null && pwd || echo /tmp/anchors/vlfeat/out)"
WORK="${WORK:-/tmp/sift_sidebyside}"
QUICK="${QUICK:-0}"
R=$([ "$QUICK" = 1 ] && echo 5 || echo 15)
export OMP_NUM_THREADS=1
mkdir -p "$WORK"

cargo build --release --quiet
BIN="$ROOT/target/release/classic-cv"
gcc -O2 -Wall -o "$WORK/sift_vlfeat" scripts/sift_vlfeat.c -lvl -lm
VL="$WORK/sift_vlfeat"

# Inputs: the anchors' gray images, plus odd-sized crops.
"$PY" - "$IN" "$WORK" <<'EOF'
import sys, numpy as np
src, out = sys.argv[1], sys.argv[2]
cam = np.fromfile(f"{src}/camera_gray_512x512.f32", "<f4").reshape(512, 512)
bald = np.fromfile(f"{src}/bald_guys_gray_640x480.f32", "<f4").reshape(480, 640)
ast = np.fromfile(f"{src}/astronaut_gray_512x512.f32", "<f4").reshape(512, 512)
cam[100:287, 51:352].astype("<f4").tofile(f"{out}/camera_crop_301x187.f32")
bald[40:373, 200:455].astype("<f4").tofile(f"{out}/bald_crop_255x333.f32")
ast[7:38, 300:329].astype("<f4").tofile(f"{out}/astro_crop_29x31.f32")
ast[200:225, 200:225].astype("<f4").tofile(f"{out}/astro_crop_25x25.f32")
EOF
img() {
  case "$1" in
    astronaut) echo "$IN/astronaut_gray_512x512.f32 512 512" ;;
    camera) echo "$IN/camera_gray_512x512.f32 512 512" ;;
    bald_guys) echo "$IN/bald_guys_gray_640x480.f32 640 480" ;;
    camera_crop) echo "$WORK/camera_crop_301x187.f32 301 187" ;;
    bald_crop) echo "$WORK/bald_crop_255x333.f32 255 333" ;;
    astro_crop29) echo "$WORK/astro_crop_29x31.f32 29 31" ;;
    astro_crop25) echo "$WORK/astro_crop_25x25.f32 25 25" ;;
  esac
}

# ours IMAGE W H STEP WINDOW WSIZE SIZES OUTPREFIX [extra CLI args]
ours() {
  local path=$1 w=$2 h=$3 step=$4 win=$5 ws=$6 sizes=$7 out=$8
  shift 8
  local scale_args=(--bin-size "$sizes")
  if [[ "$sizes" == *,* ]]; then scale_args=(--scales "$sizes" --contrast-threshold 0.005); fi
  "$BIN" --json dsift "$path" --size "${w}x${h}" --step "$step" \
    --window "$([ "$win" = flat ] && echo flat || echo gaussian)" --window-size "$ws" \
    "${scale_args[@]}" -o "$out.npy" --frames "$out.frames.npy" "$@"
}

if [ "${SKIP_CHECK:-0}" != 1 ]; then
  echo "== correctness against VLFeat (keypoints identical; max |diff| over mass >= 0.005)"
  CASES=(
    "astronaut 4 flat 2 8" "astronaut 4 gauss 2 8" "camera 4 flat 2 8" "camera 4 gauss 2 8"
    "bald_guys 4 flat 2 8" "bald_guys 4 gauss 2 8" "camera_crop 3 flat 2 6" "camera_crop 3 gauss 2 6"
    "bald_crop 5 flat 2 7" "bald_crop 5 gauss 2 7" "camera_crop 2 flat 1.5 4" "bald_crop 1 gauss 3 3"
    "astro_crop29 1 flat 2 4" "astro_crop25 2 gauss 2 8" "camera 7 flat 2 11"
    "astronaut 4 flat 1.5 4,6,8" "camera 4 flat 1.5 4,6,8" "bald_guys 4 flat 1.5 4,6,8"
    "bald_crop 3 flat 1.5 4,6,8" "camera_crop 2 gauss 1.5 4,6,8" "camera 2 flat 1.5 4,6,8,10"
  )
  : > "$WORK/check.txt"
  for c in "${CASES[@]}"; do
    read -r name step win ws sizes <<< "$c"
    read -r path w h <<< "$(img "$name")"
    tag="$WORK/${name}_s${step}_${win}_${ws}_${sizes//,/-}"
    "$VL" "$path" "$w" "$h" "$step" "$win" "$ws" "$sizes" 1 "$tag.vl" > /dev/null
    ours "$path" "$w" "$h" "$step" "$win" "$ws" "$sizes" "$tag.rs" > /dev/null
    echo "$name ${w}x${h} step=$step $win ws=$ws sizes=$sizes $tag" >> "$WORK/check.txt"
  done
  "$PY" - "$WORK/check.txt" <<'EOF'
import sys, numpy as np
bad = 0
print(f"{'case':52s} {'n':>6s} {'kp equal':>8s} {'max|d| m>=.005':>15s} {'max|d| all':>11s} {'mass rel':>9s}")
for line in open(sys.argv[1]):
    *desc, tag = line.split()
    vd = np.fromfile(tag + ".vl.desc.f32", "<f4").reshape(-1, 128)
    vf = np.fromfile(tag + ".vl.frames.f32", "<f4").reshape(-1, 4)
    od = np.load(tag + ".rs.npy"); of = np.load(tag + ".rs.frames.npy")
    kp = vd.shape == od.shape and np.array_equal(vf[:, :3], of[:, :3])
    m = vf[:, 3] >= 0.005
    d = np.abs(vd - od) if vd.shape == od.shape else np.array([[np.inf]])
    dm = d[m].max() if kp and m.any() else (0.0 if kp else np.inf)
    rel = np.max(np.abs(vf[:, 3] - of[:, 3]) / np.maximum(vf[:, 3], 1e-3)) if kp else np.inf
    ok = kp and dm <= 1e-4
    bad += not ok
    print(f"{' '.join(desc):52s} {len(vd):6d} {str(kp):>8s} {dm:15.2e} {d.max():11.2e} {rel:9.1e} {'ok' if ok else 'FAIL'}")
print("all cases match" if bad == 0 else f"{bad} case(s) FAIL")
sys.exit(1 if bad else 0)
EOF
fi

if [ "${SKIP_TIME:-0}" != 1 ]; then
  echo
  echo "== timing, one image, 1 thread (median of $R; ratio = ours / VLFeat)"
  printf "%-34s %10s %10s %10s %10s %8s %8s\n" case vl_wall ours_wall vl_cpu ours_cpu r_wall r_cpu
  for c in "astronaut 4 flat 2 8" "astronaut 4 gauss 2 8" "bald_guys 4 flat 2 8" "bald_guys 4 gauss 2 8" \
           "astronaut 4 flat 1.5 4,6,8" "astronaut 4 gauss 1.5 4,6,8"; do
    read -r name step win ws sizes <<< "$c"
    read -r path w h <<< "$(img "$name")"
    RG=$R; [ "$win" = gauss ] && RG=$(( (R + 2) / 3 ))
    read -r _ vw vc _ <<< "$("$VL" "$path" "$w" "$h" "$step" "$win" "$ws" "$sizes" "$RG")"
    js="$(ours "$path" "$w" "$h" "$step" "$win" "$ws" "$sizes" "$WORK/t" --threads 1 --repeat "$R")"
    "$PY" -c "import json,sys; d=json.loads(sys.argv[1]); vw,vc=float(sys.argv[2]),float(sys.argv[3]);
ow=d['extract_ms_median']; oc=d['cpu_ms_per_run'];
print(f\"{sys.argv[4]:34s} {vw:10.2f} {ow:10.2f} {vc:10.2f} {oc:10.2f} {ow/vw:8.3f} {oc/vc:8.3f}\")" "$js" "$vw" "$vc" "$name/$win/$sizes"
  done

  echo
  echo "== timing, batch of 8 images (4 astronaut + 4 camera, 512x512), ours on 2 threads vs VLFeat per image"
  mkdir -p "$WORK/batch"
  for i in 1 2 3 4; do
    cp "$IN/astronaut_gray_512x512.f32" "$WORK/batch/astronaut$i.f32"
    cp "$IN/camera_gray_512x512.f32" "$WORK/batch/camera$i.f32"
  done
  printf "%-20s %14s %14s %8s\n" window vl_ms_per_img ours_ms_per_img ratio
  for win in flat gauss; do
    RG=$R; [ "$win" = gauss ] && RG=$(( (R + 2) / 3 ))
    read -r _ a _ _ <<< "$("$VL" "$IN/astronaut_gray_512x512.f32" 512 512 4 "$win" 2 8 "$RG")"
    read -r _ b _ _ <<< "$("$VL" "$IN/camera_gray_512x512.f32" 512 512 4 "$win" 2 8 "$RG")"
    js="$("$BIN" --json --threads 2 dsift "$WORK/batch" --size 512x512 --step 4 --bin-size 8 \
      --window "$([ "$win" = flat ] && echo flat || echo gaussian)" -o "$WORK/batch_out" --repeat "$R")"
    "$PY" -c "import json,sys; d=json.loads(sys.argv[1]); v=(float(sys.argv[2])+float(sys.argv[3]))/2;
o=d['extract_ms_per_image']; print(f'{sys.argv[4]:20s} {v:14.2f} {o:14.2f} {o/v:8.3f}')" "$js" "$a" "$b" "$win"
  done
  echo "(machine: $(nproc --all) cores, load average $(cut -d' ' -f1-3 /proc/loadavg))"
fi
