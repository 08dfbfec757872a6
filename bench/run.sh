#!/usr/bin/env bash
# Runs the criterion micro-benchmark suite (codecs and outbound queues; see the "Micro-benchmarks"
# part of docs/benchmarks.md) and prints where criterion wrote its results. Extra arguments go
# to criterion, e.g.
#   bench/run.sh --save-baseline main      then, after a change:   bench/run.sh --baseline main
# Each bench is run on its own (`--bench <name>`) so the library's libtest harness never sees
# criterion's flags. About a minute of measuring on 2 cores, plus the build.
# bench/regenerate.sh runs this and writes the results into docs/benchmarks.md; when
# TIDEGATE_BENCH_COMMANDS names a file, each command is appended to it first (for that doc).
set -euo pipefail
cd "$(dirname "$0")/.."

step() {
    if [ -n "${TIDEGATE_BENCH_COMMANDS:-}" ]; then printf '%s\n' "$*" >>"$TIDEGATE_BENCH_COMMANDS"; fi
    "$@"
}

benches=(http_head ws sse batch fanout)
for bench in "${benches[@]}"; do
    echo "=== cargo bench --bench ${bench}"
    step cargo bench --locked --bench "${bench}" -- "$@"
done

target_dir=$(cargo metadata --format-version 1 --no-deps \
    | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
echo
echo "criterion results: ${target_dir}/criterion/"
echo "  per benchmark:   ${target_dir}/criterion/<group>/<bench>/new/estimates.json (times in ns)"
echo "  groups:          $(ls "${target_dir}/criterion" | grep -v '^report$' | tr '\n' ' ')"
