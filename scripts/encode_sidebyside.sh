#!/usr/bin/env bash
# Side by side, in one run: classic-cv vs VLFeat 0.9.21 and scikit-learn on the same data.
#
#   scripts/encode_sidebyside.sh            # K = 256 and 1024, 20 iterations, VLAD 5 repeats
#   KS=256 scripts/encode_sidebyside.sh     # only K = 256 (about two minutes)
#   KM_REPEATS=3 VL_REPEATS=1               # k-means runs of ours and sklearn (interleaved,
#                                           # median) and of VLFeat (slow, single-threaded)
#
# k-means: all three start from VLFeat's saved k-means++ centres
# (anchors/vlfeat/out/kmeans_k{K}_init_pp.f32) on the 100,000 x 128 pooled descriptors and
# run 20 iterations with tolerance 0; the time is the refinement only.
#   - VLFeat: vl_kmeans Elkan, 1 thread (its library is single-threaded here).
#   - scikit-learn: KMeans(algorithm="lloyd", n_init=1, init=<centres>, max_iter=20, tol=0),
#     2 OpenMP threads, BLAS 1 thread.
#   - classic-cv: `kmeans --algorithm lloyd`, 2 threads.
# VLAD: astronaut dense SIFT (14,884 x 128), K = 256 Lloyd codebook; time = exact
# nearest-centre assignment + encoding (VLFeat: vl_kmeans_quantize + one-hot matrix +
# vl_vlad_encode, flags 0; ours: quantize + vlad_encode, same flags), median of repeats.
# The VLFeat harness below is written for this script and links -lvl; no VLFeat code is copied.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
KS="${KS:-256 1024}"
REPEATS="${REPEATS:-5}"
KM_REPEATS="${KM_REPEATS:-3}"
VL_REPEATS="${VL_REPEATS:-1}"
if [ ! -d /tmp/anchors ]; then
  SHARED="${CLASSIC_CV_SHARED:-$ROOT/../shared}"
  [ -d "$SHARED/anchors" ] || SHARED="$ROOT/../../shared"
  cp -r "$SHARED/anchors" /tmp/anchors && /tmp/anchors/setup.sh
fi
A=""
for cand in "${CLASSIC_CV_SHARED:-/nonexistent}" "$ROOT/../shared" "$ROOT/../../shared" /tmp/anchors/..; do
  if [ -f "$cand/anchors/vlfeat/out/descriptors_100k.f32" ]; then A="$cand/anchors/vlfeat/out"; break; fi
done
[ -n "$A" ] || { echo "VLFeat anchor outputs (descriptors_100k.f32) not found" >&2; exit 1; }
PY="${PY:-/tmp/anchors/venv/bin/python}"
WORK="$(mktemp -d /tmp/encode_sbs.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT

cargo build --release --quiet
BIN="$ROOT/target/release/classic-cv"

cat > "$WORK/vl_elkan.c" <<'EOF'
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <vl/kmeans.h>
static float *load(const char *p, size_t *n) {
  FILE *f = fopen(p, "rb"); if (!f) { perror(p); exit(1); }
  fseek(f, 0, SEEK_END); long b = ftell(f); fseek(f, 0, SEEK_SET);
  float *v = malloc(b); if (fread(v, 1, b, f) != (size_t)b) exit(1); fclose(f);
  *n = b / sizeof(float); return v;
}
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
int main(int argc, char **argv) {
  size_t nx, nc; int D = 128, iters = atoi(argv[3]);
  float *X = load(argv[1], &nx), *C = load(argv[2], &nc);
  vl_set_num_threads(1);
  VlKMeans *km = vl_kmeans_new(VL_TYPE_FLOAT, VlDistanceL2);
  vl_kmeans_set_algorithm(km, VlKMeansElkan);
  vl_kmeans_set_max_num_iterations(km, iters);
  vl_kmeans_set_min_energy_variation(km, 0.0);
  vl_kmeans_set_centers(km, C, D, nc / D);
  double t = now();
  double e = vl_kmeans_refine_centers(km, X, nx / D);
  printf("{\"seconds\": %.4f, \"energy\": %.4f}\n", now() - t, e);
  return 0;
}
EOF
cat > "$WORK/vl_vlad.c" <<'EOF'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <vl/kmeans.h>
#include <vl/vlad.h>
static float *load(const char *p, size_t *n) {
  FILE *f = fopen(p, "rb"); if (!f) { perror(p); exit(1); }
  fseek(f, 0, SEEK_END); long b = ftell(f); fseek(f, 0, SEEK_SET);
  float *v = malloc(b); if (fread(v, 1, b, f) != (size_t)b) exit(1); fclose(f);
  *n = b / sizeof(float); return v;
}
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
static int cmp(const void *a, const void *b) { double x = *(double *)a, y = *(double *)b; return (x > y) - (x < y); }
int main(int argc, char **argv) {
  size_t nx, nc; int D = 128, R = atoi(argv[3]);
  float *X = load(argv[1], &nx), *C = load(argv[2], &nc);
  size_t N = nx / D, K = nc / D;
  vl_set_num_threads(1);
  VlKMeans *q = vl_kmeans_new(VL_TYPE_FLOAT, VlDistanceL2);
  vl_kmeans_set_centers(q, C, D, K);
  vl_uint32 *a = malloc(sizeof(vl_uint32) * N); float *dist = malloc(sizeof(float) * N);
  float *A = malloc(sizeof(float) * N * K), *enc = malloc(sizeof(float) * K * D);
  double *ts = malloc(sizeof(double) * R);
  for (int r = 0; r < R; ++r) {
    double t = now();
    vl_kmeans_quantize(q, a, dist, X, N);
    memset(A, 0, sizeof(float) * N * K);
    for (size_t i = 0; i < N; ++i) A[i * K + a[i]] = 1.0f;
    vl_vlad_encode(enc, VL_TYPE_FLOAT, C, D, K, X, N, A, 0);
    ts[r] = now() - t;
  }
  qsort(ts, R, sizeof(double), cmp);
  printf("{\"seconds\": %.5f}\n", ts[R / 2]);
  return 0;
}
EOF
gcc -O2 -o "$WORK/vl_elkan" "$WORK/vl_elkan.c" -lvl -lm
gcc -O2 -o "$WORK/vl_vlad" "$WORK/vl_vlad.c" -lvl -lm

cat > "$WORK/sk.py" <<'EOF'
import sys, time, json
import numpy as np
from threadpoolctl import threadpool_limits
from sklearn.cluster import KMeans
X = np.fromfile(sys.argv[1], dtype=np.float32).reshape(-1, 128)
C = np.fromfile(sys.argv[2], dtype=np.float32).reshape(-1, 128)
with threadpool_limits(limits=1, user_api="blas"):
    km = KMeans(n_clusters=len(C), init=C, n_init=1, max_iter=20, tol=0.0, algorithm="lloyd")
    t = time.perf_counter(); km.fit(X); s = time.perf_counter() - t
print(json.dumps({"seconds": s, "energy": float(km.inertia_)}))
EOF

field() { "$PY" -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
ratio() { "$PY" -c "print('%.3f' % ($1 / $2))"; }

echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)  ($(nproc) cores)"
printf '%-34s %10s %14s\n' "run" "seconds" "energy"
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for K in $KS; do
  X="$A/descriptors_100k.f32"; C0="$A/kmeans_k${K}_init_pp.f32"
  : > "$WORK/o"; : > "$WORK/s"; : > "$WORK/v"
  for r in $(seq "$KM_REPEATS"); do
    ours=$("$BIN" --threads 2 --json kmeans "$X" --dim 128 --clusters "$K" --init "$C0" --iters 20 --tol 0 -o "$WORK/c.npy")
    echo "$ours" | field seconds >> "$WORK/o"; o_e=$(echo "$ours" | field energy)
    sk=$(OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=1 "$PY" "$WORK/sk.py" "$X" "$C0")
    echo "$sk" | field seconds >> "$WORK/s"; s_e=$(echo "$sk" | field energy)
  done
  for r in $(seq "$VL_REPEATS"); do
    vl=$("$WORK/vl_elkan" "$X" "$C0" 20)
    echo "$vl" | field seconds >> "$WORK/v"; v_e=$(echo "$vl" | field energy)
  done
  o_s=$(median < "$WORK/o"); s_s=$(median < "$WORK/s"); v_s=$(median < "$WORK/v")
  printf '%-34s %10.3f %14.3f   runs: %s\n' "K=$K classic-cv lloyd (2 threads)" "$o_s" "$o_e" "$(tr '\n' ' ' < "$WORK/o")"
  printf '%-34s %10.3f %14.3f   runs: %s\n' "K=$K VLFeat elkan (1 thread)" "$v_s" "$v_e" "$(tr '\n' ' ' < "$WORK/v")"
  printf '%-34s %10.3f %14.3f   runs: %s\n' "K=$K sklearn lloyd (2 threads)" "$s_s" "$s_e" "$(tr '\n' ' ' < "$WORK/s")"
  echo "K=$K ratio ours/VLFeat-elkan = $(ratio "$o_s" "$v_s")  (target <= 0.5)"
  echo "K=$K ratio ours/sklearn      = $(ratio "$o_s" "$s_s")  (target <= 1.0)"
done

XA="$A/astronaut_dsift_s4_b8_flat.f32"; CA="$A/kmeans_k256_lloyd_centers.f32"
vl=$("$WORK/vl_vlad" "$XA" "$CA" "$REPEATS" | field seconds)
ours=$(for r in $(seq "$REPEATS"); do
  "$BIN" --threads 2 --json encode vlad "$XA" --dim 128 --codebook "$CA" -o "$WORK/v.npy" | field seconds
done | median)
printf '%-34s %10.4f\n' "VLAD classic-cv (2 threads)" "$ours"
printf '%-34s %10.4f\n' "VLAD VLFeat brute force (1 thread)" "$vl"
echo "VLAD ratio ours/VLFeat = $(ratio "$ours" "$vl")  (target <= 0.5)"
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
