#!/usr/bin/env bash
# Fetches the third-party data into data/cache (or $CLASSIC_CV_DATA): see data/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --release --quiet -- fetch-data "$@"
