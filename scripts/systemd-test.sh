#!/usr/bin/env bash
# systemd-test.sh -- checks systemd/agent.service and systemd/hub.service for real.
#
#   scripts/systemd-test.sh AGENT_BIN HUB_BIN
#
# 1. `systemd-analyze verify` of both units, exactly as shipped except that
#    ExecStart= points at the given binaries; ANY output counts as a failure
#    (verify only warns, with exit 0, on unknown keys and bad values).
# 2. Boots systemd as PID 1 in a throwaway container of this machine's own /usr
#    (`systemd-nspawn -D / --volatile=yes --private-network`: tmpfs root, own
#    loopback), installs the units as shipped plus a drop-in that only swaps the
#    binary path (and shortens WatchdogSec=), creates the service users with
#    systemd-sysusers, and checks:
#      - agent.service (testsrc, recording on, hub unreachable) becomes active:
#        READY=1 comes with the first captured frame;
#      - it records a segment into /var/lib/camera-agent/recordings despite
#        ProtectSystem=strict (ReadWritePaths=);
#      - after `systemctl kill -s STOP` the watchdog restarts it (new MainPID,
#        NRestarts=1, active again);
#      - hub.service becomes active (READY=1 after binding) and answers HTTP.
#    The container is always halted on exit (trap), within a bounded time.
# Needs root and systemd-container (installed if missing). Prints PASS/FAIL lines.
set -uo pipefail

AGENT_BIN=$(realpath "$1"); HUB_BIN=$(realpath "$2")
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FAILS=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root"; exit 77; }
if ! command -v systemd-nspawn >/dev/null; then
    echo "installing systemd-container"
    "$ROOT/scripts/apt-install.sh" systemd-container || { echo "SKIP: cannot install systemd-container"; exit 77; }
fi

TMP=$(mktemp -d /tmp/pi-systemd.XXXXXX)
NP=""
cleanup() {
    if [ -n "$NP" ] && kill -0 "$NP" 2>/dev/null; then
        kill "$NP" 2>/dev/null                      # SIGTERM: the container powers off
        for _ in $(seq 40); do kill -0 "$NP" 2>/dev/null || break; sleep 0.25; done
        kill "$NP" 2>/dev/null                      # a second SIGTERM: immediate
        for _ in $(seq 20); do kill -0 "$NP" 2>/dev/null || break; sleep 0.25; done
        kill -KILL "$NP" 2>/dev/null
        wait "$NP" 2>/dev/null
        echo "container halted"
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT

# ---- 1. static check -----------------------------------------------------------------
for u in agent hub; do
    bin=$AGENT_BIN; [ $u = hub ] && bin=$HUB_BIN
    sed "s|^ExecStart=/usr/local/bin/$u |ExecStart=$bin |" "$ROOT/systemd/$u.service" > "$TMP/$u.service"
    grep -q "^ExecStart=$bin " "$TMP/$u.service" || { fail "$u.service: ExecStart is not /usr/local/bin/$u"; continue; }
    OUT=$(systemd-analyze verify "$TMP/$u.service" 2>&1); RC=$?
    if [ $RC -eq 0 ] && [ -z "$OUT" ]; then pass "systemd-analyze verify $u.service: no output"
    else fail "systemd-analyze verify $u.service (rc $RC): $OUT"; fi
    SEC=$(systemd-analyze security --offline=true "$TMP/$u.service" 2>/dev/null | tail -1)
    echo "info: systemd-analyze security $u.service: ${SEC#→ }"
done

# ---- 2. real start under systemd as PID 1 --------------------------------------------
mkdir -p "$TMP/opt"
cp "$AGENT_BIN" "$TMP/opt/agent"; cp "$HUB_BIN" "$TMP/opt/hub"
cat > "$TMP/opt/agent.toml" <<'EOF'
hub_url = "ws://127.0.0.1:9/video-input-stream"
camera_id = 1
token_file = "/etc/camera-agent/token"
stats_interval = "60s"
state_dir = "/var/lib/camera-agent"
[source]
kind = "testsrc"
width = 320
height = 240
fps = 10
[uplink]
backoff_initial = "1s"
backoff_max = "2s"
[record]
enabled = true
dir = "/var/lib/camera-agent/recordings"
segment_duration = "2s"
gop = 10
bitrate = "300kbps"
EOF
cat > "$TMP/opt/hub.toml" <<'EOF'
listen = "127.0.0.1:8080"
data_dir = "/var/lib/camera-hub"
secret_file = "/etc/camera-hub/secret"
[[camera]]
id = 1
name = "front-door"
kind = "agent"
EOF

MACHINE=pitest$$
systemd-nspawn -D / --volatile=yes --private-network --register=no --keep-unit -b --console=pipe \
    --machine="$MACHINE" --bind-ro="$TMP/opt:/opt/pitest" >"$TMP/boot.log" 2>&1 </dev/null &
NP=$!
C=""; S=""
for _ in $(seq 150); do
    C=$(ps -o pid= --ppid "$NP" | head -1 | tr -d ' ')
    if [ -n "$C" ]; then
        S=$(nsenter -t "$C" -a systemctl is-system-running 2>/dev/null)
        case "$S" in running|degraded) break ;; esac
    fi
    sleep 0.2
done
case "$S" in running|degraded) pass "container booted ($S)" ;;
    *) fail "container did not boot (state '$S')"; tail -20 "$TMP/boot.log"; exit 1 ;; esac
X() { timeout 90 nsenter -t "$C" -a "$@"; }
show() { X systemctl show -p "$2" --value "$1"; }

# Service users, as deploy/deploy.sh creates them (the container's /etc starts empty).
X systemd-sysusers --inline 'u camera-agent - "Camera agent" /var/lib/camera-agent' 'm camera-agent video' \
    'u camera-hub - "Camera hub" /var/lib/camera-hub' >/dev/null 2>&1
X id camera-agent >/dev/null && pass "users created: $(X id camera-agent)" || fail "no camera-agent user"

# Configuration as deploy.sh installs it: root:GROUP 0750 dir, 0640 config, 0600 secrets.
X sh -c 'set -e
  install -d -m 0750 -g camera-agent /etc/camera-agent
  install -m 0640 -g camera-agent /opt/pitest/agent.toml /etc/camera-agent/agent.toml
  printf "%s\n" 0123456789abcdef0123456789abcdef > /etc/camera-agent/token
  chown camera-agent:camera-agent /etc/camera-agent/token; chmod 600 /etc/camera-agent/token
  install -d -m 0750 -g camera-hub /etc/camera-hub
  install -m 0640 -g camera-hub /opt/pitest/hub.toml /etc/camera-hub/hub.toml
  printf "%s\n" 00112233445566778899aabbccddeeff00112233 > /etc/camera-hub/secret
  chown camera-hub:camera-hub /etc/camera-hub/secret; chmod 600 /etc/camera-hub/secret
  install -d -m 0750 -o camera-agent -g camera-agent /var/lib/camera-agent'
X setpriv --reuid=camera-agent --regid=camera-agent --init-groups /opt/pitest/agent setup-recording --config /etc/camera-agent/agent.toml >/dev/null \
    && pass "agent setup-recording as camera-agent" || fail "agent setup-recording"

for u in agent hub; do
    X sh -c "cat > /etc/systemd/system/$u.service" < "$ROOT/systemd/$u.service"
    X mkdir -p "/etc/systemd/system/$u.service.d"
    {
        echo "[Service]"
        echo "ExecStart="
        echo "ExecStart=/opt/pitest/$u --config /etc/camera-$u/$u.toml"
        [ $u = agent ] && echo "WatchdogSec=4s"
    } | X sh -c "cat > /etc/systemd/system/$u.service.d/pitest.conf"
done
# No network manager runs in the container: stand in for "the network is online"
# (hub.service waits for network-online.target, as on a Pi).
X systemctl mask --quiet systemd-networkd-wait-online.service
X systemctl daemon-reload

# agent: active only after READY=1 (first frame), hub unreachable.
T0=$(date +%s.%N)
if OUT=$(X systemctl start agent.service 2>&1; echo "rc=$?"); [[ "$OUT" == *rc=0 ]]; then
    pass "systemctl start agent: returned after $(printf '%.1f' "$(echo "$(date +%s.%N) - $T0" | bc)") s"
else
    fail "systemctl start agent: $OUT"
    X systemctl --no-pager status agent.service | head -20
fi
A=$(X systemctl is-active agent.service)
[ "$A" = active ] && pass "agent.service is active" || fail "agent.service is '$A'"
X journalctl -u agent.service --no-pager -o cat | grep -q 'first frame captured; notified systemd READY=1' \
    && pass "agent logged READY=1 after its first frame" || fail "no READY log line"

# recording under ProtectSystem=strict
SEG=""
for _ in $(seq 60); do
    SEG=$(X sh -c 'ls /var/lib/camera-agent/recordings/*.mp4 2>/dev/null | head -1')
    [ -n "$SEG" ] && break; sleep 0.5
done
if [ -n "$SEG" ]; then
    X cat "$SEG" > "$TMP/seg.mp4"
    if command -v ffprobe >/dev/null && P=$(ffprobe -v error -count_frames -select_streams v:0 \
            -show_entries stream=codec_name,nb_read_frames -of csv=p=0 "$TMP/seg.mp4" 2>&1) && [[ "$P" == h264,* ]]; then
        pass "recorded $SEG under the hardened unit; ffprobe: $P"
    else
        fail "segment $SEG not accepted by ffprobe: ${P:-no ffprobe}"
    fi
else
    fail "no segment in /var/lib/camera-agent/recordings"
    X journalctl -u agent.service --no-pager -o cat | tail -20
fi

# watchdog: freeze the agent; systemd must kill and restart it.
PID1=$(show agent.service MainPID)
X systemctl kill --kill-whom=main -s STOP agent.service
PID2=$PID1
for _ in $(seq 60); do
    sleep 0.5
    PID2=$(show agent.service MainPID)
    if [ "$PID2" != "$PID1" ] && [ "$PID2" != 0 ] && [ "$(X systemctl is-active agent.service)" = active ]; then break; fi
done
NR=$(show agent.service NRestarts)
if [ "$PID2" != "$PID1" ] && [ "$PID2" != 0 ] && [ "${NR:-0}" -ge 1 ]; then
    pass "frozen agent (pid $PID1) restarted by the watchdog: pid $PID2, NRestarts=$NR, $(X systemctl is-active agent.service)"
else
    fail "watchdog restart: MainPID $PID1 -> $PID2, NRestarts=$NR"
fi
X journalctl -u agent.service --no-pager -o cat | grep -qi 'watchdog timeout' \
    && pass "journal: $(X journalctl -u agent.service --no-pager -o cat | grep -i 'watchdog timeout' | head -1)" \
    || fail "no 'Watchdog timeout' in the journal"
T0=$(date +%s.%N)
X systemctl stop agent.service
pass "agent stopped in $(printf '%.1f' "$(echo "$(date +%s.%N) - $T0" | bc)") s: $(X systemctl is-active agent.service)"

# hub: READY after binding; answers on its port.
if X systemctl start hub.service && [ "$(X systemctl is-active hub.service)" = active ]; then
    pass "hub.service is active"
    if command -v curl >/dev/null; then
        CODE=$(X curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/login 2>/dev/null || true)
        [ "$CODE" = 200 ] && pass "hub answers GET /login: 200" || fail "hub GET /login: '$CODE'"
    else
        echo "info: no curl; hub not asked over HTTP"
    fi
else
    fail "hub.service did not become active: $(X systemctl is-active hub.service)"
    X journalctl -u hub.service --no-pager -o cat | tail -20
fi
X journalctl --no-pager -o cat -u agent.service -u hub.service -p warning | grep -v '^$' | sed 's/^/journal warning: /' | head -20

echo "== $FAILS failure(s)"
[ $FAILS -eq 0 ]
