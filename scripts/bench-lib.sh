# Helpers shared by the benchmark scripts (sourced by scripts/bench.sh and
# scripts/bench-camera.sh; not run on its own). Expects TIMEFORMAT='%3U %3S' for cpu_of.

TCK=$(getconf CLK_TCK)

# The number after the first "key": in a one-line JSON object (the top level's, ahead of the
# per-sender entries that repeat some keys); empty when absent or null.
field() { grep -oE "\"$1\":-?[0-9.eE+]+" <<<"$2" | head -n1 | cut -d: -f2; }

# Sum of user and sys seconds written by bash's `time` with TIMEFORMAT='%3U %3S'.
cpu_of() { awk 'NF==2 && $1 ~ /^[0-9.]+$/ {s=$1+$2} END {printf "%.3f\n", s+0}' "$1"; }

# user+sys seconds of process $1 so far, from /proc/PID/stat (fields after the command name).
proc_cpu() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    awk -v tck="$TCK" '{printf "%.3f\n", ($12 + $13) / tck}' <<<"${stat##*) }"
}

# Waits until file $1 contains $2 (a grep pattern) or $3 seconds pass; status 1 on timeout.
wait_for() {
    local end=$((SECONDS + $3))
    until grep -q "$2" "$1" 2>/dev/null; do
        [ "$SECONDS" -ge "$end" ] && return 1
        sleep 0.02
    done
}

# Waits for process $1 for at most $2 seconds, then asks it to stop (cam-view and cam-send
# print their summary on SIGTERM).
wait_bounded() {
    local end=$((SECONDS + $2))
    while kill -0 "$1" 2>/dev/null; do
        if [ "$SECONDS" -ge "$end" ]; then
            kill -TERM "$1" 2>/dev/null || true
            break
        fi
        sleep 0.05
    done
    wait "$1" 2>/dev/null || true
}
