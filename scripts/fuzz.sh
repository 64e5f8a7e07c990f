#!/usr/bin/env bash
# Run every fuzz target (or the ones named) for a set time each, default 60 s:
#   scripts/fuzz.sh [SECONDS] [TARGET...]
# One cargo-fuzz workspace, fuzz/, holds a target per decoder of untrusted
# input (wire, media (MP4 recovery, scanning, retiming and export, H.264 and H.265
# parameter sets), baichuan, motion's JPEG input, the off-site decryptor, hub and
# agent config). Needs the nightly
# toolchain and cargo-fuzz: installs cargo-fuzz $CARGO_FUZZ_VERSION (`cargo
# install cargo-fuzz --locked --version ...` into ~/.cargo/bin, once per
# machine and version) and the nightly toolchain (`rustup toolchain install
# nightly --profile minimal`) if either is missing. Builds all targets once, then runs
# each; the corpus grows in fuzz/corpus/TARGET/, seeded from the example
# configs (and ../shared/fixtures/baichuan when present). A crash fails the
# script, prints libFuzzer's report, and leaves the input in
# fuzz/artifacts/TARGET/.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"; shift || true
if ! rustup toolchain list | grep -q '^nightly'; then
  echo "fuzz: installing the nightly toolchain (rustup toolchain install nightly --profile minimal)"
  rustup toolchain install nightly --profile minimal
fi
CARGO_FUZZ_VERSION=0.13.2
if ! cargo fuzz --version 2>/dev/null | grep -qw "$CARGO_FUZZ_VERSION"; then
  echo "fuzz: installing cargo-fuzz $CARGO_FUZZ_VERSION (cargo install cargo-fuzz --locked --version $CARGO_FUZZ_VERSION)"
  cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cd fuzz && cargo +nightly fuzz list)
fi

# Seeds: real inputs give the fuzzer the structure to mutate.
seed() { # TARGET FILE...
  mkdir -p "fuzz/corpus/$1"
  local t="$1"; shift
  for f in "$@"; do [ -f "$f" ] && cp -n "$f" "fuzz/corpus/$t/seed-$(basename "$f")"; done
  return 0
}
seed hub_config deploy/hub.example.toml
seed agent_config agent/agent.example.toml
# Motion's JPEG input: two small baseline JPEGs (ffmpeg's MJPEG encoder,
# coarse and fine quantisation).
if command -v ffmpeg >/dev/null; then
  mkdir -p fuzz/corpus/motion_jpeg
  for q in 2 20; do
    [ -f "fuzz/corpus/motion_jpeg/seed-q$q.jpg" ] || ffmpeg -loglevel error -f lavfi \
      -i testsrc=size=96x64 -frames:v 1 -q:v "$q" "fuzz/corpus/motion_jpeg/seed-q$q.jpg" || true
  done
fi
# MP4 targets: a small fragmented and a plain H.264 MP4, so the fuzzer starts
# from real box structure (made with ffmpeg when it is there).
if command -v ffmpeg >/dev/null; then
  for kind in frag plain; do
    f="fuzz/corpus/seed-$kind.mp4"
    if [ ! -f "$f" ]; then
      flags=(-movflags +faststart); [ "$kind" = frag ] && flags=(-movflags frag_keyframe+empty_moov+default_base_moof)
      ffmpeg -loglevel error -y -f lavfi -i testsrc=size=64x48:rate=5 -t 1 -c:v libx264 -g 3 \
        -pix_fmt yuv420p "${flags[@]}" "$f" || rm -f "$f"
    fi
  done
  seed media_recover fuzz/corpus/seed-frag.mp4 fuzz/corpus/seed-plain.mp4
  seed media_scanner fuzz/corpus/seed-frag.mp4 fuzz/corpus/seed-plain.mp4
  # A fragmented file whose media time starts at 3 s, as segments were once written.
  f=fuzz/corpus/seed-frag-late.mp4
  [ -f "$f" ] || ffmpeg -loglevel error -y -f lavfi -i testsrc=size=64x48:rate=5 -t 1 -c:v libx264 -g 3 \
    -pix_fmt yuv420p -output_ts_offset 3 -movflags frag_keyframe+empty_moov+default_base_moof "$f" || rm -f "$f"
  seed media_retime fuzz/corpus/seed-frag.mp4 fuzz/corpus/seed-frag-late.mp4
  seed media_export fuzz/corpus/seed-frag.mp4
  # The hub's export: a request from 0 to 120 s over two segments of the same
  # file indexed at 0 and 60 s, 1 s each (six little-endian i64), then the file.
  f=fuzz/corpus/seed-hub-export.bin
  if [ ! -f "$f" ] && [ -f fuzz/corpus/seed-frag.mp4 ]; then
    { printf '\x00\x00\x00\x00\x00\x00\x00\x00\xc0\xd4\x01\x00\x00\x00\x00\x00'
      printf '\x00\x00\x00\x00\x00\x00\x00\x00\xe8\x03\x00\x00\x00\x00\x00\x00'
      printf '\x60\xea\x00\x00\x00\x00\x00\x00\xe8\x03\x00\x00\x00\x00\x00\x00'
      cat fuzz/corpus/seed-frag.mp4; } > "$f"
  fi
  seed hub_export "$f"
  # H.265 as a camera sends it (Annex B), when ffmpeg has libx265.
  f=fuzz/corpus/seed-h265.hevc
  if [ ! -f "$f" ]; then
    ffmpeg -loglevel error -y -f lavfi -i testsrc=size=64x48:rate=5 -frames:v 2 -c:v libx265 \
      -x265-params log-level=error -f hevc "$f" 2>/dev/null || rm -f "$f"
  fi
  seed media_h265 "$f"
fi
if [ -d ../shared/fixtures/baichuan ]; then
  for t in baichuan_message baichuan_xml baichuan_media baichuan_udp; do
    mkdir -p "fuzz/corpus/$t"
    find ../shared/fixtures/baichuan -type f -size -64k -exec cp -n {} "fuzz/corpus/$t/" \; 2>/dev/null || true
  done
fi

echo "==> building ${#targets[@]} fuzz targets"
(cd fuzz && cargo +nightly fuzz build)

status=0
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t"
  if (cd fuzz && cargo +nightly fuzz run "$t" -- -max_total_time="$secs" -print_final_stats=1) >"$log" 2>&1; then
    runs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}')
    cov=$(grep -E '^#[0-9]+.*DONE' "$log" | grep -oE 'cov: [0-9]+' | tail -1)
    echo "fuzz $t: ok, ${runs:-?} executions in ${secs}s, ${cov:-cov: ?}, corpus $(ls "fuzz/corpus/$t" | wc -l)"
  else
    status=1
    echo "fuzz $t: FAILED"
    grep -vE '^#[0-9]+' "$log" | tail -60
  fi
done
exit $status
