#!/usr/bin/env bash
# The performance comparison, in one command: builds the release binaries and
# runs every workload of BENCHMARKS.md against its peers in the same run, each
# point repeated, then prints the tables (medians, ratios, targets).
#
#   scripts/bench.sh            full run (3 runs per point; about 25 min on 2 cores)
#   scripts/bench.sh --quick    small N, short points, 1 run (a few minutes)
#
# Writes target/bench/results.jsonl (one JSON line per measured run) and
# target/bench/results.md (the tables BENCHMARKS.md quotes).
#
# Needs (installed if missing, with a message): the test packages
# (scripts/install-test-deps.sh: ffmpeg, GStreamer RTSP server, Chromium) and
# `motion`; `ustreamer`, which needs a V4L2 device, runs inside the test VM
# (scripts/vm-bench-ustreamer.sh, on scripts/vm-capture.sh) beside the agent.
#
# Env: BENCH_WORKLOADS (default "fanout slow ingest rtsp latency wake year agent encode
# motion size") runs a subset. The year workload puts up to 5 million hard links (directory
# entries, a few hundred MB of templates, about 2 GB of index) in a temporary directory
# under BENCH_TMPDIR (default /tmp) and deletes them at the end.
# BENCH_HUB_BEFORE=PATH adds an earlier hub binary to the RTSP points (with snapshots
# every 1h and with the default 1s) and to the 1000/4000-viewer fan-out points,
# interleaved with the current one.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_INCREMENTAL=0

QUICK=0
for a in "$@"; do
  case "$a" in
    --quick) QUICK=1 ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown argument $a" >&2; exit 2 ;;
  esac
done
WORKLOADS=${BENCH_WORKLOADS:-"fanout slow ingest rtsp latency wake year agent encode motion size"}
want() { [[ " $WORKLOADS " == *" $1 "* ]]; }
step() { printf '\n==> %s\n' "$*"; }

step "packages"
scripts/install-test-deps.sh
if ! command -v motion >/dev/null; then
  echo "bench.sh: installing motion (the motionEye peer)"
  scripts/apt-install.sh motion
fi
echo "motion: $(motion -h 2>&1 | head -1 | tr -s ' ')"
echo "ffmpeg: $(ffmpeg -version | head -1)"

step "release build"
cargo build --release --locked -p hub -p agent -p bench
if want latency; then
  cargo test --release --locked -p hub --test it --no-run
fi

# Thousands of viewers: every socket is a file descriptor on both ends.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

OUT=target/bench
mkdir -p "$OUT"
RES=$OUT/results.jsonl
: > "$RES"
rm -f "$OUT"/encode-*.md "$OUT"/motion-*.md
B=target/release

if [ $QUICK = 1 ]; then
  RUNS=1; FAN_N=1,100; FAN_BIG=1000; FAN_S=4; ING_N=1,50; ING_S=4; RTSP_N=1,8; RTSP_S=6
  AGENT_S=5; ENC_FRAMES=30; MOTION_FRAMES=40; MOTION_S=5
else
  RUNS=3; FAN_N=1,10,100,500,1000; FAN_BIG=1000,4000; FAN_S=5; ING_N=1,50,200; ING_S=6; RTSP_N=1,8,32; RTSP_S=6
  AGENT_S=8; ENC_FRAMES=60; MOTION_FRAMES=100; MOTION_S=20
fi

{
  echo "# Benchmark run $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD)$(git diff --quiet || echo '+changes')"
  echo
  echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'),"\
       "$(free -g | awk '/Mem:/ {print $2}') GiB, $(. /etc/os-release; echo "$PRETTY_NAME"), kernel $(uname -r)."
  echo "Load average at start: $(cut -d' ' -f1-3 /proc/loadavg). Mode: $([ $QUICK = 1 ] && echo quick || echo full), $RUNS run(s) per point."
  echo
} > "$OUT/header.md"
cat "$OUT/header.md"

if want fanout; then
  step "MJPEG fan-out: raw baseline, hub, threaded Python, motion"
  $B/bench-fanout --viewers "$FAN_N" --servers raw,hub,python,motion --seconds "$FAN_S" \
    --repeats "$RUNS" --json "$RES"
  step "MJPEG fan-out at $FAN_BIG viewers: raw baseline and hub, interleaved (the peers stop near 1000)"
  if [ -n "${BENCH_HUB_BEFORE:-}" ]; then
    $B/bench-fanout --viewers "$FAN_BIG" --servers raw,hub,before --hub-before "$BENCH_HUB_BEFORE" \
      --seconds "$FAN_S" --repeats "$RUNS" --json "$RES"
  else
    $B/bench-fanout --viewers "$FAN_BIG" --servers raw,hub --seconds "$FAN_S" --repeats "$RUNS" --json "$RES"
  fi
fi
if want slow; then
  step "MJPEG fan-out with 10 slow viewers among 100"
  $B/bench-fanout --viewers 100 --servers raw,hub --slow-viewers 10 --seconds "$FAN_S" \
    --repeats "$RUNS" --json "$RES"
fi
if want fanout; then
  step "ustreamer vs the agent on one MJPEG webcam, inside the VM (scripts/vm-bench-ustreamer.sh)"
  if ! command -v ustreamer >/dev/null; then
    echo "bench: installing ustreamer (apt-get install ustreamer)"
    scripts/apt-install.sh ustreamer
  fi
  rm -f "$OUT/ustreamer.md"
  for r in $(seq 1 "$RUNS"); do
    if scripts/vm-bench-ustreamer.sh --agent target/release/agent --hub target/release/hub \
        --seconds "$([ "$QUICK" = 1 ] && echo 8 || echo 20)" > "$OUT/ustreamer-$r.md"; then
      { [ "$r" = 1 ] && head -2 "$OUT/ustreamer-$r.md"; sed -n '3,$p' "$OUT/ustreamer-$r.md" | sed "s/^| \([a-z]*\) |/| \1 (run $r) |/"; } >> "$OUT/ustreamer.md"
    else
      echo "ustreamer run $r failed (see above)" | tee -a "$OUT/ustreamer.md"
    fi
  done
  cat "$OUT/ustreamer.md"
fi
if want ingest; then
  step "agent ingest: websocket sink vs hub"
  $B/bench-ingest --agents "$ING_N" --seconds "$ING_S" --repeats "$RUNS" --json "$RES"
fi
if want rtsp; then
  step "RTSP bridge + recording: ffmpeg HLS per camera vs hub"
  if [ -n "${BENCH_HUB_BEFORE:-}" ]; then
    # An earlier hub binary measured the same way, interleaved point by point.
    $B/bench-rtsp --cameras "$RTSP_N" --seconds "$RTSP_S" --repeats "$RUNS" --no-snapshot --json "$RES" \
      --hub-before "$BENCH_HUB_BEFORE" --bridges ffmpeg,before,before+snapshots,hub,hub+viewer
  else
    # rtsp-floor: the raw limit (every byte read, appended, and with SHA-256 hashed).
    $B/bench-rtsp --cameras "$RTSP_N" --seconds "$RTSP_S" --repeats "$RUNS" --no-snapshot --json "$RES" \
      --bridges ffmpeg,floor+epoll,floor+epoll+sha256,hub,hub+viewer
  fi
fi
if want latency; then
  step "live latency in headless Chromium: MSE vs HLS"
  for i in $(seq 1 "$RUNS"); do
    log=$OUT/latency-$i.log
    cargo test --release --locked -q -p hub --test it mse::mse_plays_in_chromium_under_a_second_behind \
      -- --nocapture > "$log" 2>&1 || { echo "latency run $i failed:"; tail -20 "$log"; continue; }
    grep -E '^(MSE|HLS) latency|SKIP' "$log" || true
    python3 - "$log" "$i" >> "$RES" <<'PY'
import json, re, sys
text = open(sys.argv[1]).read()
for path in ("MSE", "HLS"):
    m = re.search(path + r" latency.*?p50=(\d+) ms(?: p90=(\d+) ms)?", text)
    if m:
        r = {"workload": "latency", "server": path.lower(), "run": int(sys.argv[2]) - 1,
             "p50_ms": float(m.group(1))}
        if m.group(2):
            r["p90_ms"] = float(m.group(2))
        s = re.search(r"stalls \(waiting events\) (\d+), playback rate changes (\d+), jumps to the live edge (\d+)", text)
        if s and path == "MSE":
            r["stalls"], r["rate_changes"], r["jumps"] = (float(x) for x in s.groups())
        print(json.dumps(r))
PY
  done
fi
if want wake; then
  step "battery camera: first frame after waking it vs kept awake"
  $B/bench-wake --repeats "$([ "$QUICK" = 1 ] && echo 3 || echo $((RUNS * 5)))" --json "$RES"
fi
if want year; then
  step "a week, a month and a year of footage: queries, check, retention, RSS, export vs cat"
  if [ $QUICK = 1 ]; then
    $B/bench-year --cameras 2 --days 7,30 --queries 5 --dir "${BENCH_TMPDIR:-/tmp}" --json "$RES"
  else
    $B/bench-year --days 7,30,365 --queries 20 --dir "${BENCH_TMPDIR:-/tmp}" --json "$RES"
  fi
fi
if want agent; then
  step "agent alone: passthrough and JPEG, CPU per frame and RSS"
  $B/bench-agent --seconds "$AGENT_S" --repeats "$RUNS" --json "$RES"
fi
if want encode; then
  step "agent per-stage CPU (agent bench-encode)"
  for i in $(seq 1 "$RUNS"); do
    $B/agent bench-encode --frames "$ENC_FRAMES" > "$OUT/encode-$i.md"
  done
  cat "$OUT/encode-1.md"
fi
if want motion; then
  step "motion detection: the agent per source kind vs its capture path; the hub's sub-stream detection vs ffmpeg"
  $B/agent bench-motion --frames "$MOTION_FRAMES" --rounds "$RUNS" | tee "$OUT/motion-agent.md"
  $B/bench-rtsp --motion-only --seconds "$MOTION_S" --repeats "$RUNS" --json "$RES" | tee "$OUT/motion-hub.md"
fi
if want size; then
  step "binary sizes"
  for bin in agent hub; do
    bytes=$(stat -c %s "$B/$bin")
    strip -o "$OUT/$bin.stripped" "$B/$bin"
    sbytes=$(stat -c %s "$OUT/$bin.stripped"); rm -f "$OUT/$bin.stripped"
    echo "{\"workload\":\"size\",\"target\":\"x86_64-unknown-linux-gnu\",\"binary\":\"$bin\",\"profile\":\"release\",\"bytes\":$bytes}" >> "$RES"
    echo "{\"workload\":\"size\",\"target\":\"x86_64-unknown-linux-gnu\",\"binary\":\"$bin\",\"profile\":\"release, stripped\",\"bytes\":$sbytes}" >> "$RES"
  done
  # ARM builds are only read if scripts/build-pi.sh has made them (a cold
  # cross build takes 5-15 min per target on two cores).
  for f in target-pi/*/pi/agent target-pi/*/pi/hub; do
    [ -f "$f" ] || continue
    t=$(echo "$f" | cut -d/ -f2); bin=$(basename "$f")
    echo "{\"workload\":\"size\",\"target\":\"$t\",\"binary\":\"$bin\",\"profile\":\"pi\",\"bytes\":$(stat -c %s "$f")}" >> "$RES"
  done
fi

step "report"
{
  cat "$OUT/header.md"
  python3 scripts/bench-report.py "$RES" $(ls "$OUT"/encode-*.md 2>/dev/null)
  if want motion && [ -f "$OUT/motion-agent.md" ]; then
    echo; echo "### Motion detection: agent, per source kind (agent bench-motion)"; echo; cat "$OUT/motion-agent.md"
    echo; echo "### Motion detection: hub sub-stream vs ffmpeg (bench-rtsp --motion-only)"; echo; cat "$OUT/motion-hub.md"
  fi
  if want fanout && [ -f "$OUT/ustreamer.md" ]; then
    echo; echo "### ustreamer vs the agent (in the VM)"; echo; cat "$OUT/ustreamer.md"
  fi
} > "$OUT/results.md"
cat "$OUT/results.md"
echo
echo "bench.sh: wrote $OUT/results.md and $RES"
