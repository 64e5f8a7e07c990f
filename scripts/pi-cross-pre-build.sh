#!/bin/sh
# pi-cross-pre-build.sh TARGET -- cross-rs pre-build hook (see Cross.toml): runs as root
# inside cross's Docker image while it is built. The agent's v4l crate runs bindgen,
# which needs libclang and the TARGET's kernel headers (linux/videodev2.h) and libc
# headers. cross's images carry those in the cross toolchain's sysroot (Debian
# /usr/<triple>/include, or crosstool-ng's /x-tools/.../sysroot/usr/include); this
# links that directory to /opt/pi-target-include, which Cross.toml hands to bindgen.
# Untested here (no Docker engine on the development machine).
set -eu
echo "pi-cross-pre-build: target ${1:-?}"
apt-get update
apt-get install --assume-yes --no-install-recommends libclang-dev clang
H=$(find / -xdev -path '*/include/linux/videodev2.h' ! -path '/usr/include/*' 2>/dev/null | head -1)
if [ -z "$H" ]; then
    echo "pi-cross-pre-build: no target linux/videodev2.h in the image" >&2
    exit 1
fi
ln -sfn "$(dirname "$(dirname "$H")")" /opt/pi-target-include
echo "pi-cross-pre-build: bindgen includes /opt/pi-target-include -> $(readlink /opt/pi-target-include)"
