#!/usr/bin/env bash
# Installs the mosquitto broker and its clients (Debian packages) when missing; the MQTT tests
# start their own broker instances from it. Idempotent: does nothing when they are present.
set -euo pipefail
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
if have mosquitto && have mosquitto_pub && have mosquitto_sub; then
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
sudo_=""
[ "$(id -u)" -eq 0 ] || sudo_="sudo"
# apt-get waits for another apt-get holding the lock (a parallel installer) instead of failing.
apt_get() { $sudo_ env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 "$@"; }
apt_get install -y --no-install-recommends mosquitto mosquitto-clients \
    || { apt_get update && apt_get install -y --no-install-recommends mosquitto mosquitto-clients; }
