#!/usr/bin/env bash
# The whole system from one command: builds the hub and the agent, starts the hub
# on its embedded default (a moving test-pattern camera "demo" and a slot "pi" for
# one agent, data under ./hub-data, http://127.0.0.1:8080, login printed) and one
# local agent on that slot (test pattern) that pushes live frames, records 10 s
# segments and uploads them to the hub, where they appear on /timeline/pi.
# Ctrl-C (or SIGTERM) stops both.
#
#   --data-dir DIR   hub data (default hub-data); the agent's files go in DIR/agent
#   --listen ADDR    host:port of the hub (default 127.0.0.1:8080)
#   --bin-dir DIR    run DIR/hub and DIR/agent instead of building them
set -euo pipefail
cd "$(dirname "$0")/.."

data=hub-data
listen=127.0.0.1:8080
bin=""
while [ $# -gt 0 ]; do
  case "$1" in
    --data-dir) data=${2:?--data-dir needs a directory}; shift 2 ;;
    --listen) listen=${2:?--listen needs host:port}; shift 2 ;;
    --bin-dir) bin=${2:?--bin-dir needs a directory}; shift 2 ;;
    *) echo "demo: unknown option $1 (see the top of $0)" >&2; exit 2 ;;
  esac
done

if [ -z "$bin" ]; then
  if ! command -v cargo >/dev/null; then
    echo "demo: Rust is needed (1.95 or newer). Install it with rustup:" >&2
    echo "  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh" >&2
    exit 1
  fi
  if ! command -v cc >/dev/null; then
    echo "demo: a C compiler is needed for the bundled SQLite; installing gcc" >&2
    scripts/apt-install.sh gcc libc6-dev
  fi
  cargo build --release --locked -p hub -p agent
  bin=target/release
fi
hub=$bin/hub
agent=$bin/agent

mkdir -p "$data"
data=$(cd "$data" && pwd)
adir=$data/agent
mkdir -p "$adir/state"
host=${listen%:*}
host=${host#[}
host=${host%]}
port=${listen##*:}

hub_pid=""
agent_pid=""
# Stops the hub and the agent with one SIGTERM each (they drain; a second
# signal would make them exit at once). They run in process groups of their own
# (set -m below), so Ctrl-C in the terminal reaches only this script.
stop() {
  trap - EXIT INT TERM
  for pid in $agent_pid $hub_pid; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in $agent_pid $hub_pid; do
    wait "$pid" 2>/dev/null || true
  done
}
trap stop EXIT
trap 'stop; exit 0' INT TERM
set -m

# A token file from an earlier run must not be taken for this run's.
rm -f "$data/demo-agent.token"
"$hub" demo --data-dir "$data" --listen "$listen" &
hub_pid=$!

# Wait (at most 60 s) for the hub's port and the agent token it writes.
for _ in $(seq 600); do
  if [ -s "$data/demo-agent.token" ] && (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
    break
  fi
  if ! kill -0 "$hub_pid" 2>/dev/null; then
    echo "demo: the hub stopped (see its messages above)" >&2
    exit 1
  fi
  sleep 0.1
done
if ! (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
  echo "demo: the hub did not start listening on $listen within 60 s" >&2
  exit 1
fi

cat >"$adir/agent.toml" <<TOML
# Written by scripts/demo.sh at every start.
hub_url = "ws://$listen/video-input-stream"
camera_id = 2
token_file = "$data/demo-agent.token"
state_dir = "$adir/state"
stats_interval = "5m"

[source]
kind = "testsrc"
width = 640
height = 480
fps = 10

[record]
enabled = true
dir = "$adir/recordings"
segment_duration = "10s"

[upload]
enabled = true
TOML
"$agent" setup-recording --config "$adir/agent.toml" >/dev/null
"$agent" --config "$adir/agent.toml" &
agent_pid=$!

login="(see $data/demo-login.txt)"
if [ -r "$data/demo-login.txt" ]; then
  { read -r user; read -r password; } <"$data/demo-login.txt"
  login="$user / $password"
fi
cat >&2 <<TEXT

  demo: running (Ctrl-C stops the hub and the agent)
  open       http://$listen/
  login      $login
  cameras    demo  the hub's own test pattern, recorded by the hub
             pi    a local agent (test pattern): live frames over the agent
                   websocket, 10 s segments recorded by the agent and uploaded
                   to the hub: http://$listen/timeline/pi
  files      hub $data, agent $adir

TEXT

# Until one of them stops (or Ctrl-C): then the other is stopped too.
set +e
wait -n "$hub_pid" "$agent_pid"
status=$?
echo "demo: a process stopped (exit $status); stopping the other" >&2
exit "$status"
