#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test (CTest).
#   scripts/test.sh                       plain build in build/
#   scripts/test.sh --sanitize address,undefined   in build-asan/
#   scripts/test.sh --sanitize thread              in build-tsan/
# Sanitizer builds also check the Raft core's and the WAL's invariants
# after every call (RAFTKV_INVARIANTS), so CI runs every test, the sim
# sweeps among them, with them.
set -euo pipefail
cd "$(dirname "$0")/.."
sanitize=""
if [ "${1:-}" = "--sanitize" ]; then
    sanitize=${2:?"--sanitize needs address,undefined or thread"}
    shift 2
fi
scripts/setup.sh
dir=build
extra=()
case "$sanitize" in
    "") ;;
    thread) dir=build-tsan ;;
    *) dir=build-asan ;;
esac
if [ -n "$sanitize" ]; then
    extra=(-DRAFTKV_SANITIZE="$sanitize" -DCMAKE_BUILD_TYPE=RelWithDebInfo
           -DRAFTKV_INVARIANTS=ON)
fi
scripts/build.sh "$dir" "${extra[@]}"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
cd "$dir"
ctest --output-on-failure -j "$(nproc)" "$@"
