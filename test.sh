#!/usr/bin/env bash
# Runs every test of the workspace, installing what the tests need first.
# Needs: a Rust toolchain, root or sudo for apt-get (kcat), network access to the registries.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v kcat >/dev/null 2>&1; then
  echo "== installing kcat (Debian package)"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kcat
fi

echo "== building the gregor binary the end-to-end tests start"
cargo build -p gregor --bins

echo "== running the tests"
cargo test --workspace
