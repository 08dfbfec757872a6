#!/usr/bin/env bash
# Runs the criterion micro-benchmark suite (codecs and outbound queues; see docs/benchmarks.md)
# and prints where criterion wrote its results. Extra arguments go to criterion, e.g.
#   bench/run.sh --save-baseline main      then, after a change:   bench/run.sh --baseline main
# Each bench is run on its own (`--bench <name>`) so the library's libtest harness never sees
# criterion's flags. About a minute of measuring on 2 cores, plus the build.
set -euo pipefail
cd "$(dirname "$0")/.."

benches=(http_head ws sse batch fanout)
for bench in "${benches[@]}"; do
    echo "=== cargo bench --bench ${bench}"
    cargo bench --bench "${bench}" -- "$@"
done

target_dir=$(cargo metadata --format-version 1 --no-deps \
    | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
echo
echo "criterion results: ${target_dir}/criterion/"
echo "  per benchmark:   ${target_dir}/criterion/<group>/<bench>/new/estimates.json (times in ns)"
echo "  groups:          $(ls "${target_dir}/criterion" | grep -v '^report$' | tr '\n' ' ')"
