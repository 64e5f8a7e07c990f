#!/usr/bin/env bash
# Soak run: the release hub with two RTSP cameras and a simulated Reolink camera, 30
# agents (some recording and uploading) and 100 MJPEG viewers for MINUTES (default 20),
# retention deleting as they record. Prints the hub's memory and file descriptor trend,
# the segments checked with ffprobe and the log counts; exits nonzero on a failed check.
#
#   scripts/soak.sh [MINUTES] [soak options, see: target/release/soak --help]
#
# Needs what scripts/install-test-deps.sh installs (GStreamer RTSP server, ffprobe).
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:-20}"
shift || true
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
cargo build --release --locked -p hub -p agent -p soak
exec "${CARGO_TARGET_DIR:-target}/release/soak" --minutes "$minutes" "$@"
