#!/usr/bin/env bash
# The broker tables of docs/benchmarks.md ("Brokers: Kafka and MQTT behind the gateway"): the
# gateway in front of tansu and mosquitto (`tidegate-load broker`), next to clients of the
# brokers themselves (loadtest/direct/kafka_direct.py with confluent-kafka; direct MQTT
# subscribers of mosquitto, `--direct`). Every row is printed with the command that made it.
#   loadtest/brokers.sh [--bin DIR] [--quick]
# DIR holds tidegate and tidegate-load (default target/release; build them with
# `cargo build --release -p tidegate -p tidegate-load`). --quick: smaller runs (a smoke test).
# Needs tests/setup/tansu.sh (tansu and the confluent-kafka venv) and tests/setup/mosquitto.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=target/release
records=100000
clients=100
kafka_rate=1000
mqtt_rate=200
mqtt_clients=1000
seconds=5
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) bin=$2; shift 2 ;;
    --quick) records=5000; clients=10; kafka_rate=200; mqtt_rate=50; mqtt_clients=100; seconds=2; shift ;;
    *) echo "usage: $0 [--bin DIR] [--quick]" >&2; exit 2 ;;
  esac
done
load=$bin/tidegate-load
python=${TIDEGATE_CACHE:-$HOME/.cache/tidegate}/venv/bin/python

row() {
  echo
  echo "\$ $*"
  "$@" 2>/dev/null | tail -n 1
}

echo "## Kafka backlog replay ($records records of 100 B, 3 partitions, ring 10000, from earliest)"
for n in 1 "$clients"; do
  row "$load" broker --broker kafka --mode replay --records "$records" --rate 20000 \
    --publishers 4 --subscribers "$n" --server-threads 2 --label "tidegate, $n SSE clients"
done
for n in 1 10; do
  row "$python" loadtest/direct/kafka_direct.py --broker replay "$records" "$n" 100 3
done

echo
echo "## Kafka live fan-out ($kafka_rate msg/s, 3 partitions, POST → tansu → gateway → SSE)"
row "$load" broker --broker kafka --mode live --rate "$kafka_rate" --subscribers "$clients" \
  --warmup-ms 1000 --duration-ms $((seconds * 1000)) --server-threads 2 \
  --label "tidegate, $clients SSE clients"
row "$python" loadtest/direct/kafka_direct.py --broker live "$kafka_rate" "$seconds" 10 100 3

echo
echo "## MQTT live fan-out ($mqtt_rate msg/s, QoS 1, POST → gateway → mosquitto → gateway → SSE / → MQTT subscribers)"
row "$load" broker --broker mqtt --mode live --rate "$mqtt_rate" --subscribers "$mqtt_clients" \
  --warmup-ms 1000 --duration-ms $((seconds * 1000)) --server-threads 2 \
  --label "tidegate, $mqtt_clients SSE clients"
row "$load" broker --broker mqtt --mode live --direct --rate "$mqtt_rate" \
  --subscribers "$mqtt_clients" --warmup-ms 1000 --duration-ms $((seconds * 1000)) \
  --server-threads 2 --label "mosquitto, $mqtt_clients direct subscribers"
