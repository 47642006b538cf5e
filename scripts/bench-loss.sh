#!/usr/bin/env bash
# Loss table: cam-send (test pattern, 1280x720 at 30 fps) into a headless cam-view through the
# fault-injecting relay at several loss rates (applied both ways, plus 1% duplication, 2%
# reordering and 0.5 ms jitter towards the viewer). Loopback only; every run is time-bounded.
#
#   scripts/bench-loss.sh                 # 0 1 5 10 30 % loss, 300 frames each
#   FRAMES=150 LOSSES="10 30" scripts/bench-loss.sh
#   RELAY_ARGS="--delay 25 --rate 5" scripts/bench-loss.sh   # the same on a slow, far path
#   BIN_DIR=/tmp/before scripts/bench-loss.sh   # cam-send and cam-view from there (A/B)
#
# scripts/bench-wan.sh measures delay and bandwidth alone, row by row.
set -euo pipefail
cd "$(dirname "$0")/.."
FRAMES=${FRAMES:-300}
LOSSES=${LOSSES:-"0 1 5 10 30"}
SIZE=${SIZE:-1280x720}
FPS=${FPS:-30}
RELAY_ARGS=${RELAY_ARGS:-}
cargo build --release --quiet --bins --example fault-relay
B=target/release
# The programs under test; the relay is always this tree's.
P=${BIN_DIR:-$B}
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
free_port() { python3 -c 'import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
secs=$(( FRAMES / FPS + 10 ))
printf '%-6s %-10s %-8s %-8s %-10s %-8s %-8s %-10s %-10s %-6s\n' loss delivered fps "%of_fps" abandoned resent nacks lat_p50 lat_p95 crc
for loss in $LOSSES; do
    port=$(free_port)
    "$P/cam-view" --headless --listen 127.0.0.1:$port --stats-json > "$tmp/v.json" 2>/dev/null &
    vp=$!
    sleep 0.3
    $B/examples/fault-relay --to 127.0.0.1:$port --loss "$loss" --dup 1 --reorder 2 --jitter 0.5 \
        $RELAY_ARGS --seconds "$secs" > "$tmp/relay" 2>/dev/null &
    rp=$!
    for _ in $(seq 50); do [ -s "$tmp/relay" ] && break; sleep 0.1; done
    timeout "$secs" "$P/cam-send" "$(head -1 "$tmp/relay")" --size "$SIZE" --fps "$FPS" \
        --frames "$FRAMES" --stats-json > "$tmp/s.json" 2>/dev/null || true
    sleep 0.5
    kill -INT $vp 2>/dev/null || true; wait $vp 2>/dev/null || true
    kill -INT $rp 2>/dev/null || true; wait $rp 2>/dev/null || true
    python3 - "$loss" "$FRAMES" "$FPS" "$tmp" <<'PY'
import json, sys
loss, frames, fps, tmp = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
v = json.loads(open(f"{tmp}/v.json").read().splitlines()[-1])
s = json.loads(open(f"{tmp}/s.json").read().splitlines()[-1])
print(f"{loss+'%':<6} {str(v['frames'])+'/'+str(frames):<10} {v['fps']:<8} {100*v['fps']/fps:<8.1f} "
      f"{s['abandoned_frames']:<10} {s['retransmitted_chunks']:<8} {s['nacks']:<8} "
      f"{v.get('latency_ms_p50','-')!s:<10} {v.get('latency_ms_p95','-')!s:<10} {v['crc_failures']:<6}")
PY
done
