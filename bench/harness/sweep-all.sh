#!/usr/bin/env bash
# bench/harness/sweep-all.sh [SEEDS [CHUNK]] [SCENARIO...]: sweeps seeds
# 1..SEEDS (default 10000) of every shipped scenario (or the named ones,
# scenarios/NAME.yaml) in sim mode, CHUNK seeds (default 1000) per harness
# run, and keeps a ledger: one line per chunk, so an interrupted sweep
# resumes where it stopped when run again with the same ledger
# (docs/benchmarks.md, "10,000 seeds of every scenario").
#
#   scenario plain FIRST..LAST rc=N result user_s sys_s wall_s maxrss_kb
#       harness end_utc
#
# A chunk that fails stops that scenario's sweep (the harness prints the
# command that reproduces the failing seed into the chunk's output file)
# and the script goes on with the next scenario; the exit code is 1 when
# any chunk failed. The summary at the end gives, per scenario, the seeds
# run, the failures, and the CPU seconds per seed.
#
# Environment: HARNESS (default build/bin/harness), LEDGER (default
# sweep-ledger.txt), OUT (the chunks' output files, default sweep-out),
# JOBS (harness --jobs, default: one per core), NICE (default 0).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2
seeds=10000
chunk=1000
if [[ ${1:-} =~ ^[0-9]+$ ]]; then
    seeds=$1
    shift
fi
if [[ ${1:-} =~ ^[0-9]+$ ]]; then
    chunk=$1
    shift
fi
harness=${HARNESS:-build/bin/harness}
ledger=${LEDGER:-sweep-ledger.txt}
out=${OUT:-sweep-out}
jobs=${JOBS:-$(nproc)}
nice=${NICE:-0}
[ -x "$harness" ] || { echo "$0: $harness missing: build first" >&2; exit 2; }
if [ "$seeds" -lt 1 ] || [ "$chunk" -lt 1 ]; then
    echo "$0: SEEDS and CHUNK must be at least 1" >&2
    exit 2
fi
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
    for f in scenarios/*.yaml; do
        names+=("$(basename "$f" .yaml)")
    done
fi
for n in "${names[@]}"; do
    [ -f "scenarios/$n.yaml" ] || { echo "$0: no scenarios/$n.yaml" >&2; exit 2; }
done
mkdir -p "$out"
touch "$ledger"
timing=$(mktemp /tmp/raftkv-sweep-XXXXXX)
trap 'rm -f "$timing"' EXIT
status=0
for n in "${names[@]}"; do
    for ((a = 1; a <= seeds; a += chunk)); do
        b=$((a + chunk - 1))
        ((b > seeds)) && b=$seeds
        if grep -q "^$n plain $a\.\.$b " "$ledger"; then
            grep -q "^$n plain $a\.\.$b rc=0 " "$ledger" && continue
            # Failed before: look at it, then take its line out.
            echo "$n $a..$b: failed before (see $ledger)"
            status=1
            break
        fi
        file=$out/$n-$a.txt
        /usr/bin/time -o "$timing" -f "%U %S %e %M" nice -n "$nice" \
            "$harness" "scenarios/$n.yaml" --mode sim --seeds "$a..$b" \
            --quiet --no-status --jobs "$jobs" >"$file" 2>&1
        rc=$?
        result=$(tail -n 1 "$file" | tr ' ' '_')
        echo "$n plain $a..$b rc=$rc $result $(tail -n 1 "$timing")" \
            "$(basename "$harness") $(date -u +%H:%M)" >>"$ledger"
        echo "$n $a..$b: $(tail -n 1 "$file")"
        if [ $rc -ne 0 ]; then
            status=1
            grep -A1 "failed; reproduce" "$file" || true
            break
        fi
    done
done
echo
echo "scenario seeds failures cpu_s_per_seed"
for n in "${names[@]}"; do
    awk -v n="$n" '$1 == n && $2 == "plain" {
        split($3, r, /\.\./); k = r[2] - r[1] + 1; seeds += k;
        if ($4 != "rc=0") fails++; cpu += $6 + $7
    } END {
        if (seeds > 0) printf "%s %d %d %.3f\n", n, seeds, fails, cpu / seeds
    }' "$ledger"
done
exit $status
