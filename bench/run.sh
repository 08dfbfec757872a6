#!/usr/bin/env bash
# Runs the criterion micro-benchmark suite (codecs and outbound queues; see the "Micro-benchmarks"
# part of docs/benchmarks.md) and prints where criterion wrote its results. Extra arguments go
# to criterion, e.g.
#   bench/run.sh --save-baseline main      then, after a change:   bench/run.sh --baseline main
# All benches are built first (`cargo bench --no-run`) and copied to target/bench-bin/, then run
# from there: a source change while the suite runs cannot rebuild some benches and not others.
# About a minute of measuring on 2 cores, plus the build. bench/regenerate.sh uses
#   bench/run.sh --build-only     build and copy only
#   bench/run.sh --no-build ...   run the copies already in target/bench-bin/
# and writes the results into docs/benchmarks.md; when TIDEGATE_BENCH_COMMANDS names a file, each
# command is appended to it first (the document lists them).
set -euo pipefail
cd "$(dirname "$0")/.."

build=yes run=yes
case "${1:-}" in
    --build-only) run=no; shift ;;
    --no-build) build=no; shift ;;
esac

step() {
    if [ -n "${TIDEGATE_BENCH_COMMANDS:-}" ]; then printf '%s\n' "$*" >>"$TIDEGATE_BENCH_COMMANDS"; fi
    "$@"
}

benches=(http_head ws sse batch fanout delivery)
target_dir=$(cargo metadata --format-version 1 --no-deps \
    | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
bin_dir=${target_dir}/bench-bin

if [ "$build" = yes ]; then
    mkdir -p "$bin_dir"
    printf '%s\n' "cargo bench --locked --no-run" >>"${TIDEGATE_BENCH_COMMANDS:-/dev/null}"
    # `name executable` of every bench target, from cargo's JSON messages.
    built=$(cargo bench --locked --no-run --message-format=json-render-diagnostics | python3 -c '
import json, sys
for line in sys.stdin:
    msg = json.loads(line)
    if msg.get("reason") == "compiler-artifact" and "bench" in msg["target"]["kind"] and msg.get("executable"):
        print(msg["target"]["name"], msg["executable"])
')
    for bench in "${benches[@]}"; do
        exe=$(printf '%s\n' "$built" | awk -v b="$bench" '$1 == b {print $2}')
        if [ -z "$exe" ]; then echo "bench/run.sh: cargo built no executable for bench ${bench}" >&2; exit 1; fi
        step cp "${exe#"$PWD"/}" "${bin_dir#"$PWD"/}/${bench}"
    done
fi

if [ "$run" = yes ]; then
    for bench in "${benches[@]}"; do
        echo "=== ${bench}"
        # Criterion writes to $CARGO_TARGET_DIR/criterion when not started by cargo.
        CARGO_TARGET_DIR=$target_dir step "${bin_dir#"$PWD"/}/${bench}" --bench "$@"
    done
    echo
    echo "criterion results: ${target_dir}/criterion/"
    echo "  per benchmark:   ${target_dir}/criterion/<group>/<bench>/new/estimates.json (times in ns)"
    echo "  groups:          $(ls "${target_dir}/criterion" | grep -v '^report$' | tr '\n' ' ')"
fi
