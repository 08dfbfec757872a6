#!/usr/bin/env bash
# Regenerates every end-to-end number in docs/loadtest.md: the machine, the entrypoint
# comparison, the peer comparison (tidegate, nginx + nchan, raw writer) at two rates, and memory
# per idle connection. Tables are written between the `<!-- tidegate-load:NAME -->` markers of
# docs/loadtest.md; JSON reports, tables and SVG plots go to docs/loadtest/.
# Takes about three minutes. Installs nginx + nchan (Debian) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -e /usr/lib/nginx/modules/ngx_nchan_module.so ]; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nginx-light libnginx-mod-nchan
fi

cargo build --release --locked --workspace
load=target/release/tidegate-load
doc=docs/loadtest.md
out=docs/loadtest
mkdir -p "$out"

"$load" machine --doc "$doc"

# The same workload through every entrypoint: 1 publisher, 1000 subscribers, 100 msg/s.
"$load" entrypoints --subscribers 1000 --rate 100 --duration-ms 3000 --out "$out" --doc "$doc"

# The same POST → WebSocket workload on each server: a moderate and a saturating rate.
for rate in 100 1000; do
  "$load" peers --subscribers 1000 --rate "$rate" --duration-ms 3000 --out "$out" --doc "$doc"
done

# Server memory with idle WebSocket connections (levels beyond the descriptor limit are reported
# as not measured, and the largest level that fits is measured instead).
"$load" idle --levels 10000,50000,100000 --servers tidegate,nchan --out "$out" --doc "$doc"
