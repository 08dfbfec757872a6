#!/usr/bin/env bash
# Sets up and runs every check and test of tidegate on a fresh machine; `.ci/run` calls this.
# Idempotent: whatever is already installed or built is reused.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== toolchain"
cargo --version
rustup component list --installed 2>/dev/null | grep -qE '^(rustfmt|clippy)' || rustup component add rustfmt clippy

echo "== format"
cargo fmt --all -- --check

echo "== lint"
cargo clippy --all-targets --locked -- -D warnings

echo "== test setup"
tests/setup/tansu.sh

echo "== tests"
cargo test --locked --all-targets
