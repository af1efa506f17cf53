#!/usr/bin/env bash
# Interleaved A/B of two builds' criterion bench executables (same machine, same run):
#   scripts/bench_ab.sh OLD_DIR NEW_DIR ROUNDS   (each dir holds bench-detect, bench-features, bench-learners)
# Prints each benchmark's median estimate per round, old and new alternating.
set -euo pipefail
OLD=$1; NEW=$2; ROUNDS=${3:-2}
run() { # bin filter
  local dir; dir=$(mktemp -d)
  ( cd "$dir" && CARGO_TARGET_DIR="$dir" "$1" --bench --noplot --warm-up-time 2 --measurement-time 6 "$2" 2>/dev/null ) \
    | awk '/time:/ {print $(NF-3), $(NF-2)}'
  rm -rf "$dir"
}
for spec in "detect|haar_default/640x480-sf1.1-mn3-min24-threads1" "detect|raw_stream/640x480-sf1.1-mn3-min24-threads2" \
            "features|dense_sift/1t/flat-step4-bin8-512x512" "features|dense_sift/1t/gaussian-step4-bin8-512x512" \
            "learners|knn/brute-L2/" "learners|knn/brute-L1/" "learners|kdtree/ours-query/"; do
  b=${spec%%|*}; f=${spec#*|}
  for r in $(seq "$ROUNDS"); do
    echo "$f round $r: old $(run "$OLD/bench-$b" "$f" | head -1) | new $(run "$NEW/bench-$b" "$f" | head -1)"
  done
done
