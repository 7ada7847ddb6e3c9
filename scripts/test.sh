#!/usr/bin/env bash
# Runs every check CI runs: formatting, clippy with warnings denied, and all tests.
# Installs what the tests need when it is missing (redis-server and openssl through apt-get).
set -euo pipefail
cd "$(dirname "$0")/.."

install_packages() {
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
  fi
}

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
if [ ${#missing[@]} -gt 0 ]; then
  echo "test.sh: installing ${missing[*]} (the rate-limit tests start their own Redis; some tests make RSA keys with openssl)"
  install_packages "${missing[@]}"
fi

# Incremental caches only help a second build of the same tree, and they add gigabytes to what
# the build writes; CI builds once. Iterate with plain `cargo test` to keep them.
export CARGO_INCREMENTAL=0
echo "test.sh: free disk before the build: $(df -h . | awk 'NR==2 {print $4}')"

echo "test.sh: cargo fmt --check"
cargo fmt --all -- --check

echo "test.sh: cargo clippy (warnings denied)"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "test.sh: cargo test"
cargo test --workspace --locked
echo "test.sh: target/ holds $(du -sh target 2>/dev/null | cut -f1) after the tests"
