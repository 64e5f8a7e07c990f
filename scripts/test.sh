#!/usr/bin/env bash
# The whole test suite, as CI runs it (`.ci/run` calls exactly this):
# system packages, formatting, lints, dependency-direction checks, build,
# then every test. Each heavy test bounds its own time.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "system packages"
scripts/install-test-deps.sh

step "Garage (the S3 store of the off-site tests; built once per machine, cached outside the clone)"
scripts/garage.sh build

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "protocol, media, detection, encryption, event and config-dialect crates do no I/O (no tokio among their dependencies)"
for crate in wire media baichuan motion chunkseal events units; do
  if cargo tree -p "$crate" -e normal --locked --prefix none | grep -q '^tokio '; then
    echo "error: crate $crate depends on tokio" >&2
    exit 1
  fi
done
echo "ok: wire, media, baichuan, motion, chunkseal, events and units are runtime-free"

step "build binaries (integration tests run them)"
cargo build --workspace --bins --locked

step "tests"
cargo test --workspace --locked --no-fail-fast

step "fuzz: every target for 10 s (scripts/fuzz.sh; a crash fails)"
scripts/fuzz.sh 10

step "soak, short: 2 min of 30 agents, 100 viewers, RTSP and Reolink cameras (the full run: scripts/soak.sh)"
"${CARGO_TARGET_DIR:-target}/debug/soak" --minutes 2
