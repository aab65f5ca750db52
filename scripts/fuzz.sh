#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz into build-fuzz/ (clang,
# RAFTKV_FUZZ=ON: ASan + UBSan + libFuzzer) and runs them. docs/fuzzing.md
# has the targets and the workflow.
#
#   scripts/fuzz.sh --smoke               every target over its seed corpus
#                                         plus a fixed number of runs (CI)
#   scripts/fuzz.sh [TARGET] [ARGS...]    a campaign: TARGET (history,
#                                         scenario, wal, grpc_codec,
#                                         raft_step, kv_sm; default all, in
#                                         turn) with libFuzzer ARGS
#
# A campaign keeps what it finds in build-fuzz/fuzz-corpus/TARGET (seeded
# from tests/fuzz/corpus/TARGET) across runs; without ARGS each target runs
# for FUZZ_SECONDS (default 600) seconds. Crashes land in
# build-fuzz/fuzz-crashes/TARGET/. The smoke is deterministic (fixed seed,
# a budget in runs, not seconds) and leaves the committed corpus alone.
set -euo pipefail
cd "$(dirname "$0")/.."

targets=(history scenario wal grpc_codec raft_step kv_sm)
# Mutations per target in the smoke, after the seed corpus: under ten
# seconds each on an idle 2-core machine (the slower targets get fewer).
declare -A smoke_runs=(
    [history]=30000 [scenario]=100000 [wal]=100000
    [grpc_codec]=400000 [raft_step]=100000 [kv_sm]=200000
)

smoke=false
if [ "${1:-}" = "--smoke" ]; then
    smoke=true
    shift
fi
only=""
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
    only=${1#fuzz_}
    shift
    if [ -z "${smoke_runs[$only]+x}" ]; then
        echo "fuzz.sh: unknown target '$only' (one of: ${targets[*]})" >&2
        exit 2
    fi
    targets=("$only")
fi

scripts/setup.sh
if ! command -v clang >/dev/null 2>&1; then
    echo "fuzz.sh: clang is not installed (scripts/setup.sh installs it)" >&2
    exit 1
fi

dir=build-fuzz
generator=()
if command -v ninja >/dev/null 2>&1 && [ ! -f "$dir/CMakeCache.txt" ]; then
    generator=(-G Ninja)
fi
CC=clang cmake -S . -B "$dir" "${generator[@]}" -DRAFTKV_FUZZ=ON \
    -DRAFTKV_BUILD_TESTS=OFF -DRAFTKV_WERROR=ON \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$dir" --target fuzz -j "$(nproc)"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# The libFuzzer options every run shares for target $1.
common_args() {
    local t=$1
    local args=(-artifact_prefix="$dir/fuzz-crashes/$t/" -timeout=25
                -rss_limit_mb=2048 -print_final_stats=1)
    if [ -f "tests/fuzz/dict/$t.dict" ]; then
        args+=(-dict="tests/fuzz/dict/$t.dict")
    fi
    printf '%s\n' "${args[@]}"
}

start=$SECONDS
for t in "${targets[@]}"; do
    mkdir -p "$dir/fuzz-crashes/$t"
    mapfile -t args < <(common_args "$t")
    if $smoke; then
        # New inputs go to a scratch folder, emptied first, so that the
        # committed corpus is only read and every smoke starts the same.
        work="$dir/fuzz-smoke/$t"
        rm -rf "$work"
        mkdir -p "$work"
        echo "fuzz.sh: smoke $t: $(ls "tests/fuzz/corpus/$t" | wc -l) seeds," \
            "${smoke_runs[$t]} runs" >&2
        log="$dir/fuzz-smoke/$t.log"
        # Reproducible: a fixed seed and number of runs; no comparison
        # operands fed back into mutations (UBSan's checks compare
        # pointers, which differ from one process to the next), no
        # re-reading of the output folder once a second (the clock).
        if ! "$dir/fuzz/fuzz_$t" "${args[@]}" -seed=1 -use_cmp=0 -reload=0 \
            -runs="${smoke_runs[$t]}" "$@" "$work" "tests/fuzz/corpus/$t" \
            >"$log" 2>&1; then
            tail -n 60 "$log" >&2
            echo "fuzz.sh: smoke $t FAILED (log: $log; crash input in" \
                "$dir/fuzz-crashes/$t/)" >&2
            exit 1
        fi
        grep -E '^stat::(number_of_executed_units|average_exec_per_sec)' \
            "$log" | tr '\n' ' ' >&2
        echo >&2
    else
        corpus="$dir/fuzz-corpus/$t"
        mkdir -p "$corpus"
        extra=("$@")
        if [ ${#extra[@]} -eq 0 ]; then
            extra=(-max_total_time="${FUZZ_SECONDS:-600}")
        fi
        echo "fuzz.sh: campaign $t: ${extra[*]}" >&2
        "$dir/fuzz/fuzz_$t" "${args[@]}" "${extra[@]}" \
            "$corpus" "tests/fuzz/corpus/$t"
    fi
done
if $smoke; then
    echo "fuzz.sh: smoke passed: ${#targets[@]} targets in" \
        "$((SECONDS - start)) s"
fi
