#!/usr/bin/env bash
# Installs redis-server (Debian package) when missing; the rate-limit tests start their own
# redis-server instances from it on ephemeral ports in temp dirs. Idempotent.
set -euo pipefail
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/bin/$1" ] || [ -x "/usr/sbin/$1" ]; }
if have redis-server; then
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
sudo_=""
[ "$(id -u)" -eq 0 ] || sudo_="sudo"
# apt-get waits for another apt-get holding the lock (a parallel installer) instead of failing.
apt_get() { $sudo_ env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 "$@"; }
apt_get install -y --no-install-recommends redis-server \
    || { apt_get update && apt_get install -y --no-install-recommends redis-server; }
