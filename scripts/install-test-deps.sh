#!/usr/bin/env bash
# Installs the Debian packages the test suite needs, only those missing,
# and says what it installs. Safe to run again (idempotent).
#
#   ffmpeg (ffprobe)           checks recorded MP4 segments
#   chromium, chromium-driver  headless browser tests of the web UI
#   gstreamer rtsp server      the RTSP camera stand-in (python3-gi)
#   nasm                       openh264's x86 assembly (software H.264)
#   libclang-dev               the v4l crate generates its bindings at build time
#   openssl, curl              the HTTPS test makes a certificate and speaks TLS
#   qemu-system-x86 ... libcamera-ipa   the VM capture tests (crates/vmtests, scripts/vm-capture.sh):
#                              qemu, a busybox initramfs, v4l2-ctl, depmod/modinfo, cpio, gcc/make and
#                              the kernel headers for v4l2loopback and vimc, libcamera's `cam`
set -euo pipefail

PACKAGES=(
  ffmpeg
  chromium
  chromium-driver
  python3-gi
  gir1.2-gst-rtsp-server-1.0
  gstreamer1.0-plugins-base
  gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly
  gstreamer1.0-libav
  gstreamer1.0-tools
  gstreamer1.0-x
  nasm
  libclang-dev
  openssl
  curl
  qemu-system-x86
  busybox-static
  v4l-utils
  kmod
  cpio
  gcc
  make
  libc6-dev
  linux-headers-amd64
  libcamera-tools
  libcamera-ipa
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-test-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "install-test-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "install-test-deps: not root and no sudo; install these yourself: ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-test-deps: done"
