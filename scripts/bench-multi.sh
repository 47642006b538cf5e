#!/usr/bin/env bash
# Several cameras into one tiled viewer: N cam-send processes (test pattern, SIZE at FPS, each
# with its own --name) into one cam-view with its window (under Xvfb when there is no display),
# for SECS seconds after a warm-up. Reports, from the viewer's --stats-json over the measured
# window: frames the senders got acknowledged, frames decoded and drawn (received less those
# skipped for a newer one and those that failed to decode), the viewer's CPU (utime+stime from
# /proc) per frame and per sender, and each sender's own frames and latency.
#
# With IZMQ=1 it then runs the ImageZMQ baseline (scripts/imagezmq/bench.sh: N senders into
# one hub that decodes every frame) in the same run, for the ratio.
#
#   scripts/bench-multi.sh                         # 8 x 640x480 at 30 fps, 20 s
#   N=4 SECS=10 FEATURES=turbojpeg IZMQ=1 scripts/bench-multi.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-8}
SECS=${SECS:-20}
WARM=${WARM:-3}
SIZE=${SIZE:-640x480}
FPS=${FPS:-30}
FEATURES=${FEATURES:-}
HEADLESS=${HEADLESS:-}
cargo build --release --quiet --bins ${FEATURES:+--features "$FEATURES"}
B=target/release
tmp=$(mktemp -d)
XVFB=""
cleanup() {
    kill $(jobs -p) 2>/dev/null || true
    [ -n "$XVFB" ] && kill "$XVFB" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
if [ -z "$HEADLESS" ] && [ -z "${DISPLAY:-}" ]; then
    d=97
    while [ -e "/tmp/.X11-unix/X$d" ]; do d=$((d + 1)); done
    Xvfb ":$d" -screen 0 1280x800x24 -noreset > /dev/null 2>&1 &
    XVFB=$!
    for _ in $(seq 100); do [ -e "/tmp/.X11-unix/X$d" ] && break; sleep 0.1; done
    export DISPLAY=":$d"
fi
hz=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
"$B/cam-view" ${HEADLESS:+--headless} --listen 127.0.0.1:0 --stats-json \
    > "$tmp/v.json" 2> "$tmp/v.err" &
vp=$!
for _ in $(seq 100); do grep -q 'listening on' "$tmp/v.err" 2>/dev/null && break; sleep 0.1; done
vaddr=$(grep -o 'listening on [^ ]*' "$tmp/v.err" | head -1 | cut -d' ' -f3)
for i in $(seq 1 "$N"); do
    "$B/cam-send" "$vaddr" --name "cam$i" --size "$SIZE" --fps "$FPS" --stats-json \
        > "$tmp/s$i.json" 2> /dev/null &
done
sleep "$WARM"
l0=$(wc -l < "$tmp/v.json")
t0=$(cpu_ticks $vp)
sleep "$SECS"
t1=$(cpu_ticks $vp)
l1=$(wc -l < "$tmp/v.json")
python3 - "$tmp/v.json" "$l0" "$l1" "$t0" "$t1" "$hz" "$SECS" "$N" "$FPS" "${FEATURES:-default}" <<'PY'
import json, sys
path, l0, l1, t0, t1, hz, secs, n, fps, build = sys.argv[1:]
l0, l1, t0, t1, hz, secs, n, fps = int(l0), int(l1), int(t0), int(t1), int(hz), float(secs), int(n), float(fps)
lines = [json.loads(l) for l in open(path).read().splitlines()[l0:l1] if l.startswith("{")]
iv = [r for r in lines if r.get("type") == "interval"]
frames = sum(r["frames"] for r in iv)
skipped = sum(r["skipped_frames"] for r in iv)
errors = sum(r["decode_errors"] for r in iv)
window = sum(r["window_s"] for r in iv)
drawn = frames - skipped - errors
due = n * fps * window
cpu_s = (t1 - t0) / hz
per = {}
for r in iv:
    for s in r.get("senders", []):
        p = per.setdefault(s["name"], {"frames": 0, "dropped": 0, "p50": []})
        p["frames"] += s["frames"]
        p["dropped"] += s["dropped"]
        if s.get("latency_ms_p50") is not None:
            p["p50"].append(s["latency_ms_p50"])
print(f"build {build}: {n} senders x {fps:g} fps, {window:.1f} s measured")
print(f"  frames due {due:.0f}, received {frames} ({frames / due:.3f}), decoded and drawn {drawn} ({drawn / due:.3f} of due, {drawn / max(frames, 1):.3f} of received)")
print(f"  viewer CPU {cpu_s / secs * 100:.1f}% of a core, {cpu_s / max(drawn, 1) * 1e6:.0f} us per frame, {cpu_s / secs * 100 / n:.1f}% of a core per sender")
for name, p in sorted(per.items()):
    med = sorted(p["p50"])[len(p["p50"]) // 2] if p["p50"] else float("nan")
    print(f"  {name:<6} {p['frames'] / window:6.1f} fps  dropped {p['dropped']:<5} latency p50 {med:.1f} ms")
PY
kill -INT $vp 2>/dev/null || true
wait $vp 2>/dev/null || true
if [ -n "${IZMQ:-}" ]; then
    echo "ImageZMQ baseline, same run:"
    N="$N" FPS="$FPS" SECS="$SECS" scripts/imagezmq/bench.sh
fi
