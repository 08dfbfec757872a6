#!/usr/bin/env bash
# Installs what the Kafka tests need, idempotently, under $HOME/.cache/tidegate:
#  - tansu 0.6.0, a Kafka-compatible broker built from crates.io (~20 min once; then reused);
#  - a Python venv with confluent-kafka, the independent client the tests produce and consume with.
# Prints nothing but progress; exits non-zero when something cannot be installed.
set -euo pipefail
CACHE="${TIDEGATE_CACHE:-$HOME/.cache/tidegate}"
TANSU_ROOT="$CACHE/tansu-0.6.0"
VENV="$CACHE/venv"
mkdir -p "$CACHE"

if [ ! -x "$TANSU_ROOT/bin/tansu" ]; then
  echo "== building tansu 0.6.0 (once; about 20 minutes on 2 cores)"
  CARGO_TARGET_DIR="$CACHE/tansu-build" nice -n 19 cargo install --locked tansu --version 0.6.0 \
    --features dynostore,libsql --root "$TANSU_ROOT"
fi

if ! "$VENV/bin/python" -c 'import confluent_kafka' 2>/dev/null; then
  echo "== creating the Python venv with confluent-kafka"
  if ! python3 -m venv "$VENV" 2>/dev/null; then
    if command -v apt-get >/dev/null; then
      sudo_=""; [ "$(id -u)" -eq 0 ] || sudo_="sudo"
      $sudo_ apt-get -o DPkg::Lock::Timeout=600 update -qq
      $sudo_ env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq python3-venv
    fi
    python3 -m venv "$VENV"
  fi
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q 'confluent-kafka>=2.6,<3'
fi
echo "tansu: $TANSU_ROOT/bin/tansu"
echo "python: $VENV/bin/python"
