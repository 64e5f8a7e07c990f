#!/usr/bin/env bash
# Garage, the S3-compatible object store the off-site tests and the replication
# benchmark run against (crates/testkit/src/garage.rs starts single nodes of it on
# loopback). Built once per machine from crates.io into a cache outside the clone.
#
#   scripts/garage.sh build   build it if it is missing (idempotent; says what it builds)
#   scripts/garage.sh path    print the binary's path (exit 1 if it is not built)
#
# The cache is $CAMERA_SYSTEM_CACHE (default ~/.cache/camera-system); tests find the
# binary at the same place, or at $GARAGE_BIN.
set -euo pipefail

GARAGE_VERSION=2.5.0
CACHE="${CAMERA_SYSTEM_CACHE:-$HOME/.cache/camera-system}"
ROOT="$CACHE/garage-$GARAGE_VERSION"
BIN="${GARAGE_BIN:-$ROOT/bin/garage}"

have() {
  [ -x "$BIN" ] && "$BIN" --version 2>/dev/null | grep -q "cargo:$GARAGE_VERSION"
}

case "${1:-}" in
  path)
    have || { echo "garage $GARAGE_VERSION is not built: run scripts/garage.sh build" >&2; exit 1; }
    echo "$BIN"
    ;;
  build)
    if have; then
      echo "garage: $("$BIN" --version) present at $BIN"
      exit 0
    fi
    mkdir -p "$CACHE"
    # Two builds at once (two checkouts) would race: the second waits, then finds it built.
    exec 9>"$CACHE/garage-$GARAGE_VERSION.lock"
    flock 9
    if have; then
      echo "garage: $("$BIN" --version) present at $BIN"
      exit 0
    fi
    echo "garage: building garage $GARAGE_VERSION from crates.io into $ROOT"
    echo "garage: (once per machine; about 10 minutes on 2 idle cores, 40 under load)"
    # bundled-libs: no system libsodium/zstd; sqlite: the metadata engine with no
    # extra system library (the default lmdb is not needed for a test node).
    CARGO_TARGET_DIR="$CACHE/garage-build-target" \
      cargo install garage --version "$GARAGE_VERSION" --locked \
        --no-default-features --features bundled-libs,sqlite \
        --root "$ROOT"
    rm -rf "$CACHE/garage-build-target"
    have || { echo "garage: the build finished but $BIN does not run" >&2; exit 1; }
    echo "garage: built $("$BIN" --version) at $BIN"
    ;;
  *)
    echo "usage: scripts/garage.sh build|path" >&2
    exit 2
    ;;
esac
