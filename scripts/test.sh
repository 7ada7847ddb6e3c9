#!/usr/bin/env bash
# Runs every check CI runs: formatting, clippy with warnings denied, and all tests.
# Installs what the tests need when it is missing (redis-server through apt-get).
set -euo pipefail
cd "$(dirname "$0")/.."

install_packages() {
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
  fi
}

if ! command -v redis-server >/dev/null 2>&1; then
  echo "test.sh: installing redis-server (the rate-limit tests start their own server)"
  install_packages redis-server
fi

echo "test.sh: cargo fmt --check"
cargo fmt --all -- --check

echo "test.sh: cargo clippy (warnings denied)"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "test.sh: cargo test"
cargo test --workspace --locked
