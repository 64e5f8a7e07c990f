#!/usr/bin/env bash
# Build and start the hub on its embedded default: a moving test-pattern
# camera, data under ./hub-data, http://127.0.0.1:8080, login printed.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null; then
  echo "demo: Rust is needed (1.95 or newer). Install it with rustup:" >&2
  echo "  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh" >&2
  exit 1
fi
if ! command -v cc >/dev/null; then
  echo "demo: a C compiler is needed for the bundled SQLite; installing gcc" >&2
  scripts/apt-install.sh gcc libc6-dev
fi
cargo build --release --locked -p hub
exec target/release/hub demo "$@"
