#!/usr/bin/env bash
# The "across real networks" table of issue #12: cam-send (test pattern, 1280x720 at 30 fps)
# into a headless cam-view, directly and through the fault relay with a one-way delay each
# way, a bandwidth bottleneck with a bounded queue towards the viewer, or loss. Prints a
# markdown table. Loopback only; every wait is bounded and every process it starts is
# stopped when it exits.
#
#   scripts/bench-wan.sh                          # default build, 300 frames sent a row
#   scripts/bench-wan.sh --features turbojpeg     # with libjpeg-turbo
#   scripts/bench-wan.sh --bin-dir /tmp/before    # cam-send and cam-view from there (A/B);
#                                                 # the relay is always this tree's
#   scripts/bench-wan.sh --frames 150 --rows 1,6  # fewer frames, only rows 1 and 6
#   scripts/bench-wan.sh --detail                 # and the sender's side: acked fps, timeouts,
#                                                 # resent chunks, RTT; frame size, queue peak
#
# Latency is the viewer's, capture to decoded. A frame dropped is one captured and never
# shown (newest wins at the sender, or lost). The bottleneck's queue is the relay's default,
# 200 ms at its rate (--queue-ms MS to change it).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,20s/^# \{0,1\}//p' "$0"; exit "${1:-0}"; }
FRAMES=300
FEATURES=""
BIN_DIR=""
ONLY=""
QUEUE_MS=""
DETAIL=""
SIZE=1280x720
FPS=30
while [ $# -gt 0 ]; do
    case "$1" in
        --frames) FRAMES=$2; shift 2 ;;
        --features) FEATURES=$2; shift 2 ;;
        --bin-dir) BIN_DIR=$2; shift 2 ;;
        --rows) ONLY=",$2,"; shift 2 ;;
        --queue-ms) QUEUE_MS=$2; shift 2 ;;
        --detail) DETAIL=1; shift ;;
        -h|--help) usage 0 ;;
        *) echo "bench-wan: unknown option $1" >&2; usage 2 >&2 ;;
    esac
done

# label | relay flags ("-": no relay at all)
ROWS=(
    "loopback|-"
    "relay, no faults|"
    "10 ms each way (RTT 20 ms)|--delay 10"
    "25 ms each way (RTT 50 ms)|--delay 25"
    "50 ms each way (RTT 100 ms)|--delay 50"
    "25 ms each way, 5 Mbit/s bottleneck|--delay 25 --rate 5"
    "5 ms each way, 5 Mbit/s bottleneck|--delay 5 --rate 5"
    "30% loss each way|--loss 30"
)

if [ -n "$BIN_DIR" ]; then
    cargo build --release --quiet --example fault-relay
    SEND=$BIN_DIR/cam-send
    VIEW=$BIN_DIR/cam-view
    [ -x "$SEND" ] && [ -x "$VIEW" ] || { echo "bench-wan: no cam-send/cam-view in $BIN_DIR" >&2; exit 2; }
else
    cargo build --release --quiet --bins --example fault-relay ${FEATURES:+--features "$FEATURES"}
    SEND=target/release/cam-send
    VIEW=target/release/cam-view
fi
RELAY=target/release/examples/fault-relay

tmp=$(mktemp -d)
pids=()
# Ctrl-C, then a bounded wait, then SIGKILL: nothing outlives the script.
stop() {
    local p=$1
    kill -INT "$p" 2>/dev/null || return 0
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
}
cleanup() { for p in "${pids[@]}"; do stop "$p"; done; rm -rf "$tmp"; }
trap cleanup EXIT
# Waits up to 10 s for a file to hold a line matching a pattern and prints the match.
wait_for() {
    for _ in $(seq 100); do
        grep -m1 -o -E "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "bench-wan: timed out waiting for $2 in $1" >&2
    return 1
}

# cam-send --frames counts frames sent (captures it skips do not count): allow for rows that
# send as few as 5 fps.
secs=$(( FRAMES / 5 + 20 ))
commit=$(git describe --always --dirty 2>/dev/null || echo '?')
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -1)
echo "bench-wan: $SIZE test pattern at $FPS fps, $FRAMES frames sent a row; build: ${BIN_DIR:-this tree ($commit)}${FEATURES:+ --features $FEATURES}; $(nproc) cores, ${cpu:-unknown CPU}; $(date +%F)"
echo
head="| path | delivered fps | latency p50 / p95 ms | frames dropped (of captured) | bottleneck queue drops (of datagrams) |"
rule="|---|---|---|---|---|"
if [ -n "$DETAIL" ]; then
    head="$head KB/frame | sender: acked fps | timeouts | resent chunks | RTT p50 ms | queue peak KB |"
    rule="$rule---|---|---|---|---|---|"
fi
echo "$head"
echo "$rule"
n=0
for row in "${ROWS[@]}"; do
    n=$((n + 1))
    [ -n "$ONLY" ] && [[ $ONLY != *",$n,"* ]] && continue
    label=${row%%|*}
    flags=${row#*|}
    rm -f "$tmp"/*
    "$VIEW" --headless --listen 127.0.0.1:0 --stats-json > "$tmp/v.json" 2> "$tmp/v.err" &
    vp=$!
    pids=("$vp")
    port=$(wait_for "$tmp/v.err" 'listening on 127\.0\.0\.1:[0-9]+' | sed 's/.*://')
    dest=127.0.0.1:$port
    rp=""
    if [ "$flags" != "-" ]; then
        # shellcheck disable=SC2086 # the flags are words
        "$RELAY" --to "$dest" $flags ${QUEUE_MS:+--queue-ms $QUEUE_MS} --seconds "$secs" \
            --stats-json > "$tmp/r.out" 2> "$tmp/r.err" &
        rp=$!
        pids+=("$rp")
        dest=$(wait_for "$tmp/r.out" '^127\.0\.0\.1:[0-9]+$')
    fi
    rc=0
    timeout -s INT -k 5 "$secs" "$SEND" "$dest" --size "$SIZE" --fps "$FPS" --frames "$FRAMES" \
        --stats-json > "$tmp/s.json" 2> "$tmp/s.err" || rc=$?
    [ "$rc" = 0 ] || echo "bench-wan: cam-send exited with $rc on row $n ($label)" >&2
    # Let the last frame (and the goodbye) cross a slow path before stopping the viewer.
    sleep 1
    stop "$vp"
    [ -n "$rp" ] && stop "$rp"
    pids=()
    python3 - "$label" "$tmp" "$flags" "$DETAIL" <<'PY'
import json, sys
label, tmp, flags, detail = sys.argv[1:5]
def summary(path):
    for line in reversed(open(path).read().splitlines()):
        if line.startswith("{") and json.loads(line).get("type") == "summary":
            return json.loads(line)
    return {}
def num(x, fmt):
    return format(x, fmt) if x is not None else "-"
v, s = summary(f"{tmp}/v.json"), summary(f"{tmp}/s.json")
lat = f"{num(v.get('latency_ms_p50'), '.0f')} / {num(v.get('latency_ms_p95'), '.0f')}"
# Every captured frame is acknowledged or dropped at the sender; a frame it gave up on may
# still have reached the viewer, so what was lost is what the viewer did not show.
captured = s.get("frames", 0) + s.get("dropped_frames", 0)
shown = v.get("frames", 0)
dropped = f"{captured - shown} ({100 * (captured - shown) / captured:.0f}%)" if captured else "?"
queue, peak = "-", None
try:
    r = json.loads(open(f"{tmp}/r.out").read().splitlines()[-1])["to_viewer"]
    peak = r["queue_peak_bytes"] / 1000
    if "--rate" in flags:
        queue = f"{r['queue_dropped']} ({100 * r['queue_dropped'] / max(r['received'], 1):.1f}%)"
except (OSError, IndexError, KeyError, ValueError):
    pass
row = [label, num(v.get("fps"), ".1f"), lat, dropped, queue]
if detail:
    kb = v.get("bytes", 0) / 1000 / shown if shown else None
    row += [num(kb, ".0f"), num(s.get("fps"), ".1f"), str(s.get("timeouts", "-")),
            str(s.get("retransmitted_chunks", "-")), num(s.get("rtt_ms_p50"), ".1f"),
            num(peak, ".0f") if "--rate" in flags else "-"]
print("| " + " | ".join(row) + " |")
PY
done
