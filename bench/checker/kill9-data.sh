#!/usr/bin/env bash
# bench/checker/kill9-data.sh [RUNS]: lincheck on the kept kill -9 append
# history, bench/checker/data/kill9-append.jsonl.xz (made by
# `INFLIGHT=4 GET_PERCENT=15 bench/kvbench/kill9.sh 60`: three servers, one
# killed with SIGKILL every 1-3 s, appends to four keys; docs/benchmarks.md,
# "Appends under kill -9").
#
# Decompresses it to a temporary file, runs `lincheck --timeout 60 --memory
# 1024` on it RUNS times (default 3) under /usr/bin/time -v, and prints each
# run's verdict, wall time and peak RSS, then the medians. LINCHECK names
# another lincheck binary (an A/B against an older build). Exits 1 when a
# run does not say linearizable.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-3}
lincheck=${LINCHECK:-build/bin/lincheck}
data=bench/checker/data/kill9-append.jsonl.xz
[ -x "$lincheck" ] || { echo "$0: $lincheck missing: build first" >&2; exit 2; }
tmp=$(mktemp -d /tmp/raftkv-kill9-data-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
xz -dc "$data" > "$tmp/history.jsonl"
printf '%s: %d events, %.1f MB (%.2f MB compressed)\n' "$data" \
    "$(wc -l < "$tmp/history.jsonl")" \
    "$(awk -v b="$(stat -c %s "$tmp/history.jsonl")" 'BEGIN { print b / 1e6 }')" \
    "$(awk -v b="$(stat -c %s "$data")" 'BEGIN { print b / 1e6 }')"
walls=()
rsss=()
bad=0
for ((k = 1; k <= runs; k++)); do
    rc=0
    /usr/bin/time -v "$lincheck" --timeout 60 --memory 1024 "$tmp/history.jsonl" \
        > "$tmp/out" 2> "$tmp/time" || rc=$?
    # Wall time in seconds from "m:ss.ss" (or "h:mm:ss").
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0;
        for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }' "$tmp/time")
    rss=$(awk -F': ' '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$tmp/time")
    printf 'run %d: exit %d, wall %.2f s, peak RSS %s MiB: %s\n' "$k" "$rc" "$wall" "$rss" \
        "$(head -c 300 "$tmp/out" | head -n 1)"
    walls+=("$wall")
    rsss+=("$rss")
    [ "$rc" = 0 ] || bad=1
done
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
printf 'median of %d: wall %.2f s, peak RSS %s MiB\n' "$runs" "$(median "${walls[@]}")" "$(median "${rsss[@]}")"
exit "$bad"
