#!/usr/bin/env bash
# The whole test suite, as CI runs it (`.ci/run` calls exactly this):
# system packages, formatting, lints, dependency-direction checks, builds
# (the workspace, the VM's kernel and modules, the Pi cross builds), every
# test, the fuzzers for 10 s each and a 2-minute soak. Each heavy test bounds
# its own time. Ends with a table of every step's wall and CPU time (after the
# failing tests' panic messages, repeated, when a test fails).
#
# What it installs or builds outside the checkout (each says so when it does):
#   Debian packages      scripts/install-test-deps.sh (through scripts/apt-install.sh)
#   VM kernel + modules  ~/.cache/camera-system/vm, keyed by the kernel package version
#   zig for ARMv6        ~/.cache/camera-system/pi-tools, keyed by the ziglang/cargo-zigbuild versions
#   rustup               the nightly toolchain + rust-src (ARMv6 build-std, cargo-fuzz)
#   cargo-fuzz           ~/.cargo/bin, the version scripts/fuzz.sh pins
set -euo pipefail
cd "$(dirname "$0")/.."

# ---- step timing -----------------------------------------------------------------
# CPU = user + sys of everything the step ran (bash's `times` for children).
SUMMARY=()
STEP="" STEP_T0=0 STEP_CPU0=0
TIMES_FILE=$(mktemp)
cpu_now() { # sets CPU_NOW; `times` must run in this shell, not in a pipe or $(...)
  times > "$TIMES_FILE"
  CPU_NOW=$(tail -1 "$TIMES_FILE" | awk '{ s = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); s += a[1] * 60 + a[2] } printf "%.0f", s }')
}
close_step() {
  [ -n "$STEP" ] || return 0
  cpu_now
  local wall=$(( $(date +%s) - STEP_T0 )) cpu=$(( CPU_NOW - STEP_CPU0 ))
  SUMMARY+=("$(printf '%-44s %6ss %6ss  %s' "${STEP:0:44}" "$wall" "$cpu" "$(cut -d' ' -f1-3 /proc/loadavg)")")
  printf '<== %s s wall, %s s CPU\n' "$wall" "$cpu"
  STEP=""
}
step() {
  close_step
  cpu_now
  STEP="$1" STEP_T0=$(date +%s) STEP_CPU0=$CPU_NOW
  printf '\n==> %s\n' "$*"
}
report() {
  local rc=$?
  close_step
  printf '\n==> step times (%s, %s cores; load = 1/5/15-min averages at the end of the step)\n' \
    "$(. /etc/os-release && echo "$PRETTY_NAME")" "$(nproc)"
  printf '%-44s %7s %7s  %s\n' step wall cpu load
  printf '%s\n' "${SUMMARY[@]}"
  printf '%-44s %6ss\n' total "$SECONDS"
  rm -f "$TIMES_FILE"
  exit $rc
}
trap report EXIT

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

step "VM kernel and camera modules (scripts/vm-capture.sh prepare --vimc)"
scripts/vm-capture.sh prepare --vimc

# The Pi tests (crates/pitests) build these too; built here first, one after
# the other, they are up to date when the tests ask for them.
step "Pi cross build: aarch64 agent (scripts/build-pi.sh)"
CARGO_TARGET_DIR=target-pi scripts/build-pi.sh aarch64-unknown-linux-gnu agent >/dev/null
step "Pi cross build: ARMv6 agent (scripts/build-pi.sh, build-std + zig)"
CARGO_TARGET_DIR=target-pi scripts/build-pi.sh arm-unknown-linux-musleabihf agent >/dev/null

step "build the tests"
cargo test --workspace --locked --no-run

step "tests"
# Teed to a file: cargo goes on to the other test binaries after a failing one, so
# in a long log the panic messages sit in the middle. On failure they are printed
# again at the end, where a log cut short still shows them.
TEST_LOG=$(mktemp)
if ! cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$TEST_LOG"; then
  printf '\n==> the failing tests'"'"' panic messages again (the whole output is above)\n'
  awk '/ panicked at /{n=12} n>0 && /^stack backtrace:|^note: /{n=0} n>0{print; n--}' "$TEST_LOG" \
    | grep -v OpenH264 | cut -c1-500 | head -80 || true
  rm -f "$TEST_LOG"
  exit 1
fi
rm -f "$TEST_LOG"

step "fuzz: every target for 10 s (scripts/fuzz.sh; a crash fails)"
scripts/fuzz.sh 10

step "soak, short: 2 min of 30 agents, 100 viewers, RTSP and Reolink cameras (the full run: scripts/soak.sh)"
"${CARGO_TARGET_DIR:-target}/debug/soak" --minutes 2
