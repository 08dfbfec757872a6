#!/usr/bin/env bash
# Installs the Autobahn TestSuite runner the WebSocket conformance test drives, idempotently:
# kosoku (PyPI), a Python 3 runner of Autobahn's own fuzzingclient case files (the original
# `autobahntestsuite` needs Python 2), in a venv of its own under $HOME/.cache/tidegate.
# Prints the runner's path last; exits non-zero when it cannot be installed.
set -euo pipefail
CACHE="${TIDEGATE_CACHE:-$HOME/.cache/tidegate}"
VENV="$CACHE/autobahn-venv"
KOSOKU_VERSION="0.1.0"
mkdir -p "$CACHE"

if ! "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('kosoku') != '$KOSOKU_VERSION')" 2>/dev/null; then
  echo "== creating the Autobahn venv with kosoku $KOSOKU_VERSION" >&2
  if ! python3 -m venv "$VENV" 2>/dev/null; then
    if command -v apt-get >/dev/null; then
      sudo_=""; [ "$(id -u)" -eq 0 ] || sudo_="sudo"
      $sudo_ apt-get -o DPkg::Lock::Timeout=600 update -qq
      $sudo_ env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq python3-venv
    fi
    python3 -m venv "$VENV"
  fi
  "$VENV/bin/pip" install -q "kosoku==$KOSOKU_VERSION" >&2
fi
echo "$VENV/bin/kosoku"
