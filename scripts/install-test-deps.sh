#!/usr/bin/env bash
# Installs the Debian packages the test suite needs, only those missing,
# and says what it installs (through scripts/apt-install.sh: one machine-wide
# lock, so no two installs run at once). Safe to run again (idempotent).
# scripts/test.sh runs it before anything else, so no test has to install a
# package while another one runs; the scripts that tests call (build-pi.sh,
# vm-capture.sh, systemd-test.sh) and the deploy test still check for their
# packages when run by hand, and install through the same lock.
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
#   gcc-aarch64-linux-gnu ... python3-venv   the Pi tests (crates/pitests, scripts/build-pi.sh): the
#                              aarch64 cross compiler and libc, clang for bindgen, qemu-user to run
#                              the ARM binaries, readelf (binutils), a venv for zig (ARMv6)
#   systemd-container          the units under systemd as PID 1 (scripts/systemd-test.sh)
#   openssh-server/-client     deploy/deploy.sh against sshd on loopback
#   prometheus                 `promtool check metrics` on a live hub's /metrics (its server is
#                              not used: stopped and disabled below)
#   mosquitto                  the MQTT tests start their own broker on a loopback port with a
#                              password file (the packaged service is stopped and disabled below)
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
  gcc-aarch64-linux-gnu
  g++-aarch64-linux-gnu
  libc6-dev-arm64-cross
  clang
  qemu-user
  binutils
  python3-venv
  systemd-container
  openssh-server
  openssh-client
  prometheus
  mosquitto
)

# Packages that bring a service the tests do not want running: the tests run their own
# broker, and promtool needs no server. Stopped and disabled after every run.
SERVICES=(prometheus prometheus-node-exporter mosquitto)
stop_services() {
  local s
  for s in "${SERVICES[@]}"; do
    if [ -d /run/systemd/system ]; then
      systemctl disable --now "$s" >/dev/null 2>&1 || true
    elif [ -x "/etc/init.d/$s" ]; then
      "/etc/init.d/$s" stop >/dev/null 2>&1 || true
      update-rc.d "$s" disable >/dev/null 2>&1 || true
    fi
  done
}

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-test-deps: all ${#PACKAGES[@]} packages present"
  stop_services
  exit 0
fi
echo "install-test-deps: installing ${missing[*]}"
"$(dirname "$0")/apt-install.sh" "${missing[@]}"
stop_services
echo "install-test-deps: done"
