#!/usr/bin/env bash
# Prints the medians of the last `cargo bench` run (target/criterion) as one Markdown table per
# bench group, with each row's ratio to the group's baseline: for encode, jpeg-encoder (the
# pure build's encoder before libjpeg-turbo-rs); for decode, pure::Decoder; for RGB->0RGB,
# the per-pixel loop.
# Ratios are what to compare: the machine may be shared, absolute times are not stable.
#
#   cargo bench --bench codec [--features turbojpeg] && scripts/criterion-table.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-target/criterion}
[ -d "$DIR" ] || { echo "criterion-table.sh: no $DIR; run cargo bench first" >&2; exit 1; }

find "$DIR" -path '*/new/benchmark.json' | sort | while read -r b; do
    e="${b%benchmark.json}estimates.json"
    [ -f "$e" ] || continue
    group=$(sed -nE 's/.*"group_id":"([^"]*)".*/\1/p' "$b")
    func=$(sed -nE 's/.*"function_id":"([^"]*)".*/\1/p' "$b")
    value=$(sed -nE 's/.*"value_str":"([^"]*)".*/\1/p' "$b")
    # "median":{"confidence_interval":{...},"point_estimate":NANOSECONDS,...}
    median=$(sed -nE 's/.*"median":\{"confidence_interval":\{[^}]*\},"point_estimate":([0-9.eE+-]+).*/\1/p' "$e")
    printf '%s\t%s\t%s\t%s\n' "$group" "$func" "$value" "$median"
done | sort -t"$(printf '\t')" -k1,1 -k3,3n | awk -F'\t' '
    BEGIN {
        base["encode"] = "jpeg-encoder"; base["decode"] = "zune-jpeg (pure::Decoder)"
        base["rgb-to-0rgb"] = "per pixel"
    }
    {
        g = $1; f = $2; v = $3; t[g, f, v] = $4
        if (!((g, f) in seenf)) { seenf[g, f] = 1; funcs[g] = funcs[g] "\t" f }
        if (!((g, v) in seenv)) { seenv[g, v] = 1; vals[g] = vals[g] "\t" v }
        if (!(g in seeng)) { seeng[g] = 1; groups[++ng] = g }
    }
    function fmt(ns) { return ns >= 1e6 ? sprintf("%.2f ms", ns / 1e6) : sprintf("%.1f us", ns / 1e3) }
    END {
        for (i = 1; i <= ng; i++) {
            g = groups[i]; nv = split(substr(vals[g], 2), V, "\t"); nf = split(substr(funcs[g], 2), F, "\t")
            printf "\n%s\n\n| %s |", g, (g in base) ? "candidate (ratio to " base[g] ")" : "benchmark"
            for (j = 1; j <= nv; j++) printf " %s |", V[j]
            printf "\n|---|"; for (j = 1; j <= nv; j++) printf "---|"; printf "\n"
            for (k = 1; k <= nf; k++) {
                printf "| %s |", F[k]
                for (j = 1; j <= nv; j++) {
                    x = t[g, F[k], V[j]]
                    if (x == "") { printf " - |"; continue }
                    r = ""
                    if ((g in base) && (g, base[g], V[j]) in t && t[g, base[g], V[j]] > 0)
                        r = sprintf(" (%.2fx)", x / t[g, base[g], V[j]])
                    printf " %s%s |", fmt(x), r
                }
                printf "\n"
            }
        }
    }'
