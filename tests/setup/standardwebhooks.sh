#!/usr/bin/env bash
# Installs the PyPI `standardwebhooks` package (the Standard Webhooks reference verifier, an
# implementation independent of the gateway's) into the tests' Python venv under
# $HOME/.cache/tidegate/venv (the one tests/setup/tansu.sh creates for confluent-kafka), for
# tests/webhook_signatures.rs. Idempotent.
set -euo pipefail
CACHE="${TIDEGATE_CACHE:-$HOME/.cache/tidegate}"
VENV="$CACHE/venv"
mkdir -p "$CACHE"
if ! "$VENV/bin/python" -c 'import standardwebhooks' 2>/dev/null; then
  echo "== installing standardwebhooks into the Python venv"
  if [ ! -x "$VENV/bin/python" ]; then
    if ! python3 -m venv "$VENV" 2>/dev/null; then
      if command -v apt-get >/dev/null; then
        apt-get update -qq && apt-get install -y -qq python3-venv
      fi
      python3 -m venv "$VENV"
    fi
  fi
  "$VENV/bin/pip" install -q 'standardwebhooks>=1.0,<2'
fi
echo "python: $VENV/bin/python (standardwebhooks)"
