#!/usr/bin/env bash
# Web view fan-out: cam-send (test pattern, 1280x720 at 30 fps) into a headless cam-view with
# --http, then N MJPEG clients (examples/mjpeg-clients.rs, one thread and connection each) for
# SECS seconds. Reports the frames each client received against the frames the viewer
# received in the same window, and the viewer's CPU with the clients against without them in
# the same run (utime+stime from /proc). Loopback only; every run is time-bounded.
#
#   scripts/bench-http.sh                # 32 clients, 10 s
#   CLIENTS="1 8 32" SECS=10 scripts/bench-http.sh
set -euo pipefail
cd "$(dirname "$0")/.."
CLIENTS=${CLIENTS:-"32"}
SECS=${SECS:-10}
SIZE=${SIZE:-1280x720}
FPS=${FPS:-30}
cargo build --release --quiet --bins --example mjpeg-clients
B=target/release
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
frames_so_far() { python3 -c 'import json,sys
n=0
for l in open(sys.argv[1]):
    try: v=json.loads(l)
    except Exception: continue
    if v.get("type")=="interval": n+=v.get("frames",0)
print(n)' "$tmp/v.json"; }
hz=$(getconf CLK_TCK)
hport=$(free_port)
"$B/cam-view" --headless --listen 127.0.0.1:0 --http 127.0.0.1:$hport --http-max-clients 4096 \
    --stats-json > "$tmp/v.json" 2> "$tmp/v.err" &
vp=$!
for _ in $(seq 100); do grep -q 'listening on' "$tmp/v.err" 2>/dev/null && break; sleep 0.1; done
vaddr=$(grep -o 'listening on [^ ]*' "$tmp/v.err" | head -1 | cut -d' ' -f3)
"$B/cam-send" "$vaddr" --size "$SIZE" --fps "$FPS" > /dev/null 2>&1 &
sleep 3
# Viewer fps over the lines printed while $1 runs (the median of the interval lines).
fps_during() {
    local before after
    before=$(wc -l < "$tmp/v.json")
    "$@"
    after=$(wc -l < "$tmp/v.json")
    sed -n "$((before + 1)),${after}p" "$tmp/v.json" | python3 -c 'import json,sys,statistics
f=[json.loads(l).get("fps") for l in sys.stdin if l.startswith("{")]
f=[x for x in f if x]
print(statistics.median(f) if f else 0)'
}
idle() { sleep "$SECS"; }
t0=$(cpu_ticks $vp); fps0=$(fps_during idle); t1=$(cpu_ticks $vp)
base=$(python3 -c "print(($t1-$t0)/$hz/$SECS*100)")
printf 'viewer alone: %.1f fps, CPU %.1f%% of a core\n' "$fps0" "$base"
printf '%-8s %-10s %-12s %-12s %-10s %-14s %-16s\n' clients viewer_fps min_client worst_ratio not_jpeg cpu_%core cpu_us/frame/client
for n in $CLIENTS; do
    run_clients() { "$B/examples/mjpeg-clients" "http://127.0.0.1:$hport/stream.mjpg" "$n" "$SECS" > "$tmp/c.json"; }
    t0=$(cpu_ticks $vp); fps=$(fps_during run_clients); t1=$(cpu_ticks $vp)
    python3 - "$tmp/c.json" "$n" "$fps" "$t0" "$t1" "$hz" "$SECS" "$base" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
n, fps, t0, t1, hz, secs, base = int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), float(sys.argv[7]), float(sys.argv[8])
cpu = (t1 - t0) / hz / c["seconds"] * 100
expect = fps * c["seconds"]
worst = c["min_frames"] / expect if expect else 0
per = (cpu - base) / 100 / n / max(fps, 1e-9) * 1e6
print(f'{n:<8} {fps:<10.1f} {c["min_frames"]:<12} {worst:<12.3f} {c["not_jpeg"]:<10} {cpu:<14.1f} {per:<16.1f}')
if c["errors"]:
    print("  client errors:", c["errors"][:3])
PY
done
kill -INT $vp 2>/dev/null || true
