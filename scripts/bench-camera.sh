#!/usr/bin/env bash
# The sender's CPU per frame on each webcam path, with the fake camera (`cam-send --camera
# fake:FORMAT`, no hardware, any build) at a camera's pace, into cam-view --headless on
# 127.0.0.1:
#
#   mjpeg      the camera's JPEG passed through (cut at EOI), no encode
#   yuyv       YUYV 4:2:2 -> planar 4:2:0 (full range) -> encode_i420
#   nv12       NV12 -> planar 4:2:0 (de-interleave, full range) -> encode_i420
#   yuyv-rgb   the old path, for comparison: YUYV -> RGB24 -> encode_rgb
#   nv12-rgb   the old path: NV12 -> RGB24 -> encode_rgb
#
#   scripts/bench-camera.sh                         # both builds, 720p and 1080p, 300 frames
#   scripts/bench-camera.sh --quick                 # 60 frames per run: a smoke test
#   scripts/bench-camera.sh --builds default --sizes 1280x720 --frames 600
#   scripts/bench-camera.sh --paths "yuyv yuyv-rgb" --fps 30
#
# Builds are `default` (pure Rust: libjpeg-turbo-rs encodes) and `turbojpeg` (--features turbojpeg, needs
# libturbojpeg0-dev); each is built once with cargo (CARGO_TARGET_DIR is honoured) and its
# binaries copied aside, so every number comes from this one invocation.
#
# CPU ms/frame is user+sys of the cam-send process (all threads: capture and conversion,
# encode, network) from the moment it prints "sending ..." (the fake camera's pictures are
# made before that, so their cost is left out) to its exit, read from /proc/PID/stat at the
# start and from bash's `time` at the end, divided by the frames the sender sent. The viewer's
# CPU is not counted. Only 127.0.0.1 is used; every wait is bounded. Prints one table.
set -euo pipefail
cd "$(dirname "$0")/.."

FRAMES=300
FPS=30
SIZES="1280x720 1920x1080"
BUILDS="default turbojpeg"
PATHS="mjpeg yuyv nv12 yuyv-rgb nv12-rgb"
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) FRAMES=60 ;;
    --frames) FRAMES="$2"; shift ;;
    --fps) FPS="$2"; shift ;;
    --sizes) SIZES="$2"; shift ;;
    --builds) BUILDS="$2"; shift ;;
    --paths) PATHS="$2"; shift ;;
    -h | --help) sed -n '2,26p' "$0"; exit 0 ;;
    *) echo "bench-camera.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done
case "$FRAMES" in '' | *[!0-9]* | 0 | 1) echo "bench-camera.sh: --frames needs a number above 1" >&2; exit 2 ;; esac
case "$FPS" in '' | *[!0-9]* | 0) echo "bench-camera.sh: --fps needs a positive whole number" >&2; exit 2 ;; esac
# The longest a single run may take: the frames at the camera's rate, plus slack.
RUN_TIMEOUT=$((30 + 2 * FRAMES / FPS))

WORK=$(mktemp -d "${TMPDIR:-/tmp}/camwire-bench-camera.XXXXXX")
BG_PIDS=()
cleanup() {
    # Only the processes this script started, by their ids.
    for p in "${BG_PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
    if [ -n "${BENCH_KEEP:-}" ]; then echo "bench-camera.sh: kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

TARGET=${CARGO_TARGET_DIR:-target}
for b in $BUILDS; do
    case "$b" in
    default) feat="" ;;
    turbojpeg) feat="turbojpeg" ;;
    *) echo "bench-camera.sh: unknown build $b (default or turbojpeg)" >&2; exit 2 ;;
    esac
    echo "building $b: cargo build --release ${feat:+--features $feat}" >&2
    cargo build --release --quiet --bin cam-send --bin cam-view ${feat:+--features "$feat"}
    mkdir -p "$WORK/bin-$b"
    cp "$TARGET/release/cam-send" "$TARGET/release/cam-view" "$WORK/bin-$b/"
done

TIMEFORMAT='%3U %3S'
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh  # (the scripts run from the repository root)

ROWS=()

# One run: build $1, size $2, fake camera format $3. Appends "build|size|path|ms|fps|KB|drops".
run_one() {
    local build=$1 size=$2 path=$3
    local d="$WORK/$build-$size-$path" bin="$WORK/bin-$build"
    mkdir -p "$d"
    "$bin/cam-view" --headless --listen 127.0.0.1:0 --frames "$FRAMES" --stats-json \
        >"$d/view.json" 2>"$d/view.err" &
    local vpid=$!
    BG_PIDS+=("$vpid")
    if ! wait_for "$d/view.err" "listening on" 10; then
        echo "bench-camera.sh: cam-view did not start:" >&2
        cat "$d/view.err" >&2
        exit 1
    fi
    local port
    port=$(sed -nE 's/.*listening on 127\.0\.0\.1:([0-9]+).*/\1/p' "$d/view.err" | head -n1)
    # `time` in a background subshell: its one child is cam-send, whose pid is read from
    # /proc to sample its CPU once the fake camera's pictures are made.
    (
        { time "$bin/cam-send" "127.0.0.1:$port" --camera "fake:$path" --size "$size" \
            --fps "$FPS" --frames "$FRAMES" --stats-json >"$d/send.json" 2>"$d/send.err"; } \
            2>"$d/send.time" || true
    ) &
    local tpid=$! spid="" cpu0=""
    BG_PIDS+=("$tpid")
    if wait_for "$d/send.err" "^cam-send: sending" 60; then
        local t
        for t in /proc/"$tpid"/task/*/children; do
            spid=$(cat "$t" 2>/dev/null | awk '{print $1}')
            [ -n "$spid" ] && break
        done
        # The subshell may have exec'd cam-send itself: then it is the process.
        [ -z "$spid" ] && spid=$tpid
        cpu0=$(proc_cpu "$spid" || true)
    fi
    wait_bounded "$tpid" "$RUN_TIMEOUT"
    # The viewer exits after N frames; if some were lost it would wait for ever.
    wait_bounded "$vpid" 3
    local ss vs
    ss=$(grep '"type":"summary"' "$d/send.json" | tail -n1 || true)
    vs=$(grep '"type":"summary"' "$d/view.json" | tail -n1 || true)
    if [ -z "$ss" ] || [ -z "$cpu0" ]; then
        echo "bench-camera.sh: $build $size $path gave no result; cam-send said:" >&2
        tail -n5 "$d/send.err" >&2
        ROWS+=("$build|$size|$path|-|-|-|-")
        return
    fi
    awk -v b="$build" -v s="$size" -v p="$path" -v cpu1="$(cpu_of "$d/send.time")" -v cpu0="$cpu0" \
        -v sent="$(field frames "$ss")" -v drops="$(field dropped_frames "$ss")" \
        -v fps="$(field fps "${vs:-$ss}")" -v bytes="$(field bytes "${vs:-$ss}")" \
        -v recv="$(field frames "${vs:-$ss}")" 'BEGIN {
            printf "%s|%s|%s|%.2f|%.1f|%.0f|%d\n", b, s, p, sent ? (cpu1 - cpu0) * 1000 / sent : 0,
                fps, recv ? bytes / recv / 1000 : 0, drops
        }' >"$d/row"
    ROWS+=("$(cat "$d/row")")
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); $FRAMES frames per run at $FPS fps" >&2
for size in $SIZES; do
    case "$size" in *[0-9]x[0-9]*) ;; *) echo "bench-camera.sh: bad size $size" >&2; exit 2 ;; esac
    for build in $BUILDS; do
        for path in $PATHS; do
            echo "running $build $size $path" >&2
            run_one "$build" "$size" "$path"
        done
    done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

# One row per size and path, a column of ms per build, and each build's ratio to its own
# old path (yuyv-rgb for YUYV and MJPEG, nv12-rgb for NV12) from this same invocation.
printf '%s\n' "${ROWS[@]}" | awk -F'|' -v builds="$BUILDS" '
    { key = $2 "|" $3; if (!(key in seen)) { seen[key] = 1; order[++n] = key }
      ms[$1 "|" key] = $4; fps[$1 "|" key] = $5; kb[$1 "|" key] = $6; drops[$1 "|" key] = $7 }
    END {
        nb = split(builds, b, " ")
        head = "| size | path |"; rule = "|---|---|"
        for (i = 1; i <= nb; i++) {
            head = head " " b[i] " ms/frame | vs old |"; rule = rule "---|---|"
        }
        head = head " fps | KB/frame |"; rule = rule "---|---|"
        print head; print rule
        for (k = 1; k <= n; k++) {
            split(order[k], f, "|"); size = f[1]; path = f[2]
            base = (path ~ /^nv12/) ? "nv12-rgb" : "yuyv-rgb"
            line = "| " size " | " path " |"
            for (i = 1; i <= nb; i++) {
                v = ms[b[i] "|" order[k]]; o = ms[b[i] "|" size "|" base]
                r = (v != "" && v != "-" && o != "" && o != "-" && o > 0 && path != base) ? sprintf("%.2f", v / o) : "-"
                line = line " " (v == "" ? "-" : v) " | " r " |"
            }
            # fps and size of the first build: the same frames whichever codec.
            line = line " " fps[b[1] "|" order[k]] " | " kb[b[1] "|" order[k]] " |"
            print line
        }
    }'
exit 0
