#!/usr/bin/env bash
# Sim mode promises the same run for the same scenario and seed, byte for
# byte. This script pins that promise across a change that must not alter
# behaviour: record the sim runs before the change, compare after it.
#
#   scripts/sim-identity.sh --record DIR [HARNESS]   record into DIR
#   scripts/sim-identity.sh DIR [HARNESS]            compare with DIR
#
# HARNESS defaults to build/bin/harness. The runs: every scenarios/*.yaml
# in sim mode at its own seed and at seeds 1, 2 and 7, plus nemesis-mixed
# swarmed at seed 3 (as `--swarm --seed 3`, which keeps its files, and as
# the sweep `--swarm --seeds 3..3`, which keeps only its result line).
# Each run keeps history.jsonl, events.log, a "result" file (the exit
# code, the summary and result line) and a "report" file (a hash of
# report.html), with the checker's elapsed time blanked in both (the only
# thing in them that may differ). A change to the run report alone shows
# as "DIFFERS name: report" and nothing else. A compare prints every run
# that differs and exits 1 if any did.
set -euo pipefail
cd "$(dirname "$0")/.."

record=false
if [ "${1:-}" = "--record" ]; then
    record=true
    shift
fi
base=${1:?"usage: scripts/sim-identity.sh [--record] DIR [HARNESS]"}
harness=${2:-build/bin/harness}
[ -x "$harness" ] || { echo "sim-identity: no $harness (build first)" >&2; exit 2; }
if ! $record && [ ! -d "$base" ]; then
    echo "sim-identity: no baseline in $base (record one with --record)" >&2
    exit 2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# run NAME [harness args...]: one run into $work/NAME (files + result).
run() {
    local name=$1
    shift
    local out=$work/$name
    mkdir -p "$out"
    local rc=0
    "$harness" "$@" --out "$out" --no-status >"$out/stdout" 2>&1 || rc=$?
    {
        echo "exit $rc"
        sed -E 's/^(  checker +[a-z ]+ in )[0-9.]+ s$/\1X s/' "$out/stdout"
    } >"$out/result"
    if [ -f "$out/report.html" ]; then
        sed -E -e 's/, [0-9]+\.[0-9]+ s\)/, X s)/' \
            -e 's/"check_s":[0-9.]+/"check_s":X/' "$out/report.html" |
            sha256sum | cut -d' ' -f1 >"$out/report"
    fi
    rm -f "$out/stdout" "$out/report.html"
}

runs=0
differ=0
# keep NAME: record it, or compare it with the baseline.
keep() {
    local name=$1
    runs=$((runs + 1))
    if $record; then
        mkdir -p "$base/$name"
        cp "$work/$name"/* "$base/$name/"
        echo "recorded $name"
    else
        local f bad=""
        if [ "$(ls "$base/$name")" != "$(ls "$work/$name")" ]; then
            bad=" (files: $(ls "$work/$name" | tr '\n' ' '))"
        fi
        for f in "$base/$name"/*; do
            cmp -s "$f" "$work/$name/$(basename "$f")" ||
                bad="$bad $(basename "$f")"
        done
        if [ -n "$bad" ]; then
            differ=$((differ + 1))
            echo "DIFFERS $name:$bad"
        fi
    fi
    rm -rf "${work:?}/$name"
}

for yaml in scenarios/*.yaml; do
    sc=$(basename "$yaml" .yaml)
    run "$sc/own" "$yaml" --mode sim
    keep "$sc/own"
    for seed in 1 2 7; do
        run "$sc/seed-$seed" "$yaml" --mode sim --seed "$seed"
        keep "$sc/seed-$seed"
    done
done
run nemesis-mixed/swarm-3 scenarios/nemesis-mixed.yaml --mode sim --swarm \
    --seed 3
keep nemesis-mixed/swarm-3
run nemesis-mixed/swarm-sweep-3 scenarios/nemesis-mixed.yaml --mode sim \
    --swarm --seeds 3..3
keep nemesis-mixed/swarm-sweep-3

if $record; then
    echo "sim-identity: recorded $runs runs in $base"
else
    echo "sim-identity: $runs runs compared, $differ differ"
    [ "$differ" -eq 0 ]
fi
