#!/usr/bin/env bash
# Sets up and runs every check and test of tidegate on a fresh machine; `.ci/run` calls this.
# Idempotent: whatever is already installed or built is reused.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== toolchain"
cargo --version
for component in rustfmt clippy; do
  rustup component list --installed 2>/dev/null | grep -q "^$component" || rustup component add "$component"
done

echo "== test dependencies"
# The MQTT tests start their own mosquitto instances (tests/common/mosquitto.rs).
tests/setup/mosquitto.sh
# tests/browser.rs drives Debian's Chromium headless.
tests/setup/chromium.sh
# The Redis rate-limit tests start their own redis-server instances (tests/common/redis.rs).
tests/setup/redis.sh
# The management store tests start their own PostgreSQL servers (tests/common/postgres.rs).
tests/setup/postgresql.sh

echo "== format"
cargo fmt --all -- --check

echo "== lint"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== test setup"
tests/setup/tansu.sh
# The Standard Webhooks reference verifier (PyPI standardwebhooks) for tests/webhook_signatures.rs.
tests/setup/standardwebhooks.sh
# The Autobahn TestSuite runner (kosoku) for tests/autobahn.rs.
tests/setup/autobahn.sh

echo "== tests"
# --no-fail-fast: one failing binary must not hide the results of the others.
cargo test --workspace --locked --all-targets --no-fail-fast
