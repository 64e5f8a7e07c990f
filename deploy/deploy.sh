#!/usr/bin/env bash
# deploy.sh -- build, copy and start the agent (or hub) on a Raspberry Pi over ssh.
#
#   deploy/deploy.sh user@host [--role agent|hub] [--prefix DIR] [--port N] [--identity KEY]
#                              [--target TRIPLE] [--config FILE] [--token-file FILE]
#                              [--no-systemctl] [--detect-only]
#
#   --role         agent (default) or hub
#   --port N       ssh port (default 22); --identity KEY: ssh private key
#   --target T     skip detection and build for T (see scripts/build-pi.sh --help)
#   --prefix DIR   install under DIR on the host (DIR/usr/local/bin, DIR/etc, ...), for
#                  tests; DIR/usr/local/sbin and DIR/usr/local/bin then come first on
#                  PATH there, as /usr/local/sbin does on a real system
#   --config FILE  the configuration to install (default: the example), only if the
#                  host has none yet
#   --token-file F the agent's token (from `hub --config F token ID`), only if the host
#                  has none yet
#   --no-systemctl install only; print the systemctl commands instead of running them
#   --detect-only  print the Rust target for the host's CPU and stop
#
# What it does:
#   1. `uname -m` on the host picks the target: aarch64/arm64 -> aarch64-unknown-linux-gnu
#      (armv7 when `getconf LONG_BIT` says 32: a 32-bit OS on a 64-bit kernel),
#      armv7l -> armv7-unknown-linux-gnueabihf, armv6l (Pi Zero W, Pi 1) ->
#      arm-unknown-linux-musleabihf (static, ARMv6), x86_64 -> x86_64-unknown-linux-gnu.
#   2. scripts/build-pi.sh TARGET ROLE builds it here (no Docker; fast when up to date).
#   3. Copies binary, unit and example configuration; installs /usr/local/bin/ROLE
#      (replaced atomically), /etc/systemd/system/ROLE.service, and
#      /etc/camera-ROLE/ROLE.toml only if there is none (the example always goes to
#      ROLE.toml.example); never touches recordings or the database.
#   4. Creates the system user camera-ROLE if missing (the agent's in group video),
#      and for the hub a random secret if there is none.
#   5. systemctl daemon-reload; enable --now ROLE (restart if it was running, which
#      is how a re-run upgrades in place).
# The host user must be root or have sudo without a password (the Pi OS default).
# Extra ssh options: DEPLOY_SSH_OPTS (e.g. "-o StrictHostKeyChecking=accept-new").
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
say() { printf 'deploy: %s\n' "$*" >&2; }
die() { printf 'deploy: ERROR: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '2,36p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

[ $# -ge 1 ] || usage
case "$1" in -h|--help) usage ;; -*) die "the first argument is user@host" ;; esac
HOST=$1; shift
ROLE=agent; PREFIX=""; PORT=22; IDENTITY=""; TARGET=""; CONFIG=""; TOKEN=""
SYSTEMCTL=1; DETECT_ONLY=0
while [ $# -gt 0 ]; do
    case "$1" in
        --role) ROLE=${2:?}; shift ;;
        --prefix) PREFIX=${2:?}; shift ;;
        --port) PORT=${2:?}; shift ;;
        --identity) IDENTITY=${2:?}; shift ;;
        --target) TARGET=${2:?}; shift ;;
        --config) CONFIG=${2:?}; shift ;;
        --token-file) TOKEN=${2:?}; shift ;;
        --no-systemctl) SYSTEMCTL=0 ;;
        --detect-only) DETECT_ONLY=1 ;;
        -h|--help) usage ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
    shift
done
case "$ROLE" in agent|hub) ;; *) die "--role is agent or hub, not '$ROLE'" ;; esac
case "$PREFIX" in ""|/*) ;; *) die "--prefix must be an absolute path" ;; esac
[ -z "$CONFIG" ] || [ -f "$CONFIG" ] || die "--config $CONFIG: no such file"
[ -z "$TOKEN" ] || [ -f "$TOKEN" ] || die "--token-file $TOKEN: no such file"
[ -z "$TOKEN" ] || [ "$ROLE" = agent ] || die "--token-file is for --role agent"

SSH_OPTS=(-o BatchMode=yes -o ConnectTimeout=15 -p "$PORT")
SCP_OPTS=(-q -o BatchMode=yes -o ConnectTimeout=15 -P "$PORT")
if [ -n "$IDENTITY" ]; then SSH_OPTS+=(-i "$IDENTITY" -o IdentitiesOnly=yes); SCP_OPTS+=(-i "$IDENTITY" -o IdentitiesOnly=yes); fi
# shellcheck disable=SC2206
EXTRA=(${DEPLOY_SSH_OPTS:-})
SSH_OPTS+=(${EXTRA[@]+"${EXTRA[@]}"}); SCP_OPTS+=(${EXTRA[@]+"${EXTRA[@]}"})
remote() { ssh "${SSH_OPTS[@]}" "$HOST" "$@"; }
# PATH on the host: with --prefix, DIR/usr/local/{sbin,bin} first.
RPATH='PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
[ -n "$PREFIX" ] && RPATH="PATH=$PREFIX/usr/local/sbin:$PREFIX/usr/local/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# ---- 1. which CPU ---------------------------------------------------------------
target_for() {
    case "$1" in
        aarch64|arm64) echo aarch64-unknown-linux-gnu ;;
        armv7l|armv8l) echo armv7-unknown-linux-gnueabihf ;;
        armv6l) echo arm-unknown-linux-musleabihf ;;
        x86_64) echo x86_64-unknown-linux-gnu ;;
        *) return 1 ;;
    esac
}
read -r MACHINE BITS < <(remote "$RPATH; echo \$(uname -m) \$(getconf LONG_BIT)") || die "ssh $HOST failed"
[ -n "${MACHINE:-}" ] || die "ssh $HOST: no answer from uname -m"
if [ -z "$TARGET" ]; then
    TARGET=$(target_for "$MACHINE") || die "$HOST: unsupported CPU '$MACHINE' (use --target)"
    if [ "$MACHINE" = aarch64 ] && [ "${BITS:-64}" = 32 ]; then
        # 32-bit Raspberry Pi OS on a Pi 3/4/5 may boot a 64-bit kernel: the
        # userland (what runs our binary) is armhf.
        TARGET=armv7-unknown-linux-gnueabihf
        MACHINE="$MACHINE (32-bit userland)"
    fi
    say "$HOST is $MACHINE: target $TARGET"
else
    say "$HOST is $MACHINE; building for --target $TARGET"
fi
if [ $DETECT_ONLY -eq 1 ]; then echo "$TARGET"; exit 0; fi

# ---- 2. build ---------------------------------------------------------------------
BIN=$("$ROOT/scripts/build-pi.sh" "$TARGET" "$ROLE" | tail -1) || die "build failed"
[ -f "$BIN" ] || die "build-pi.sh did not give a binary ($BIN)"

# ---- 3. copy ----------------------------------------------------------------------
STAGE=$(remote "mktemp -d /tmp/camera-deploy.XXXXXX") || die "mktemp on $HOST failed"
FILES=("$BIN" "$ROOT/systemd/$ROLE.service" "$ROOT/README.md")
EXAMPLE=$ROOT/agent/agent.example.toml
[ "$ROLE" = hub ] && EXAMPLE=$ROOT/deploy/hub.example.toml
TMPL=$(mktemp -d); trap 'rm -rf "$TMPL"' EXIT
cp "$EXAMPLE" "$TMPL/$ROLE.toml.example"
if [ -n "$CONFIG" ]; then cp "$CONFIG" "$TMPL/$ROLE.toml.new"; else cp "$EXAMPLE" "$TMPL/$ROLE.toml.new"; fi
if [ "$ROLE" = hub ] && [ -z "$CONFIG" ]; then
    # The hub on a Pi serves the network: agents and browsers connect from elsewhere.
    sed -i 's|^listen = "127.0.0.1:8080"|listen = "0.0.0.0:8080"|' "$TMPL/$ROLE.toml.new"
fi
FILES+=("$TMPL/$ROLE.toml.example" "$TMPL/$ROLE.toml.new")
[ -n "$TOKEN" ] && { cp "$TOKEN" "$TMPL/token.new"; FILES+=("$TMPL/token.new"); }
say "copying $(basename "$BIN") ($(stat -c %s "$BIN") bytes), unit and configuration to $HOST:$STAGE"
scp "${SCP_OPTS[@]}" "${FILES[@]}" "$HOST:$STAGE/" || die "scp to $HOST failed"

# ---- 4, 5. install on the host (as root) -------------------------------------------
SUDO=""
[ "$(remote id -u)" = 0 ] || SUDO="sudo -n"
# shellcheck disable=SC2087
remote "$SUDO env $RPATH bash -s -- '$ROLE' '$STAGE' '$PREFIX' '$SYSTEMCTL'" <<'REMOTE'
set -euo pipefail
ROLE=$1; STAGE=$2; P=$3; SYSTEMCTL=$4
trap 'rm -rf "$STAGE"' EXIT
say() { printf 'deploy@%s: %s\n' "$(hostname)" "$*" >&2; }
U=camera-$ROLE
CONF=$P/etc/camera-$ROLE
STATE=$P/var/lib/camera-$ROLE

if ! id -u "$U" >/dev/null 2>&1; then
    say "creating system user $U"
    if [ "$ROLE" = agent ]; then G=(--groups video); else G=(); fi
    useradd --system --user-group ${G[@]+"${G[@]}"} --home-dir "/var/lib/camera-$ROLE" --no-create-home \
        --shell /usr/sbin/nologin --comment "Camera $ROLE" "$U"
elif [ "$ROLE" = agent ] && ! id -nG "$U" | tr ' ' '\n' | grep -qx video; then
    say "adding $U to group video"
    usermod -aG video "$U"
fi
OWN=(); GRP=()
if getent group "$U" >/dev/null 2>&1; then OWN=(-o "$U" -g "$U"); GRP=(-g "$U"); fi

install -d -m 0755 "$P/usr/local/bin" "$P/etc/systemd/system" "$P/usr/local/share/doc/camera"
install -m 0755 "$STAGE/$ROLE" "$P/usr/local/bin/.$ROLE.new"
mv -f "$P/usr/local/bin/.$ROLE.new" "$P/usr/local/bin/$ROLE"       # atomic: a running binary stays intact
say "installed $P/usr/local/bin/$ROLE ($("$P/usr/local/bin/$ROLE" --version 2>/dev/null || echo 'cannot run it here'))"
install -m 0644 "$STAGE/$ROLE.service" "$P/etc/systemd/system/$ROLE.service"
install -m 0644 "$STAGE/README.md" "$P/usr/local/share/doc/camera/README.md"

install -d -m 0750 ${GRP[@]+"${GRP[@]}"} "$CONF"
install -m 0644 "$STAGE/$ROLE.toml.example" "$CONF/$ROLE.toml.example"
if [ -e "$CONF/$ROLE.toml" ]; then
    say "kept the existing $CONF/$ROLE.toml (the new example is $ROLE.toml.example)"
else
    install -m 0640 ${GRP[@]+"${GRP[@]}"} "$STAGE/$ROLE.toml.new" "$CONF/$ROLE.toml"
    say "installed $CONF/$ROLE.toml: edit it (every key is documented in it)"
fi
if [ -e "$STAGE/token.new" ]; then
    if [ -e "$CONF/token" ]; then say "kept the existing $CONF/token"
    else install -m 0600 ${OWN[@]+"${OWN[@]}"} "$STAGE/token.new" "$CONF/token"; say "installed $CONF/token"; fi
fi
if [ "$ROLE" = hub ] && [ ! -e "$CONF/secret" ]; then
    (umask 077; od -An -N32 -tx1 /dev/urandom | tr -d ' \n' > "$CONF/secret"; echo >> "$CONF/secret")
    [ ${#OWN[@]} -gt 0 ] && chown "$U:$U" "$CONF/secret"
    say "created the hub secret $CONF/secret (agent tokens derive from it)"
fi
install -d -m 0750 ${OWN[@]+"${OWN[@]}"} "$STATE"

UNIT_CMDS=("systemctl daemon-reload")
if [ "$SYSTEMCTL" != 1 ]; then
    UNIT_CMDS+=("systemctl enable $ROLE" "systemctl restart $ROLE")
elif systemctl is-active --quiet "$ROLE" 2>/dev/null; then
    UNIT_CMDS+=("systemctl enable $ROLE" "systemctl restart $ROLE")
else
    UNIT_CMDS+=("systemctl enable --now $ROLE")
fi
if [ "$SYSTEMCTL" = 1 ]; then
    for c in "${UNIT_CMDS[@]}"; do
        say "$c"
        # shellcheck disable=SC2086
        $c || { say "'$c' failed: see journalctl -u $ROLE"; exit 1; }
    done
    say "$ROLE is $(systemctl is-active "$ROLE" 2>/dev/null || true)"
else
    say "--no-systemctl: run these yourself: $(printf '%s; ' "${UNIT_CMDS[@]}")"
fi
REMOTE
say "done: $ROLE on $HOST ($MACHINE, $TARGET)"
if [ "$ROLE" = agent ]; then
    say "next: set hub_url and camera_id in /etc/camera-agent/agent.toml, put the token from"
    say "      'hub --config /etc/camera-hub/hub.toml token ID' into /etc/camera-agent/token (chmod 600,"
    say "      owner camera-agent), then: sudo systemctl restart agent; journalctl -u agent -f"
else
    say "next: sudo -u camera-hub hub --config /etc/camera-hub/hub.toml user add NAME"
fi
