#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 30) with a 2 GiB memory limit and a 10 s
# per-input timeout, one after the other, and prints a table of executions and findings.
# Needs the nightly toolchain and cargo-fuzz (installed here if missing). Exits 1 if any
# target found a crash, an OOM or a timeout (the inputs are in fuzz/artifacts/TARGET/).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# The seed corpora are built by scripts/fuzz-seeds.py (from data/cache and the repository;
# run `classic-cv fetch-data` first) when fuzz/corpus/ does not exist yet.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
shift || true
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
if [ ! -d fuzz/corpus ]; then
    cargo build --release --bin classic-cv
    python3 scripts/fuzz-seeds.py "${CARGO_TARGET_DIR:-target}/release/classic-cv"
fi
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo +nightly fuzz list)
# No sanitizer: the crate is safe Rust (the one unsafe call is bounds-checked), and
# uninstrumented runs are several times faster; panics, OOMs and timeouts are what we hunt.
cargo +nightly fuzz build -s none -O
status=0
printf '%-12s %8s %12s %s\n' target seconds executions findings
for t in "${targets[@]}"; do
    log=$(mktemp)
    mkdir -p "fuzz/corpus/$t"
    if cargo +nightly fuzz run -s none -O "$t" "fuzz/corpus/$t" -- \
        -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -max_len=65536 \
        -print_final_stats=1 >"$log" 2>&1; then
        found=0
    else
        found=1
        status=1
    fi
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
    if [ "$found" = 1 ]; then
        what=$(grep -m1 -oE 'ERROR: libFuzzer: [a-z-]+|panicked at [^ ]*|deadly signal' "$log" || echo failed)
        printf '%-12s %8s %12s %s (log: %s)\n' "$t" "$secs" "$execs" "$what" "$log"
    else
        printf '%-12s %8s %12s %s\n' "$t" "$secs" "$execs" 0
        rm -f "$log"
    fi
done
exit $status
