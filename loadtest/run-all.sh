#!/usr/bin/env bash
# Regenerates every end-to-end number of docs/benchmarks.md: the machine, the entrypoint
# comparison, the peer comparison (tidegate, nginx + nchan, raw writer) at two rates, tidegate on
# io_uring and on epoll, and memory per idle connection. Tables are written between the
# `<!-- tidegate-load:NAME -->` markers of the document; JSON reports, tables and SVG plots go to
# the output directory (emptied first, so that everything in it is from this run).
#   loadtest/run-all.sh [--doc docs/benchmarks.md] [--out docs/loadtest] [--bin DIR]
# Builds the release binaries and runs copies of tidegate-load and tidegate from target/bench-bin/
# (a rebuild while it runs cannot swap the server under test); with --bin DIR it builds nothing
# and runs DIR/tidegate-load, which starts DIR/tidegate. Takes about three minutes. Installs
# nginx + nchan (Debian) when missing. bench/regenerate.sh runs this as part of the whole
# benchmark document; when TIDEGATE_BENCH_COMMANDS names a file, each command is appended to it
# first (the document lists them).
set -euo pipefail
cd "$(dirname "$0")/.."

doc=docs/benchmarks.md
out=docs/loadtest
bin=
while [ $# -gt 0 ]; do
  case "$1" in
    --doc) doc=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    *) echo "usage: $0 [--doc FILE.md] [--out DIR] [--bin DIR]" >&2; exit 2 ;;
  esac
done

step() {
  if [ -n "${TIDEGATE_BENCH_COMMANDS:-}" ]; then printf '%s\n' "$*" >>"$TIDEGATE_BENCH_COMMANDS"; fi
  "$@"
}

if [ ! -e /usr/lib/nginx/modules/ngx_nchan_module.so ]; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nginx-light libnginx-mod-nchan
fi

if [ -z "$bin" ]; then
  step cargo build --release --locked --workspace
  bin=target/bench-bin
  mkdir -p "$bin"
  step cp target/release/tidegate target/release/tidegate-load "$bin"/
fi
load=$bin/tidegate-load
mkdir -p "$out"
rm -f "$out"/*.json "$out"/*.md "$out"/*.svg

step "$load" machine --doc "$doc"

# The same workload through every entrypoint: 1 publisher, 1000 subscribers, 100 msg/s.
step "$load" entrypoints --subscribers 1000 --rate 100 --duration-ms 3000 --out "$out" --doc "$doc"

# The same POST → WebSocket workload on each server: a moderate and a saturating rate.
for rate in 100 1000; do
  step "$load" peers --subscribers 1000 --rate "$rate" --duration-ms 3000 --out "$out" --doc "$doc"
done

# The same POST → WebSocket workload on tidegate with driver: io-uring and driver: epoll, for one
# pipelining publisher and for 20 publishers each waiting for every answer (a refused io_uring is
# reported in the table).
step "$load" drivers --subscribers 1000 --rate 1000 --duration-ms 3000 --out "$out" --doc "$doc"

# Server memory with idle WebSocket connections (levels beyond the descriptor limit are reported
# as not measured, and the largest level that fits is measured instead).
step "$load" idle --levels 10000,50000,100000 --servers tidegate,nchan --out "$out" --doc "$doc"
