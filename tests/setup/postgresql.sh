#!/usr/bin/env bash
# Installs PostgreSQL (Debian package `postgresql`) when missing; the management store tests
# start their own servers from its binaries (/usr/lib/postgresql/*/bin) in temp dirs on
# ephemeral ports (tests/common/postgres.rs). The package's own cluster service is not used.
# Idempotent.
set -euo pipefail
if compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null; then
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
sudo_=""
[ "$(id -u)" -eq 0 ] || sudo_="sudo"
$sudo_ apt-get install -y --no-install-recommends postgresql \
    || { $sudo_ apt-get update && $sudo_ apt-get install -y --no-install-recommends postgresql; }
