#!/usr/bin/env bash
# End-to-end loopback benchmark: cam-send --fps 0 into cam-view --headless at 640x480, 1280x720
# and 1920x1080, and (where gst-launch-1.0 is installed) GStreamer's RTP/JPEG pipeline at the
# same sizes, right after each camwire run so that both see the same machine load.
#
#   scripts/bench.sh                      # 3000 frames per run (at several hundred fps, fewer
#                                         # make a run of a second or two, start-up included);
#                                         # the default (pure Rust) build
#                                         # and, where libturbojpeg is installed, the
#                                         # --features turbojpeg build, side by side
#   scripts/bench.sh --quick              # 60 frames per run: a smoke test
#   scripts/bench.sh --frames 1000 --sizes "1280x720" --builds turbojpeg
#   scripts/bench.sh --repeat 4           # every size and system 4 times, interleaved; the
#                                         # table gives medians and each run's fps ratio
#                                         # (single runs on a shared 2-core machine swing 20-30%)
#   scripts/bench.sh --no-gst             # camwire only
#   scripts/bench.sh --bin-dir /tmp/old   # cam-send and cam-view from there, not built here
#                                         # (A/B runs of two builds on the same machine)
#   scripts/bench.sh --keyed              # also camwire with a shared key, right after the
#                                         # keyless run at each size, and the keyed/keyless ratio
#   scripts/bench.sh --no-camera          # leave out the webcam paths (scripts/bench-camera.sh:
#                                         # the fake camera's MJPEG, YUYV and NV12 at 720p30 and
#                                         # 1080p30, each build, the sender's CPU per frame)
#   scripts/bench.sh --no-syscalls        # leave out the socket paths (cargo bench --bench
#                                         # syscalls: a 1080p frame by GSO, sendmmsg, or one
#                                         # call per datagram)
#
# Prints one table. Only 127.0.0.1 is used; every wait is bounded.
#
# Columns:
#   fps        frames delivered / seconds from the first delivered frame to the last (the
#              viewer's own summary for camwire; timestamps of fakesink's handoffs for GStreamer)
#   lost       frames sent - frames received
#   CPU ms/fr  user+sys CPU of sender and receiver (whole processes, start-up included, all
#              threads; from the shell's `time`), divided by frames delivered
#   p50/p95    capture-to-decoded latency from cam-view's summary (GStreamer: not measured)
#   KB/fr      JPEG bytes per delivered frame
#   other s    CPU seconds that other processes used during the run (from /proc/stat): when it
#              is large, the run competed for the cores and its numbers are pessimistic
#   ratio      camwire / GStreamer at the same size, measured in the same invocation
set -euo pipefail
cd "$(dirname "$0")/.."

FRAMES=3000
SIZES="640x480 1280x720 1920x1080"
BUILDS=""
GST=1
KEYED=0
CAMERA=1
SYSCALLS=1
REPEAT=1
BIN_DIR=""
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) FRAMES=60 ;;
    --frames) FRAMES="$2"; shift ;;
    --sizes) SIZES="$2"; shift ;;
    --builds | --features) BUILDS="$2"; shift ;;
    --no-gst) GST=0 ;;
    --bin-dir) BIN_DIR="$2"; shift ;;
    --keyed) KEYED=1 ;;
    --repeat) REPEAT="$2"; shift ;;
    --no-camera) CAMERA=0 ;;
    --no-syscalls) SYSCALLS=0 ;;
    -h | --help) sed -n '2,39p' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done
case "$FRAMES" in '' | *[!0-9]* | 0) echo "bench.sh: --frames needs a positive number" >&2; exit 2 ;; esac
case "$REPEAT" in '' | *[!0-9]* | 0) echo "bench.sh: --repeat needs a positive number" >&2; exit 2 ;; esac
# The longest a single run may take: generous for a loaded 2-core machine at 1080p (~10 fps).
RUN_TIMEOUT=$((30 + FRAMES / 5))

WORK=$(mktemp -d "${TMPDIR:-/tmp}/camwire-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
# Each build's binaries, copied out of target/ so that the next build does not replace them.
declare -A SEND_OF VIEW_OF
if [ -n "$BIN_DIR" ]; then
    [ -x "$BIN_DIR/cam-send" ] && [ -x "$BIN_DIR/cam-view" ] || { echo "bench.sh: no cam-send and cam-view in $BIN_DIR" >&2; exit 2; }
    BUILDS="given"
    SEND_OF[given]="$BIN_DIR/cam-send"
    VIEW_OF[given]="$BIN_DIR/cam-view"
else
    if [ -z "$BUILDS" ]; then
        BUILDS="default"
        if pkg-config --exists libturbojpeg 2>/dev/null; then
            BUILDS="default turbojpeg"
        else
            TURBO_NOTE="the turbojpeg build skipped: libturbojpeg not found (apt-get install libturbojpeg0-dev pkg-config)"
        fi
    fi
    for b in $BUILDS; do
        features=""
        [ "$b" != default ] && features="$b"
        echo "building: cargo build --release ${features:+--features $features}" >&2
        cargo build --release --quiet ${features:+--features "$features"}
        mkdir -p "$WORK/bin-$b"
        cp target/release/cam-send target/release/cam-view "$WORK/bin-$b/"
        SEND_OF[$b]="$WORK/bin-$b/cam-send"
        VIEW_OF[$b]="$WORK/bin-$b/cam-view"
    done
fi

# A build's name in the tables.
label_of() {
    case "$1" in
    default) echo "camwire" ;;
    given) echo "camwire ($BIN_DIR)" ;;
    *) echo "camwire $1" ;;
    esac
}

HAVE_GST=0
if [ "$GST" = 1 ]; then
    if command -v gst-launch-1.0 >/dev/null 2>&1 &&
        gst-inspect-1.0 jpegenc >/dev/null 2>&1 && gst-inspect-1.0 rtpjpegpay >/dev/null 2>&1; then
        HAVE_GST=1
    else
        GST_NOTE="GStreamer skipped: gst-launch-1.0 with jpegenc and rtpjpegpay not found (apt-get install gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good)"
    fi
else
    GST_NOTE="GStreamer skipped (--no-gst)"
fi

BG_PIDS=()
cleanup() {
    # Only the processes this script started, by their ids.
    for p in "${BG_PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
    if [ -n "${BENCH_KEEP:-}" ]; then echo "bench.sh: kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

TIMEFORMAT='%3U %3S'
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh  # (the scripts run from the repository root)

# CPU seconds spent by the whole machine (user, nice, system, irq, softirq) so far.
machine_busy() {
    awk -v tck="$TCK" '/^cpu /{printf "%.3f\n", ($2+$3+$4+$7+$8)/tck; exit}' /proc/stat
}

ROWS=()

run_camwire() {
    local size=$1 build=$2 key=""
    local SEND=${SEND_OF[$build]} VIEW=${VIEW_OF[$build]} label
    label=$(label_of "$build")
    if [ "${3:-}" = keyed ]; then
        label="$label keyed"
        key=$("$SEND" --gen-key)
    fi
    local d="$WORK/cw-$1-$build-${3:-plain}-$REP"
    mkdir -p "$d"
    # Empty means no key; the environment keeps the key out of `ps`.
    export CAMWIRE_KEY="$key"
    local busy0 busy1 vpid port
    busy0=$(machine_busy)
    # Port 0: the viewer picks a free port and prints it, so runs never collide.
    (
        { time {
            timeout -s TERM "$RUN_TIMEOUT" "$VIEW" --headless --listen 127.0.0.1:0 \
                --frames "$FRAMES" --stats-json >"$d/view.json" 2>"$d/view.err" &
            # `timeout` passes a TERM on to cam-view, which then prints its summary.
            echo $! >"$d/view.pid"
            wait $!
        }; } 2>"$d/view.time"
    ) &
    vpid=$!
    BG_PIDS+=("$vpid")
    if ! wait_for "$d/view.err" "listening on" 10; then
        echo "bench.sh: cam-view did not start:" >&2
        cat "$d/view.err" >&2
        exit 1
    fi
    port=$(sed -nE 's/.*listening on 127\.0\.0\.1:([0-9]+).*/\1/p' "$d/view.err" | head -n1)
    { time timeout -s TERM "$RUN_TIMEOUT" "$SEND" "127.0.0.1:$port" --pattern --size "$size" \
        --fps 0 --frames "$FRAMES" --stats-json >"$d/send.json" 2>"$d/send.err"; } \
        2>"$d/send.time" || true
    # The viewer exits by itself after N frames; if some were lost it would wait for ever,
    # so once the sender is done it gets 3 s and is then told to stop.
    local end=$((SECONDS + 3))
    while kill -0 "$vpid" 2>/dev/null && [ "$SECONDS" -lt "$end" ]; do sleep 0.05; done
    kill -TERM "$(cat "$d/view.pid")" 2>/dev/null || true
    wait_bounded "$vpid" 5
    busy1=$(machine_busy)

    local vs ss recv sent scpu vcpu
    vs=$(grep '"type":"summary"' "$d/view.json" | tail -n1 || true)
    ss=$(grep '"type":"summary"' "$d/send.json" | tail -n1 || true)
    if [ -z "$vs" ] || [ -z "$ss" ]; then
        echo "bench.sh: camwire $size gave no summary; sender said:" >&2
        tail -n5 "$d/send.err" >&2
        ROWS+=("$REP|$size|$label|-|-|-|-|-|-|-")
        return
    fi
    recv=$(field frames "$vs")
    sent=$(($(field frames "$ss") + $(field dropped_frames "$ss")))
    scpu=$(cpu_of "$d/send.time")
    vcpu=$(cpu_of "$d/view.time")
    awk -v size="$size" -v label="$label" -v fps="$(field fps "$vs")" -v recv="$recv" -v sent="$sent" \
        -v cpu="$scpu+$vcpu" -v p50="$(field latency_ms_p50 "$vs")" \
        -v p95="$(field latency_ms_p95 "$vs")" -v bytes="$(field bytes "$vs")" \
        -v busy="$busy1-$busy0" 'BEGIN {
            split(cpu, c, "+"); split(busy, b, "-"); ours = c[1] + c[2]
            other = b[1] - b[2] - ours; if (other < 0) other = 0
            printf "%s|%s|%s|%d|%.2f|%.1f|%.1f|%.1f|%.1f\n", size, label, fps == "" ? "-" : sprintf("%.1f", fps), sent - recv,
                recv ? ours * 1000 / recv : 0, p50, p95, recv ? bytes / recv / 1000 : 0, other
        }' >"$d/row"
    ROWS+=("$REP|$(cat "$d/row")")
}

# GStreamer RTP/JPEG, the pipelines of shared/research/peers-loopback.md ("videotestsrc, full
# speed", receiver "tuned" as given in the benchmark brief: an 8 MB socket buffer and a queue
# so that decoding runs on its own thread).
#
# How frames are counted: RTP has no end-of-stream and udpsrc never stops, so the receiver
# runs `fakesink silent=false` under gst-launch -v, which prints a "last-message = chain" line
# for decoded frames, with the buffer's pts: udpsrc's arrival time of the frame, in pipeline
# running time (identity prints the same for each JPEG, with its size). Those notifications
# are not exactly one per buffer (a 600-frame run printed 604 for 595 JPEGs), so frames are
# counted as distinct pts values, and fps = frames / (last pts - first pts), the same
# definition as cam-view's. A missed notification can undercount by well under 1%. When the
# count reaches N, or 3 s after the sender has finished, the receiver is stopped with SIGTERM;
# its CPU (reaped by `time`) covers the whole run. The -v printing costs the receiver a few
# microseconds per frame, well under 1% of its CPU.
run_gst() {
    local size=$1 d="$WORK/gst-$1-$REP"
    mkdir -p "$d"
    local w=${size%x*} h=${size#*x} busy0 busy1 port rpid
    port=$((20000 + RANDOM % 30000))
    busy0=$(machine_busy)
    (
        { time {
            timeout -s TERM "$RUN_TIMEOUT" stdbuf -oL gst-launch-1.0 -v \
                udpsrc address=127.0.0.1 port="$port" buffer-size=4194304 \
                caps="application/x-rtp,media=video,clock-rate=90000,encoding-name=JPEG,payload=26" \
                ! rtpjpegdepay ! identity silent=false ! queue ! jpegdec \
                ! fakesink sync=false silent=false 2>"$d/recv.err" &
            echo $! >"$d/recv.pid"
            wait $!
        }; } 2>"$d/recv.time"
    ) | while IFS= read -r line; do
        case "$line" in
        *"fakesink"*"last-message = chain"*)
            p=${line#*pts: }; echo "F ${p%%,*}" ;;
        *"identity"*"last-message = chain"*)
            b=${line#*(}; b=${b#*(}; echo "B ${b%% bytes*}" ;;
        esac
    done >"$d/stamps" &
    rpid=$!
    BG_PIDS+=("$rpid")
    if ! wait_for "$d/recv.pid" . 10; then
        echo "bench.sh: GStreamer receiver did not start" >&2
        return
    fi
    # gst-launch prints nothing we can wait on when the pipeline is ready; 1 s is plenty.
    sleep 1
    { time timeout -s TERM "$RUN_TIMEOUT" gst-launch-1.0 -q \
        videotestsrc pattern=smpte horizontal-speed=4 is-live=false num-buffers="$FRAMES" \
        ! "video/x-raw,format=I420,width=$w,height=$h,framerate=30/1" \
        ! jpegenc quality=80 ! rtpjpegpay \
        ! udpsink host=127.0.0.1 port="$port" sync=false >"$d/send.out" 2>"$d/send.err"; } \
        2>"$d/send.time" || true
    local end=$((SECONDS + 3))
    while [ "$(grep '^F' "$d/stamps" 2>/dev/null | sort -u | wc -l)" -lt "$FRAMES" ] && [ "$SECONDS" -lt "$end" ]; do
        sleep 0.05
    done
    kill -TERM "$(cat "$d/recv.pid")" 2>/dev/null || true
    wait_bounded "$rpid" 5
    busy1=$(machine_busy)
    awk -v size="$size" -v sent="$FRAMES" -v scpu="$(cpu_of "$d/send.time")" \
        -v rcpu="$(cpu_of "$d/recv.time")" -v busy="$busy1-$busy0" '
        $1 == "F" && !($2 in seen) {
            seen[$2] = 1; n++; split($2, hms, ":"); t = hms[1] * 3600 + hms[2] * 60 + hms[3]
            if (n == 1 || t < t0) t0 = t; if (n == 1 || t > t1) t1 = t
        }
        $1 == "B" { bytes += $2; nb++ }
        END {
            split(busy, b, "-"); ours = scpu + rcpu
            other = b[1] - b[2] - ours; if (other < 0) other = 0
            fps = (n > 1 && t1 > t0) ? n / (t1 - t0) : 0
            printf "%s|GStreamer|%.1f|%d|%.2f|-|-|%.1f|%.1f\n", size, fps, sent - n,
                n ? ours * 1000 / n : 0, nb ? bytes / nb / 1000 : 0, other
        }' "$d/stamps" >"$d/row"
    ROWS+=("$REP|$(cat "$d/row")")
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); $FRAMES frames per run" >&2
for REP in $(seq 1 "$REPEAT"); do
    for size in $SIZES; do
        case "$size" in *[0-9]x[0-9]*) ;; *) echo "bench.sh: bad size $size" >&2; exit 2 ;; esac
        for b in $BUILDS; do
            echo "running $(label_of "$b") $size (run $REP of $REPEAT)" >&2
            run_camwire "$size" "$b"
            if [ "$KEYED" = 1 ]; then
                echo "running $(label_of "$b") keyed $size" >&2
                run_camwire "$size" "$b" keyed
            fi
        done
        if [ "$HAVE_GST" = 1 ]; then
            echo "running GStreamer $size (run $REP of $REPEAT)" >&2
            run_gst "$size"
        fi
    done
done

# One row per size and system: the median of its runs (lost: the total), and the ratios to
# GStreamer taken within each run, then their median; with several runs, each run's fps
# ratio too. Input rows: "run|size|system|fps|lost|cpu|p50|p95|KB|other".
MEDIANS=$(printf '%s\n' "${ROWS[@]}" | awk -F'|' '
    # The median of the comma-separated values that are numbers ("-": not measured in that run).
    function median(list,    m, all, v, n, i, j, t) {
        m = split(list, all, ","); n = 0
        for (i = 1; i <= m; i++) if (all[i] != "-" && all[i] != "") v[++n] = all[i]
        if (n == 0) return "-"
        for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
        if (n % 2) return v[(n + 1) / 2]
        return (v[n / 2] == v[n / 2 + 1]) ? v[n / 2] : sprintf("%.2f", (v[n / 2] + v[n / 2 + 1]) / 2)
    }
    # (mawk creates an assigned element before it evaluates the right side: test first)
    function add(k, c, x,    t) { t = ((k, c) in vals) ? vals[k, c] "," x : x; vals[k, c] = t }
    {
        k = $2 "|" $3
        if (!(k in seen)) { seen[k] = 1; order[++n] = k }
        for (c = 4; c <= 10; c++) add(k, c, $c)
        if ($3 == "GStreamer") { gfps[$1, $2] = $4; gcpu[$1, $2] = $6 }
        run[NR] = $1; size[NR] = $2; sys[NR] = $3; fps[NR] = $4; cpu[NR] = $6
    }
    END {
        for (i = 1; i <= NR; i++) {
            if (sys[i] !~ /^camwire/ || !((run[i], size[i]) in gfps) || gfps[run[i], size[i]] <= 0 || fps[i] == "-") continue
            k = size[i] "|" sys[i]
            rf = sprintf("%.2f", fps[i] / gfps[run[i], size[i]])
            t = (k in rfs) ? rfs[k] ", " rf : rf; rfs[k] = t
            t = (k in ratios_f) ? ratios_f[k] "," rf : rf; ratios_f[k] = t
            if (gcpu[run[i], size[i]] > 0) {
                rc = sprintf("%.2f", cpu[i] / gcpu[run[i], size[i]])
                t = (k in ratios_c) ? ratios_c[k] "," rc : rc; ratios_c[k] = t
            }
        }
        for (i = 1; i <= n; i++) {
            k = order[i]; lost = 0; m = split(vals[k, 5], L, ",")
            for (j = 1; j <= m; j++) lost += L[j]
            printf "%s|%s|%d|%s|%s|%s|%s|%s|%s|%s|%s\n", k, median(vals[k, 4]), lost, median(vals[k, 6]),
                median(vals[k, 7]), median(vals[k, 8]), median(vals[k, 9]), median(vals[k, 10]),
                (k in ratios_f) ? median(ratios_f[k]) : "-", (k in ratios_c) ? median(ratios_c[k]) : "-",
                (k in rfs) ? rfs[k] : "-"
        }
    }')

echo
echo "camwire loopback benchmark, $(date -u +%Y-%m-%d), $(nproc) CPUs, $FRAMES frames per run, $REPEAT run(s) of each"
echo "codecs: camwire = the default build, pure Rust (libjpeg-turbo-rs encodes, zune-jpeg decodes);"
echo "camwire turbojpeg = --features turbojpeg (the system's libjpeg-turbo at both ends)"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
awk -F'|' -v repeat="$REPEAT" '
    BEGIN {
        many = repeat > 1
        printf "| size | system | fps | lost | CPU ms/frame | latency p50 ms | latency p95 ms | KB/frame | other CPU s | fps ratio camwire/GStreamer | CPU ratio camwire/GStreamer |%s\n", many ? " fps ratio, each run |" : ""
        printf "|---|---|---|---|---|---|---|---|---|---|---|%s\n", many ? "---|" : ""
    }
    { printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |%s\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, many ? " " $12 " |" : "" }
' <<<"$MEDIANS"
if [ "$KEYED" = 1 ]; then
    echo
    awk -F'|' '
        $2 ~ /^camwire/ && $2 !~ / keyed$/ { pf[$1 "|" $2] = $3; pc[$1 "|" $2] = $5 }
        $2 ~ / keyed$/ { b = $2; sub(/ keyed$/, "", b); k = $1 "|" b; kf[k] = $3; kc[k] = $5; order[++n] = k }
        END {
            print "| size | build | fps keyless | fps keyed | keyed/keyless fps | CPU ms/frame keyless | keyed | key cost ms/frame |"
            print "|---|---|---|---|---|---|---|---|"
            for (i = 1; i <= n; i++) {
                s = order[i]; split(s, sb, "|")
                r = (pf[s] > 0) ? sprintf("%.2f", kf[s] / pf[s]) : "-"
                printf "| %s | %s | %s | %s | %s | %s | %s | %.2f |\n", sb[1], sb[2], pf[s], kf[s], r, pc[s], kc[s], kc[s] - pc[s]
            }
        }' <<<"$MEDIANS"
fi
[ -n "${GST_NOTE:-}" ] && echo && echo "$GST_NOTE"
[ -n "${TURBO_NOTE:-}" ] && echo && echo "$TURBO_NOTE"

if [ "$CAMERA" = 1 ] && [ -z "$BIN_DIR" ]; then
    echo
    echo "running the webcam paths (scripts/bench-camera.sh)" >&2
    # The fake camera runs at 30 fps, so frames are seconds here: 300 (10 s a path) measure
    # the sender's CPU per frame well enough.
    cam_frames=$((FRAMES / 2 > 300 ? 300 : (FRAMES / 2 > 1 ? FRAMES / 2 : 2)))
    scripts/bench-camera.sh --builds "$BUILDS" --frames "$cam_frames"
fi
if [ "$SYSCALLS" = 1 ] && [ -z "$BIN_DIR" ]; then
    echo
    echo "running the socket paths (cargo bench --bench syscalls)" >&2
    if [ "$FRAMES" -lt 300 ]; then rounds=1; else rounds=5; fi
    cargo bench --quiet --bench syscalls -- "$FRAMES" "$rounds"
fi
exit 0
