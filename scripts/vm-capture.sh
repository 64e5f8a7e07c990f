#!/usr/bin/env bash
# vm-capture.sh: boots Debian's own kernel in qemu (TCG) with real V4L2 test
# drivers, so the agent can be tested against kernel drivers on a machine
# without cameras or loadable modules.
#
#   scripts/vm-capture.sh prepare [--vimc]
#       Downloads (apt-get download, nothing installed) the kernel package
#       that linux-image-amd64 points at, runs depmod on it, builds
#       v4l2loopback (Debian's v4l2loopback-dkms source) and, with --vimc,
#       vimc (from linux-source-6.1; Debian's kernel lacks it) against the
#       matching linux-headers, and unpacks udev. Cached outside the checkout
#       in ~/.cache/camera-system/vm/ (VM_CACHE overrides), keyed by the
#       kernel package's name and version (and the module sources' versions),
#       so every clone and CI run on the machine shares one preparation and a
#       new kernel package gets its own. One prepare at a time (flock).
#
#   scripts/vm-capture.sh run --share DIR [--modules "vivid v4l2loopback vimc"]
#       [--bin HOST_PATH[:GUEST_PATH]]... [--libcamera] [--timeout SECONDS]
#       Builds an initramfs (busybox, the modules in dependency order, each
#       --bin with the libraries ldd lists, v4l2-ctl, mjpeg-feed), boots it
#       with DIR shared over 9p at /mnt/host and user-mode networking (the
#       host's 127.0.0.1:PORT is 10.0.2.2:PORT in the guest), runs
#       /mnt/host/guest.sh, writes its output to DIR/guest.log, its exit
#       status to DIR/guest.rc and the serial console to DIR/console.log,
#       then powers off. --libcamera adds cam, libcamera's IPA modules and
#       udevd (libcamera 0.0.3 lists only devices udev has initialised).
#
# Needs (Debian 12): qemu-system-x86 busybox-static v4l-utils kmod cpio gcc
# make libc6-dev linux-headers-amd64, and for --libcamera libcamera-tools
# libcamera-ipa (scripts/install-test-deps.sh installs them). KVM is not
# used: TCG works everywhere, and a guest run takes seconds.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/camera-system/vm}
mkdir -p "$CACHE"

die() { echo "vm-capture: $*" >&2; exit 1; }
log() { echo "vm-capture: $*" >&2; }

# The kernel package linux-image-amd64 depends on (e.g. linux-image-6.1.0-56-amd64).
kernel_package() {
  apt-cache depends linux-image-amd64 2>/dev/null |
    awk '/Depends: linux-image-[0-9]/{print $2; exit}'
}

# The candidate version of a Debian package (apt-cache), e.g. 6.1.192-3.
pkg_version() {
  apt-cache show --no-all-versions "$1" 2>/dev/null | awk '/^Version:/{print $2; exit}'
}

# apt-get download PACKAGE into $CACHE/deb (once); prints the .deb path.
fetch_deb() {
  local pkg=$1 deb
  mkdir -p "$CACHE/deb"
  deb=$(ls "$CACHE/deb/${pkg}"_*.deb 2>/dev/null | head -1 || true)
  if [ -z "$deb" ]; then
    (cd "$CACHE/deb" && apt-get download "$pkg" >/dev/null 2>&1) ||
      die "apt-get download $pkg failed (run apt-get update?)"
    deb=$(ls "$CACHE/deb/${pkg}"_*.deb | head -1)
  fi
  echo "$deb"
}

prepare() {
  local want_vimc=$1
  local kpkg kv kroot headers key
  exec 7>"$CACHE/.prepare.lock"
  flock 7
  kpkg=$(kernel_package)
  [ -n "$kpkg" ] || die "apt-cache knows no linux-image-amd64 dependency (run apt-get update)"
  key=${kpkg}_$(pkg_version "$kpkg")
  kroot=$CACHE/kroot-$key
  if [ ! -d "$kroot" ]; then
    log "unpacking $kpkg"
    dpkg-deb -x "$(fetch_deb "$kpkg")" "$kroot.tmp" && mv "$kroot.tmp" "$kroot"
    rm -f "$CACHE/deb/${kpkg}"_*.deb
    log "cached $kpkg in $kroot"
  else
    log "cached: $kroot"
  fi
  kv=$(ls "$kroot/lib/modules" | head -1)
  [ -f "$kroot/lib/modules/$kv/modules.dep" ] || depmod -b "$kroot" "$kv"
  echo "$key" > "$CACHE/kernel"
  local mods=$CACHE/mod-$key
  headers=/usr/src/linux-headers-$kv
  if [ ! -d "$headers" ]; then
    log "installing linux-headers-$kv (to build the out-of-tree modules)"
    "$ROOT/scripts/apt-install.sh" "linux-headers-$kv" >&2 ||
      die "$headers missing and apt-get install linux-headers-$kv failed"
  fi

  local loop_ko=$mods/v4l2loopback-$(pkg_version v4l2loopback-dkms).ko
  if [ ! -f "$loop_ko" ]; then
    log "building v4l2loopback for $kv"
    local src=$CACHE/v4l2loopback-src
    rm -rf "$src" && dpkg-deb -x "$(fetch_deb v4l2loopback-dkms)" "$src"
    local dir
    dir=$(echo "$src"/usr/src/v4l2loopback-*)
    make -s -C "$headers" M="$dir" modules >/dev/null
    mkdir -p "$mods" && cp "$dir/v4l2loopback.ko" "$loop_ko.tmp" && mv "$loop_ko.tmp" "$loop_ko"
    rm -rf "$src"
  fi
  ln -sf "$(basename "$loop_ko")" "$mods/v4l2loopback.ko"
  local series=${kv%%.0-*}
  local vimc_ko=$mods/vimc-$(pkg_version "linux-source-$series").ko
  if [ "$want_vimc" = yes ] && [ ! -f "$vimc_ko" ]; then
    log "building vimc for $kv from linux-source"
    local lsrc=$CACHE/linux-source deb
    deb=$(fetch_deb "linux-source-$series")
    rm -rf "$lsrc" && mkdir -p "$lsrc"
    dpkg-deb --fsys-tarfile "$deb" |
      tar -x -C "$lsrc" --wildcards '*/linux-source-*.tar.xz'
    tar -xaf "$lsrc"/usr/src/linux-source-*.tar.xz -C "$lsrc" --wildcards '*/drivers/media/test-drivers/vimc'
    local dir
    dir=$(echo "$lsrc"/linux-source-*/drivers/media/test-drivers/vimc)
    make -s -C "$headers" M="$dir" CONFIG_VIDEO_VIMC=m modules >/dev/null
    mkdir -p "$mods" && cp "$dir/vimc.ko" "$vimc_ko.tmp" && mv "$vimc_ko.tmp" "$vimc_ko"
    rm -rf "$lsrc" "$deb"
  fi
  [ -f "$vimc_ko" ] && ln -sf "$(basename "$vimc_ko")" "$mods/vimc.ko"
  local udev=$CACHE/udev-$(pkg_version udev)
  if [ ! -x "$udev/bin/udevadm" ]; then
    rm -rf "$udev" "$udev.tmp" && dpkg-deb -x "$(fetch_deb udev)" "$udev.tmp" && mv "$udev.tmp" "$udev"
  fi
  # The guest's MJPEG feeder, keyed by its source.
  local feed=$CACHE/mjpeg-feed-$(sha256sum "$ROOT/scripts/vm/mjpeg-feed.c" | cut -c1-16)
  if [ ! -x "$feed" ]; then
    gcc -O2 -static -o "$feed.tmp" "$ROOT/scripts/vm/mjpeg-feed.c" && mv "$feed.tmp" "$feed"
  fi
  log "ready: kernel $kv in $kroot"
}

# copy_with_libs HOST_PATH GUEST_PATH: the file and every library ldd lists.
copy_with_libs() {
  local src dst=$INITRD$2 lib
  src=$(readlink -f "$1")
  install -D -m 755 "$src" "$dst"
  if file_is_elf "$src"; then
    for lib in $(ldd "$src" 2>/dev/null | grep -o '/[^ ]*' || true); do
      [ -e "$INITRD$lib" ] || install -D "$(readlink -f "$lib")" "$INITRD$lib"
    done
  fi
}
file_is_elf() { [ "$(head -c 4 "$1" | od -An -c | tr -d ' ')" = "177ELF" ]; }

run() {
  local share="" modules="" timeout=300 libcamera=no bins=()
  while [ $# -gt 0 ]; do
    case $1 in
      --share) share=$2; shift 2 ;;
      --modules) modules=$2; shift 2 ;;
      --bin) bins+=("$2"); shift 2 ;;
      --libcamera) libcamera=yes; shift ;;
      --timeout) timeout=$2; shift 2 ;;
      *) die "unknown option $1" ;;
    esac
  done
  [ -n "$share" ] && [ -d "$share" ] || die "--share DIR (an existing directory) is required"
  [ -f "$share/guest.sh" ] || die "$share/guest.sh missing: it is what the guest runs"
  [ -f "$CACHE/kernel" ] || die "not prepared: run scripts/vm-capture.sh prepare first"
  local key kroot kv mods feed udev
  key=$(cat "$CACHE/kernel"); kroot=$CACHE/kroot-$key; mods=$CACHE/mod-$key
  feed=$CACHE/mjpeg-feed-$(sha256sum "$ROOT/scripts/vm/mjpeg-feed.c" | cut -c1-16)
  udev=$CACHE/udev-$(pkg_version udev)
  [ -x "$feed" ] || die "mjpeg-feed not built for this source: run scripts/vm-capture.sh prepare"
  kv=$(ls "$kroot/lib/modules" | head -1)

  WORK=$(mktemp -d "$CACHE/run.XXXXXX"); local work=$WORK
  trap 'rm -rf "$WORK"' EXIT
  INITRD=$work/root
  mkdir -p "$INITRD"/{bin,dev,proc,sys,tmp,run,mnt/host,lib/modules,etc}
  cp /bin/busybox "$INITRD/bin/busybox"

  # Modules in dependency order: 9p for the share, virtio-net for the network,
  # then the camera drivers (out-of-tree ones after their in-tree dependencies).
  local load="" m f b
  add_module() {
    for f in $(modprobe -d "$kroot" -S "$kv" --show-depends "$1" | awk '$1=="insmod"{print $2}'); do
      b=$(basename "$f")
      if [ ! -f "$INITRD/lib/modules/$b" ]; then cp "$f" "$INITRD/lib/modules/"; load="$load $b"; fi
    done
  }
  for m in 9p 9pnet_virtio virtio_pci virtio_net; do add_module "$m"; done
  for m in $modules; do
    case $m in
      vivid) add_module vivid ;;
      v4l2loopback|vimc)
        [ -f "$mods/$m.ko" ] || die "$m.ko not built: run scripts/vm-capture.sh prepare${m/v4l2loopback/}"
        for d in $(modinfo -F depends "$mods/$m.ko" | tr , ' '); do add_module "$d"; done
        cp -L "$mods/$m.ko" "$INITRD/lib/modules/$m.ko"; load="$load $m.ko" ;;
      *) die "unknown module $m" ;;
    esac
  done

  copy_with_libs /usr/bin/v4l2-ctl /bin/v4l2-ctl
  install -m 755 "$feed" "$INITRD/bin/mjpeg-feed"
  local spec host guest
  for spec in "${bins[@]}"; do
    host=${spec%%:*}; guest=${spec#*:}
    [ "$guest" = "$spec" ] && guest=/bin/$(basename "$host")
    [ -f "$host" ] || die "--bin $host: no such file"
    copy_with_libs "$host" "$guest"
    if file_is_elf "$host"; then strip --strip-debug "$INITRD$guest" 2>/dev/null || true; fi
  done
  if [ "$libcamera" = yes ]; then
    command -v cam >/dev/null || die "cam missing: apt-get install libcamera-tools libcamera-ipa"
    copy_with_libs "$(command -v cam)" /usr/bin/cam
    local ipa
    for ipa in /usr/lib/x86_64-linux-gnu/libcamera/*; do
      [ -f "$ipa" ] && copy_with_libs "$ipa" "$ipa"
    done
    mkdir -p "$INITRD/usr/share" && cp -r /usr/share/libcamera "$INITRD/usr/share/"
    [ -x "$udev/bin/udevadm" ] || die "udev not unpacked: run scripts/vm-capture.sh prepare"
    copy_with_libs "$udev/bin/udevadm" /bin/udevadm
    ln -sf /bin/udevadm "$INITRD/bin/systemd-udevd"
    mkdir -p "$INITRD/lib/udev" && cp -r "$udev/lib/udev/rules.d" "$INITRD/lib/udev/"
  fi

  cat > "$INITRD/init" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp; mount -t tmpfs run /run
for m in $load; do
  case \$m in
    vivid.ko) insmod /lib/modules/\$m n_devs=1 node_types=0x1 input_types=0x0 ;;
    v4l2loopback.ko) insmod /lib/modules/\$m devices=1 video_nr=10 exclusive_caps=1 card_label=LoopbackMJPEG ;;
    *) insmod /lib/modules/\$m ;;
  esac || echo "vm: insmod \$m failed"
done
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 host /mnt/host || echo "vm: no 9p share"
ip link set lo up; ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0; ip route add default via 10.0.2.2
echo "127.0.0.1 localhost" > /etc/hosts
if [ $libcamera = yes ]; then
  systemd-udevd --daemon --resolve-names=never; udevadm trigger --action=add; udevadm settle -t 20
fi
echo "vm: ready at \$(cut -d' ' -f1 /proc/uptime) s: \$(ls /dev/video* /dev/media* 2>/dev/null | tr '\n' ' ')"
cd /mnt/host
sh /mnt/host/guest.sh > /mnt/host/guest.log 2>&1
echo \$? > /mnt/host/guest.rc
echo "vm: guest.sh exit \$(cat /mnt/host/guest.rc) at \$(cut -d' ' -f1 /proc/uptime) s"
dmesg > /mnt/host/dmesg.txt
sync; poweroff -f
EOF
  chmod 755 "$INITRD/init"
  (cd "$INITRD" && find . | cpio -o -H newc --quiet | gzip -1) > "$work/initramfs.gz"
  log "initramfs $(du -h "$work/initramfs.gz" | cut -f1), modules:$load"

  rm -f "$share/guest.rc" "$share/guest.log"
  local started=$SECONDS status=0
  timeout --kill-after=10 "$timeout" qemu-system-x86_64 -accel tcg -cpu max -smp 2 -m 1536 \
    -nographic -no-reboot \
    -nic user,model=virtio-net-pci \
    -kernel "$kroot/boot/vmlinuz-$kv" -initrd "$work/initramfs.gz" \
    -append "console=ttyS0 quiet panic=-1" \
    -virtfs local,path="$share",mount_tag=host,security_model=none,id=host \
    </dev/null > "$share/console.log" 2>&1 || status=$?
  log "qemu exit $status after $((SECONDS - started)) s (console: $share/console.log)"
  [ $status -eq 0 ] || die "qemu failed or timed out (exit $status)"
  [ -f "$share/guest.rc" ] || die "the guest did not finish guest.sh (see $share/console.log)"
  log "guest.sh exit $(cat "$share/guest.rc")"
}

case ${1:-} in
  prepare) shift; prepare "$([ "${1:-}" = --vimc ] && echo yes || echo no)" ;;
  run) shift; run "$@" ;;
  *) echo "usage: $0 prepare [--vimc] | run --share DIR [options] (see the top of this file)" >&2; exit 2 ;;
esac
