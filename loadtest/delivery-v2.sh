#!/usr/bin/env bash
# Issue 17's measurements ("Delivery path v2"): every publisher shape (one waiting publisher, many
# waiting publishers, a pipelining publisher, WebSocket publishers) to WebSocket and SSE
# subscribers on tidegate, nginx + nchan and the raw writer, at 1 shard / 1 worker and (first row)
# 2 shards / 2 workers; then each server's maximum delivered rate for the shapes whose messages can
# share a write. Tables (markdown) and JSON reports go to the output directory; docs/benchmarks.md
# ("Delivery path v2 baseline") holds one run's tables with these commands.
#   loadtest/delivery-v2.sh [--out DIR] [--bin DIR] [--subscribers N] [--duration-ms MS]
# Builds nothing with --bin DIR (runs DIR/tidegate-load, which starts DIR/tidegate); otherwise
# runs target/release/ (cargo build --release first). Needs nginx-light + libnginx-mod-nchan
# (loadtest/run-all.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."

out=target/loadtest/delivery-v2
bin=target/release
subscribers=200
duration=3000
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    --subscribers) subscribers=$2; shift 2 ;;
    --duration-ms) duration=$2; shift 2 ;;
    *) echo "usage: $0 [--out DIR] [--bin DIR] [--subscribers N] [--duration-ms MS]" >&2; exit 2 ;;
  esac
done
load=$bin/tidegate-load
mkdir -p "$out"/1 "$out"/2 "$out"/max-pipelining "$out"/max-ws
common=(--subscribers "$subscribers" --duration-ms "$duration" --warmup-ms 1000)

# The issue's rows: 1 waiting publisher at 100 msg/s, 8 waiting at 400 msg/s in all, a pipelining
# publisher and a WebSocket publisher at 1,000 msg/s; WebSocket and SSE subscribers; 1 shard.
set -x
"$load" shapes "${common[@]}" --out "$out"/1 \
  --rows waiting:1@100,waiting:8@400,pipelining@1000,ws@1000 --subs ws,sse
# 2 shards against 2 nginx workers (the raw writer has one thread), first row.
"$load" shapes "${common[@]}" --out "$out"/2 --server-threads 2 \
  --rows waiting:1@100 --subs ws --servers tidegate,nchan
# Maximum delivered rate: stepping from 500 msg/s by ×2 until loss or p99 beyond 500 ms.
"$load" max-rate "${common[@]}" --out "$out"/max-pipelining --shape pipelining --sub ws \
  --start-rate 500 --factor 2 --refine 1 --max-steps 6 --lag-limit-ms 500
# nginx + nchan is left out for WebSocket publishers: it lost about one message per subscriber
# with them in every run here (counted as loss), so every step would fail.
"$load" max-rate "${common[@]}" --out "$out"/max-ws --shape ws --sub ws \
  --start-rate 500 --factor 2 --refine 1 --max-steps 6 --lag-limit-ms 500 --servers tidegate,raw
