#!/usr/bin/env bash
# vm-bench-ustreamer.sh: the agent against ustreamer on the same MJPEG webcam,
# inside the test VM (scripts/vm-capture.sh): a v4l2loopback node fed by
# mjpeg-feed at a fixed rate. Each program runs alone in turn and is measured
# inside the guest from /proc: CPU time (utime + stime) over a window after a
# warm-up, and peak RSS (VmHWM).
#
#   agent      live only: MJPEG passed through, pushed over the guest's network
#              to a hub on the host (started here on 127.0.0.1)
#   ustreamer  --encoder=HW (the camera's JPEGs passed through), one client
#              reading /stream inside the guest
#
# The guest runs under TCG (software CPU emulation): absolute figures are
# several times what the same work costs on real hardware; the comparison
# between the two programs on the same emulated CPU is what this is for.
#
# Usage: scripts/vm-bench-ustreamer.sh [--agent PATH] [--hub PATH]
#          [--seconds N] [--fps N] [--size WxH]
#   defaults: target/release/agent, target/release/hub (else target/debug/hub),
#   20 s, 15 fps, 640x480. Prints one Markdown table row per program.
# Needs: what scripts/vm-capture.sh needs, plus ustreamer and ffmpeg
# (apt-get install ustreamer ffmpeg).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
AGENT=$ROOT/target/release/agent
HUB=$ROOT/target/release/hub
[ -x "$HUB" ] || HUB=$ROOT/target/debug/hub
SECONDS_MEASURED=20
FPS=15
SIZE=640x480
while [ $# -gt 0 ]; do
  case $1 in
    --agent) AGENT=$2; shift 2 ;;
    --hub) HUB=$2; shift 2 ;;
    --seconds) SECONDS_MEASURED=$2; shift 2 ;;
    --fps) FPS=$2; shift 2 ;;
    --size) SIZE=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
W=${SIZE%x*}; H=${SIZE#*x}
[ -x "$AGENT" ] || { echo "no agent at $AGENT: cargo build --release -p agent" >&2; exit 1; }
[ -x "$HUB" ] || { echo "no hub at $HUB: cargo build --release -p hub" >&2; exit 1; }
USTREAMER=$(command -v ustreamer) || { echo "ustreamer missing: apt-get install ustreamer" >&2; exit 1; }
command -v ffmpeg >/dev/null || { echo "ffmpeg missing" >&2; exit 1; }

"$ROOT/scripts/vm-capture.sh" prepare >&2
mkdir -p "$ROOT/target/vm"
WORK=$(mktemp -d "$ROOT/target/vm/bench.XXXXXX")
HUB_PID=""
cleanup() { [ -n "$HUB_PID" ] && kill "$HUB_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
SHARE=$WORK/share
mkdir -p "$SHARE/jpeg"
ffmpeg -hide_banner -loglevel error -f lavfi -i "testsrc2=size=${W}x${H}:rate=$FPS" \
  -frames:v 30 -q:v 5 "$SHARE/jpeg/f%02d.jpg"

# The hub on the host, with one agent camera.
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$WORK/hub.toml" <<EOF
listen = "127.0.0.1:$PORT"
data_dir = "$WORK/hub-data"
[[camera]]
id = 1
name = "bench"
kind = "agent"
EOF
"$HUB" --config "$WORK/hub.toml" > "$WORK/hub.log" 2>&1 &
HUB_PID=$!
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$PORT/login" && break; sleep 0.2; done
TOKEN=$("$HUB" --config "$WORK/hub.toml" token 1)
cat > "$SHARE/agent.toml" <<EOF
hub_url = "ws://10.0.2.2:$PORT/video-input-stream"
camera_id = 1
token = "$TOKEN"
state_dir = "/tmp"
stats_interval = "5s"
[source]
kind = "v4l2"
width = $W
height = $H
fps = $FPS
[source.v4l2]
device = "/dev/video10"
format = "mjpeg"
EOF

cat > "$SHARE/guest.sh" <<EOF
S=/mnt/host
export NO_COLOR=1 RUST_LOG=info
mjpeg-feed /dev/video10 $W $H $FPS 0 \$S/jpeg/*.jpg > \$S/feed.log 2>&1 & F=\$!
sleep 1
# measure NAME PID: CPU ticks (USER_HZ = 100) over the window, peak and current RSS.
measure() {
  sleep 3
  t0=\$(awk '{print \$14 + \$15}' /proc/\$2/stat)
  sleep $SECONDS_MEASURED
  t1=\$(awk '{print \$14 + \$15}' /proc/\$2/stat)
  hwm=\$(awk '/VmHWM/{print \$2}' /proc/\$2/status)
  rss=\$(awk '/VmRSS/{print \$2}' /proc/\$2/status)
  echo "RESULT \$1 ticks=\$((t1 - t0)) seconds=$SECONDS_MEASURED hwm_kb=\$hwm rss_kb=\$rss"
}
/bin/agent --config \$S/agent.toml > \$S/agent.log 2>&1 & P=\$!
measure agent \$P
kill -TERM \$P; wait \$P
/bin/ustreamer --device=/dev/video10 --format=MJPEG --encoder=HW --resolution=${W}x${H} \
  --desired-fps=$FPS --host=127.0.0.1 --port=8080 > \$S/ustreamer.log 2>&1 & U=\$!
sleep 2
(wget -q -O - http://127.0.0.1:8080/stream | wc -c > \$S/client-bytes) &
measure ustreamer \$U
kill \$(pidof wget); sleep 1; kill -TERM \$U; wait \$U
echo "ustreamer client received \$(cat \$S/client-bytes) bytes"
kill \$F
EOF

"$ROOT/scripts/vm-capture.sh" run --share "$SHARE" --modules v4l2loopback \
  --bin "$AGENT:/bin/agent" --bin "$USTREAMER:/bin/ustreamer" --timeout 300 >&2
grep -h "stats" "$SHARE/agent.log" | tail -2 >&2 || true
grep -h "client received" "$SHARE/guest.log" >&2 || true
[ "$(grep -c RESULT "$SHARE/guest.log" || true)" = 2 ] || { echo "the guest did not report both programs:" >&2; cat "$SHARE/guest.log" >&2; exit 1; }
echo "| program | CPU (% of one emulated core) | peak RSS (MiB) | RSS at the end (MiB) |"
echo "|---|---|---|---|"
grep RESULT "$SHARE/guest.log" | while read -r _ name ticks seconds hwm rss; do
  t=${ticks#ticks=}; s=${seconds#seconds=}; h=${hwm#hwm_kb=}; r=${rss#rss_kb=}
  awk -v n="$name" -v t="$t" -v s="$s" -v h="$h" -v r="$r" \
    'BEGIN { printf "| %s | %.1f | %.1f | %.1f |\n", n, t / s, h / 1024, r / 1024 }'
done
echo "(${W}x${H} MJPEG at $FPS fps from v4l2loopback, $SECONDS_MEASURED s window, qemu TCG guest; $(date -u +%F))"
