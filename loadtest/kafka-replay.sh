#!/usr/bin/env bash
# Kafka backlog replay through a small node buffer (docs/benchmarks.md, "Kafka replay"):
# 5,001 records (3 partitions, 100 B) replayed through a 500-record buffer to 100 SSE clients at
# once, from `earliest`, from a cursor, and to clients connected before the backlog arrived.
# Prints, per scenario, the records delivered, the broker connections the gateway held, the
# wall time and the gateway's Kafka counters; the test fails on any lost, duplicated or
# reordered record. Needs tansu (tests/setup/tansu.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${PROFILE:---release}
cargo test $profile --test kafka_replay -- --test-threads=1 --nocapture 2>&1 |
  grep -E "records to|fetch_paced_waits|fetch_pace_overruns|catch_up_|dropped_slow_client|^test "
