#!/usr/bin/env bash
# Installs Debian's Chromium when missing; tests/browser.rs drives it headless over the DevTools
# protocol (tests/common/chromium.rs). Idempotent: does nothing when it is present.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
sudo_=""
[ "$(id -u)" -eq 0 ] || sudo_="sudo"
# apt-get waits for another apt-get holding the lock (a parallel installer) instead of failing.
apt_get() { $sudo_ env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 "$@"; }
apt_get install -y --no-install-recommends chromium fonts-dejavu-core \
    || { apt_get update && apt_get install -y --no-install-recommends chromium fonts-dejavu-core; }
command -v chromium >/dev/null 2>&1
