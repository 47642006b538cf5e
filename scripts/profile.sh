#!/usr/bin/env bash
# Where the CPU goes on each side of a loopback run: cam-send --fps 0 into cam-view --headless,
# each under `perf record` (software cpu-clock sampling, so it works in VMs without hardware
# counters), then every sample sorted into a stage by thread name, library and symbol.
#
#   scripts/profile.sh                       # 1280x720 and 1920x1080, 300 frames each
#   scripts/profile.sh --sizes 1920x1080 --frames 200 --features turbojpeg
#
# Needs `perf` (Debian: apt-get install linux-perf) and perf_event_paranoid <= 2.
# Percentages are of that process's samples; ms/frame = samples / rate / frames delivered.
set -euo pipefail
cd "$(dirname "$0")/.."

FRAMES=300
SIZES="1280x720 1920x1080"
FEATURES=""
RATE=1999
while [ $# -gt 0 ]; do
    case "$1" in
    --frames) FRAMES="$2"; shift ;;
    --sizes) SIZES="$2"; shift ;;
    --features) FEATURES="$2"; shift ;;
    -h | --help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "profile.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
command -v perf >/dev/null || { echo "profile.sh: perf not found (apt-get install linux-perf)" >&2; exit 1; }

cargo build --release --quiet ${FEATURES:+--features "$FEATURES"}
OUT=target/profile
mkdir -p "$OUT"
TIMEOUT=$((30 + FRAMES / 3))

# Sorts perf samples into stages. Input: perf report -t '|' lines "pct|samples|comm|dso|sym".
# The rules lean on the pipelines' thread names (src/app): encode, capture, ack-reader and
# the main network loop on the sender; net and decode on the viewer.
categorize() {
    awk -F'|' -v rate="$RATE" -v frames="$2" -v side="$1" '
    function trim(s) { gsub(/^[ \t]+|[ \t]+$/, "", s); return s }
    NF >= 5 {
        n = trim($2) + 0; comm = trim($3); dso = trim($4); sym = trim($5); total += n
        k = (sym ~ /^\[k\]/)
        if (sym ~ /camwire::media::pattern/) c = "pattern render"
        else if (sym ~ /jpeg_encoder|libjpeg_turbo_rs/) c = "JPEG encode (libjpeg-turbo-rs)"
        else if (dso ~ /turbojpeg|libjpeg/ && comm == "encode") c = "JPEG encode (libjpeg-turbo)"
        else if (dso ~ /turbojpeg|libjpeg/) c = "JPEG decode (libjpeg-turbo, incl. colour conversion)"
        else if (sym ~ /zune_jpeg::color_convert|color_convert_ycbcr/) c = "colour conversion YCbCr->RGB (zune)"
        else if (sym ~ /zune_jpeg/) c = "JPEG decode (zune-jpeg: entropy, IDCT, upsample)"
        else if (sym ~ /codec::(pure|turbo)::Decoder::decode_0rgb/) c = "RGB->0RGB packing (codec::Decoder)"
        else if (sym ~ /crc32fast/) c = "CRC-32"
        else if (sym ~ /memmove|memcpy/ && comm == "net") c = "reassembly copy (memcpy)"
        else if (sym ~ /memmove|memcpy/) c = "memcpy (" comm " thread)"
        else if (sym ~ /memset/) c = "memset (buffer zeroing)"
        else if (sym ~ /camwire::(reassembly|receiver|wire|sender)/) c = "protocol state machines"
        else if (sym ~ /crossbeam|park|futex|std::sync|std::thread/ || (k && sym ~ /futex|schedule|switch|wake|enqueue_task|dequeue_task|pick_next/)) c = "thread hand-offs (channels, futex, scheduler)"
        else if (k && sym ~ /page_fault|clear_page|do_anonymous|mmap|munmap|unmap|alloc_pages|folio|mas_|pte|tlb/) c = "page faults / memory map (kernel)"
        else if (k && side == "send" && comm != "ack-reader" && comm != "encode" && comm != "capture") c = "sendto + loopback delivery (kernel)"
        else if (k && (comm == "net" || comm == "ack-reader")) c = "recv (kernel)"
        else if (k) c = "other kernel (" comm " thread)"
        else if (sym ~ /malloc|free|realloc|cfree/) c = "allocator"
        else c = "other user (" comm " thread)"
        cat[c] += n
    }
    END {
        printf "| %s stage | %% of %s CPU | ms/frame |\n|---|---|---|\n", side, side
        for (c in cat) printf "%s|%.1f|%.2f\n", c, 100 * cat[c] / total, cat[c] / rate * 1000 / frames | "sort -t\"|\" -k2 -rn | sed \"s/|/ | /g; s/^/| /; s/$/ |/\""
        close("sort -t\"|\" -k2 -rn | sed \"s/|/ | /g; s/^/| /; s/$/ |/\"")
        printf "| total | 100 | %.2f |\n\n", total / rate * 1000 / frames
    }'
}

for size in $SIZES; do
    d="$OUT/$size"
    mkdir -p "$d"
    port=$((20000 + RANDOM % 30000))
    timeout -s INT "$TIMEOUT" perf record -q -e cpu-clock -F "$RATE" -o "$d/view.data" -- \
        target/release/cam-view --headless --listen "127.0.0.1:$port" --frames "$FRAMES" \
        --stats-json >"$d/view.json" 2>"$d/view.err" &
    vpid=$!
    sleep 1
    timeout -s INT "$TIMEOUT" perf record -q -e cpu-clock -F "$RATE" -o "$d/send.data" -- \
        target/release/cam-send "127.0.0.1:$port" --pattern --size "$size" --fps 0 \
        --frames "$FRAMES" --stats-json >"$d/send.json" 2>"$d/send.err" || true
    # The viewer stops by itself after N frames; a lost frame would leave it waiting.
    for _ in $(seq 1 60); do kill -0 "$vpid" 2>/dev/null || break; sleep 0.05; done
    kill -INT "$vpid" 2>/dev/null || true
    wait "$vpid" 2>/dev/null || true
    recv=$(grep '"type":"summary"' "$d/view.json" | sed -nE 's/.*"frames":([0-9]+).*/\1/p')
    fps=$(grep '"type":"summary"' "$d/view.json" | sed -nE 's/.*"fps":([0-9.]+).*/\1/p')
    echo "## $size: $recv frames delivered at $fps fps (under perf)"
    echo
    for side in send view; do
        perf report -i "$d/$side.data" --no-children --sort comm,dso,sym -n -g none --stdio \
            -t '|' --percent-limit 0 2>/dev/null | grep -v '^#' | grep -v '^$' |
            categorize "$side" "${recv:-1}"
    done
    echo "Top symbols are in: perf report -i $d/send.data (or view.data) --sort comm,sym"
    echo
done
