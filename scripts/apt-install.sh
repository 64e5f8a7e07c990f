#!/usr/bin/env bash
# apt-install.sh PKG... -- installs those of the Debian packages PKG that are
# missing, saying which, and nothing else. Every install in this repository
# (scripts/install-test-deps.sh, build-pi.sh, vm-capture.sh, systemd-test.sh,
# the deploy test, demo.sh, bench.sh) goes through here, under one
# machine-wide lock (flock on /tmp/apt.lock, waiting up to 20 minutes): two
# test runs or two tests that install at the same time take turns instead of
# failing on apt's own lock ("Could not get lock /var/lib/apt/lists/lock").
# `apt-get update` runs first, once, only when something is missing.
#
# Exit status: 0 every package is installed, 1 apt-get failed, 3 not root
# and no sudo (the missing packages are named).
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: $0 PKG..." >&2; exit 2; }

missing_of() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"
  done
}

mapfile -t missing < <(missing_of "$@")
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then SUDO=(sudo); else
    echo "apt-install: not root and no sudo; install these yourself: ${missing[*]}" >&2
    exit 3
  fi
fi

exec 8>>/tmp/apt.lock
if ! flock -w 1200 8; then
  echo "apt-install: another install held /tmp/apt.lock for 20 minutes" >&2
  exit 1
fi
# Someone may have installed them while we waited.
mapfile -t missing < <(missing_of "${missing[@]}")
[ ${#missing[@]} -eq 0 ] && exit 0
echo "apt-install: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq >&2 || { echo "apt-install: apt-get update failed" >&2; exit 1; }
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
  { echo "apt-install: apt-get install ${missing[*]} failed" >&2; exit 1; }
