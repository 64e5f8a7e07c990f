#!/usr/bin/env bash
# build-pi.sh -- Docker-free cross build of the agent (or hub) for a Raspberry Pi.
#
#   scripts/build-pi.sh TARGET [agent|hub] [--no-v4l2] [--no-install] [--no-smoke]
#
# TARGET (aliases in brackets):
#   aarch64-unknown-linux-gnu      [aarch64, arm64, pi64]  Pi 3/4/5, Zero 2 W on a 64-bit OS
#   armv7-unknown-linux-gnueabihf  [armv7, armhf]          32-bit OS on Pi 2/3/4 (NOT the Zero W)
#   arm-unknown-linux-musleabihf   [armv6, zero, pi1]      Pi Zero W / Pi 1: ARMv6, static musl
#   arm-unknown-linux-gnueabihf    [armv6-gnu]             Pi Zero W / Pi 1: ARMv6, glibc >= 2.36
#   x86_64-unknown-linux-gnu       [x86_64]                a PC hub (native build, same profile)
#
# Needs only registry packages, and installs what is missing (saying what):
#   Debian: gcc/g++ cross compilers and libc6-dev-*-cross (glibc targets),
#           clang + libclang-dev (bindgen for the v4l crate), qemu-user (smoke run)
#   rustup: the target's std (aarch64, armv7); nightly + rust-src for ARMv6 (-Zbuild-std)
#   PyPI:   ziglang + cargo-zigbuild in a venv (ARMv6 targets), cached outside the
#           checkout in ~/.cache/camera-system/pi-tools/, keyed by their versions
# Exit status: 0 built and checked, 1 build or check failed, 2 usage,
# 3 the toolchain could not be installed.
# It is idempotent: a second run with nothing changed takes a second or two.
#
# The binary goes to ${CARGO_TARGET_DIR:-target-pi}/TARGET/pi/BIN (profile `pi`
# in Cargo.toml: opt-level s, fat LTO, panic=abort, stripped). Its path is the
# last line on stdout; everything else goes to stderr. The script fails if the
# binary is not for the requested CPU (readelf), e.g. ARMv7 code in an ARMv6
# build, and (unless --no-smoke) if `BIN --version` does not run under qemu-user.
#
# Env: CARGO_TARGET_DIR (default ROOT/target-pi), PI_TOOLS_DIR (default
# ~/.cache/camera-system/pi-tools), PI_BUILD_JOBS (cargo -j).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
say() { printf 'build-pi: %s\n' "$*" >&2; }
die() { printf 'build-pi: ERROR: %s\n' "$*" >&2; exit 1; }
bad_usage() { printf 'build-pi: ERROR: %s (see --help)\n' "$*" >&2; exit 2; }
# Exit status 3: the toolchain could not be installed (tests skip on it).
die_tool() { printf 'build-pi: ERROR: cannot set up the toolchain: %s\n' "$*" >&2; exit 3; }
loud() {
    printf '\n' >&2
    printf 'build-pi: !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n' >&2
    for l in "$@"; do printf 'build-pi: !!! %s\n' "$l" >&2; done
    printf 'build-pi: !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\n' >&2
}
usage() { sed -n '2,29p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

[ $# -ge 1 ] || usage
case "$1" in -h|--help) usage ;; esac
TARGET_IN=$1; shift
BIN=agent
NO_V4L2=0; INSTALL=1; SMOKE=1
while [ $# -gt 0 ]; do
    case "$1" in
        agent|hub) BIN=$1 ;;
        --no-v4l2) NO_V4L2=1 ;;
        --no-install) INSTALL=0 ;;
        --no-smoke) SMOKE=0 ;;
        -h|--help) usage ;;
        *) bad_usage "unknown argument '$1'" ;;
    esac
    shift
done

# ---- what each target needs --------------------------------------------------
# MODE gcc: stable rustup std + Debian's cross gcc as linker and C compiler.
# MODE zig: nightly -Zbuild-std (rustup has no std for ARMv6 here) + cargo-zigbuild
#           (zig cc targets ARMv6 correctly; Debian's armhf gcc emits ARMv7 code and
#           CRT objects that die with SIGILL on a Zero W).
case "$TARGET_IN" in
    aarch64|arm64|pi64|aarch64-unknown-linux-gnu)
        TARGET=aarch64-unknown-linux-gnu; MODE=gcc; GNU=aarch64-linux-gnu
        APT=(gcc-aarch64-linux-gnu g++-aarch64-linux-gnu libc6-dev-arm64-cross)
        WANT_ARCH=aarch64; QEMU=(qemu-aarch64 -L /usr/aarch64-linux-gnu) ;;
    armv7|armhf|armv7-unknown-linux-gnueabihf)
        TARGET=armv7-unknown-linux-gnueabihf; MODE=gcc; GNU=arm-linux-gnueabihf
        APT=(gcc-arm-linux-gnueabihf g++-arm-linux-gnueabihf libc6-dev-armhf-cross)
        WANT_ARCH=v7; QEMU=(qemu-arm -cpu cortex-a7 -L /usr/arm-linux-gnueabihf) ;;
    armv6|zero|pi1|arm-unknown-linux-musleabihf)
        TARGET=arm-unknown-linux-musleabihf; MODE=zig; ZIG_TARGET=$TARGET
        APT=(); WANT_ARCH=v6; QEMU=(qemu-arm -cpu arm1176) ;;
    armv6-gnu|arm-unknown-linux-gnueabihf)
        # glibc 2.36 = Raspberry Pi OS bookworm. No ARMv6 glibc exists on Debian, so the
        # smoke run uses qemu's default CPU with Debian's (ARMv7) armhf libc.
        TARGET=arm-unknown-linux-gnueabihf; MODE=zig; ZIG_TARGET=$TARGET.2.36
        APT=(libc6-dev-armhf-cross); WANT_ARCH=v6; QEMU=(qemu-arm -L /usr/arm-linux-gnueabihf) ;;
    x86_64|amd64|x86_64-unknown-linux-gnu)
        TARGET=x86_64-unknown-linux-gnu; MODE=native
        APT=(); WANT_ARCH=x86_64; QEMU=() ;;
    *) bad_usage "unknown target '$TARGET_IN'" ;;
esac
APT+=(clang libclang-dev)
[ $SMOKE -eq 1 ] && APT+=(qemu-user)
APT+=(binutils)   # readelf

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target-pi}
TOOLS=${PI_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/camera-system/pi-tools}
ZIGLANG_VERSION=0.17.0
ZIGBUILD_VERSION=0.24.0
# One venv per (python, ziglang, cargo-zigbuild): shared by every checkout.
VENV=$TOOLS/venv-py$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')-zig$ZIGLANG_VERSION-zigbuild$ZIGBUILD_VERSION
mkdir -p "$TOOLS" "$CARGO_TARGET_DIR"

# ---- install what is missing (serialised: tests may call us concurrently) ------
# Debian packages go through scripts/apt-install.sh (one machine-wide lock; the
# test command installs them all beforehand); rustup and the zig venv under the
# lock below.

install_apt() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    [ $INSTALL -eq 1 ] || die_tool "missing Debian packages: ${missing[*]} (run without --no-install, or apt-get install them)"
    say "installing Debian packages: ${missing[*]}"
    "$ROOT/scripts/apt-install.sh" "${missing[@]}" >&2 \
        || die_tool "apt-get install ${missing[*]} failed (need root or sudo)"
}

install_rust() {
    [ "$MODE" = native ] && return 0
    command -v rustup >/dev/null || die_tool "rustup not found (https://rustup.rs); it installs the Rust targets"
    if [ "$MODE" = gcc ]; then
        if ! rustup target list --installed | grep -qx "$TARGET"; then
            [ $INSTALL -eq 1 ] || die_tool "rustup target $TARGET missing"
            say "installing rustup target $TARGET"
            rustup target add "$TARGET" >&2 || die_tool "rustup target add $TARGET failed"
        fi
    else
        if ! rustup toolchain list | grep -q '^nightly-'; then
            [ $INSTALL -eq 1 ] || die_tool "nightly toolchain missing"
            say "installing the nightly toolchain (for -Zbuild-std)"
            rustup toolchain install nightly --profile minimal --component rust-src >&2 || die_tool "rustup toolchain install nightly failed"
        fi
        if ! rustup component list --toolchain nightly --installed | grep -q '^rust-src'; then
            [ $INSTALL -eq 1 ] || die_tool "nightly rust-src missing"
            say "installing nightly rust-src (for -Zbuild-std)"
            rustup component add rust-src --toolchain nightly >&2 || die_tool "rustup component add rust-src failed"
        fi
    fi
}

install_zig() {
    if [ -x "$VENV/bin/cargo-zigbuild" ] && "$VENV/bin/python" -m ziglang version >/dev/null 2>&1; then
        return 0
    fi
    [ $INSTALL -eq 1 ] || die_tool "ziglang/cargo-zigbuild missing in $VENV"
    say "installing ziglang==$ZIGLANG_VERSION cargo-zigbuild==$ZIGBUILD_VERSION from PyPI into $VENV"
    if ! python3 -m venv "$VENV" >&2; then
        install_apt python3-venv
        python3 -m venv "$VENV" >&2 || die_tool "python3 -m venv failed"
    fi
    "$VENV/bin/pip" install -q --disable-pip-version-check \
        "ziglang==$ZIGLANG_VERSION" "cargo-zigbuild==$ZIGBUILD_VERSION" >&2 \
        || die_tool "pip install ziglang cargo-zigbuild failed"
}

exec 9>"$TOOLS/.install.lock"
flock 9
install_apt "${APT[@]}"
install_rust
[ "$MODE" = zig ] && install_zig
flock -u 9

# ---- build ------------------------------------------------------------------------
T_=${TARGET//-/_}
TU=$(echo "$T_" | tr '[:lower:]' '[:upper:]')
# bindgen (v4l2-sys-mit) runs libclang for the target: it needs the target's libc and
# kernel headers. bindgen adds --target itself (from $TARGET); we add the include dirs
# and keep the host's /usr/include out.
BINDGEN_ARGS=""
if [ "$MODE" = native ]; then
    CARGO=(cargo build)
elif [ "$MODE" = gcc ]; then
    export "CARGO_TARGET_${TU}_LINKER=$GNU-gcc"
    export "CC_${T_}=$GNU-gcc" "CXX_${T_}=$GNU-g++" "AR_${T_}=$GNU-ar"
    BINDGEN_ARGS="--target=$GNU -nostdlibinc -I/usr/$GNU/include"
    CARGO=(cargo build)
else
    export PATH="$VENV/bin:$PATH"
    ZL=$("$VENV/bin/python" -m ziglang env | sed -n 's/.*\.lib_dir = "\(.*\)",/\1/p')
    case "$ZL" in /*) ;; *) ZL=$PWD/$ZL ;; esac
    [ -d "$ZL/libc/include" ] || die "zig's libc headers not found (lib_dir '$ZL')"
    I=$ZL/libc/include
    if [ "$TARGET" = arm-unknown-linux-musleabihf ]; then
        LIBC_INC="-I$I/arm-linux-musl -I$I/generic-musl"
        # rustc would look for its own self-contained crt1.o (part of the rust-std that
        # rustup lacks for this target); let zig provide musl's CRT instead.
        export RUSTFLAGS="${RUSTFLAGS:-} -C link-self-contained=no"
    else
        LIBC_INC="-I$I/arm-linux-gnu -I$I/generic-glibc"
    fi
    BINDGEN_ARGS="--target=$TARGET -nostdlibinc $LIBC_INC -I$I/arm-linux-any -I$I/any-linux-any"
    CARGO=(cargo +nightly zigbuild -Zbuild-std=std,panic_abort)
fi

# bindgen reads BINDGEN_EXTRA_CLANG_ARGS_<target> with the triple as written first;
# cargo-zigbuild sets that spelling itself (zig's sysroot, without the kernel
# headers), so we set it too (a name with dashes needs `env`).
BINDGEN_ENV=()
[ -n "$BINDGEN_ARGS" ] && BINDGEN_ENV=("BINDGEN_EXTRA_CLANG_ARGS_${TARGET}=$BINDGEN_ARGS" "BINDGEN_EXTRA_CLANG_ARGS_${T_}=$BINDGEN_ARGS")

FEATURES=()
[ $NO_V4L2 -eq 1 ] && [ "$BIN" = agent ] && FEATURES=(--no-default-features)
JOBS=()
[ -n "${PI_BUILD_JOBS:-}" ] && JOBS=(-j "$PI_BUILD_JOBS")
BUILD_TARGET=${ZIG_TARGET:-$TARGET}
LOG=$CARGO_TARGET_DIR/build-$TARGET-$BIN.log

run_cargo() {
    say "$ ${CARGO[*]} --profile pi --target $BUILD_TARGET -p $BIN --bin $BIN ${JOBS[*]} $*"
    (cd "$ROOT" && env ${BINDGEN_ENV[@]+"${BINDGEN_ENV[@]}"} "${CARGO[@]}" --profile pi --target "$BUILD_TARGET" -p "$BIN" --bin "$BIN" "${JOBS[@]}" "$@") 2>&1 \
        | tee "$LOG" >&2
    return "${PIPESTATUS[0]}"
}

T0=$(date +%s)
if ! run_cargo "${FEATURES[@]}"; then
    if [ "$BIN" = agent ] && [ ${#FEATURES[@]} -eq 0 ] && grep -qE 'custom build command for `v4l2-sys|could not compile `v4l' "$LOG"; then
        loud "V4L2 (the v4l crate's bindgen step) did not build for $TARGET." \
             "Building the agent WITHOUT V4L2 (--no-default-features): USB webcams" \
             "(source kind = \"v4l2\") will be refused; testsrc and rpicam still work." \
             "Log of the failed build: $LOG.v4l2-failed"
        NO_V4L2=1
        cp "$LOG" "$LOG.v4l2-failed"
        run_cargo --no-default-features || die "build failed, also without V4L2 (log: $LOG)"
    else
        die "build failed (log: $LOG)"
    fi
fi
SECS=$(( $(date +%s) - T0 ))
OUT=$CARGO_TARGET_DIR/$TARGET/pi/$BIN
[ -f "$OUT" ] || die "expected binary not found at $OUT"

# ---- check the architecture ----------------------------------------------------------
MACHINE=$(readelf -h "$OUT" | sed -n 's/^ *Machine: *//p')
case "$WANT_ARCH" in
    aarch64)
        [ "$MACHINE" = AArch64 ] || die "$OUT is '$MACHINE', not AArch64"
        ARCH_DESC="AArch64" ;;
    x86_64)
        [ "$MACHINE" = "Advanced Micro Devices X86-64" ] || die "$OUT is '$MACHINE', not x86-64"
        ARCH_DESC="x86-64" ;;
    v6|v7)
        [ "$MACHINE" = ARM ] || die "$OUT is '$MACHINE', not ARM"
        CPU=$(readelf -A "$OUT" | sed -n 's/^ *Tag_CPU_arch: *//p' | head -1)
        [ "$CPU" = "$WANT_ARCH" ] \
            || die "$OUT has Tag_CPU_arch '$CPU', expected '$WANT_ARCH': it would not run on the intended Pi"
        ARCH_DESC="ARM Tag_CPU_arch $CPU, $(readelf -A "$OUT" | sed -n 's/^ *Tag_FP_arch: *//p' | head -1)" ;;
esac
if readelf -l "$OUT" | grep -q 'INTERP'; then
    LINK="dynamic, needs $(readelf -l "$OUT" | sed -n 's/.*interpreter: \(.*\)]/\1/p')"
    GLIBC=$(readelf -V "$OUT" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1 || true)
    [ -n "$GLIBC" ] && LINK="$LINK, newest symbol $GLIBC"
else
    LINK="static"
fi
SIZE=$(stat -c %s "$OUT")

# ---- smoke run under qemu-user -----------------------------------------------------------
if [ $SMOKE -eq 1 ]; then
    if V=$(timeout 60 "${QEMU[@]}" "$OUT" --version 2>&1); then
        say "runs under '${QEMU[*]}': $V"
    else
        die "'${QEMU[*]} $OUT --version' failed: $V"
    fi
fi

say "built $BIN for $TARGET in ${SECS}s: $SIZE bytes, $ARCH_DESC, $LINK"
if [ "$BIN" = agent ] && [ $NO_V4L2 -eq 1 ]; then
    loud "This agent was built WITHOUT V4L2: source kind \"v4l2\" (USB webcams) is refused."
fi
echo "$OUT"
