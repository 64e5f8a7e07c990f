#!/usr/bin/env bash
# Run every fuzz target for a set time each (default 60 s):
#   scripts/fuzz.sh [SECONDS] [TARGET...]
# Needs nightly Rust and cargo-fuzz (`cargo install cargo-fuzz`); installs
# cargo-fuzz if it is missing. Crashes are left in fuzz/artifacts/TARGET/.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"; shift || true
command -v cargo-fuzz >/dev/null || { echo "fuzz: installing cargo-fuzz"; cargo install cargo-fuzz --locked; }
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cd fuzz && cargo +nightly fuzz list)
fi
status=0
for t in "${targets[@]}"; do
  echo "==> fuzz $t for ${secs}s"
  if ! (cd fuzz && cargo +nightly fuzz run "$t" -- -max_total_time="$secs" 2>&1 | grep -E "^Done|ERROR|SUMMARY|panicked"); then
    status=1
  fi
done
exit $status
