#!/usr/bin/env bash
# Benchmarks (not timed tests): our figures beside peer baselines measured in the same run.
#   bench/run.sh [engine ...]      default: every suite
# Results: bench/results/<suite>.json and .md (medians of several runs, peak RSS).
set -euo pipefail
cd "$(dirname "$0")/.."
export ASO_BIN=${ASO_BIN:-.build/release/aso-render}
export PEERS=${PEERS:-../shared/bench/peers.sh}
export BENCH_RUNS=${BENCH_RUNS:-3}
suites=("$@")
((${#suites[@]})) || suites=(engine service styles production studio list wait idle)
mkdir -p bench/results
for suite in "${suites[@]}"; do
    python3 "bench/$suite.py"
done
