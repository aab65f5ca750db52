#!/usr/bin/env bash
# Grades a Raft core on one lab part (labs/README.md).
#
#   scripts/grade.sh PART [--sources DIR] [--seeds N] [--build DIR]
#                         [--harness BIN [--units DIR]] [--out DIR]
#                         [--no-threads]
#
# PART is a folder of labs/ (3A, 3B, 3C, 3D). The graded suite: the part's
# unit tests (raft.h-level cmocka tests), then every labs/PART/*.yaml in
# sim mode over seeds 1..N (default 5; a scenario stops at its first
# failing seed), then one threaded run of the part's first scenario. It
# prints a table - test, result, time, nodes, messages, operations - and a
# score, and exits 0 only when every test passed (1 otherwise, 2 on bad
# usage or a build that fails).
#
# --sources DIR  the core to grade (default: the one the build has; in the
#                repository the reference core, in a student pack the
#                skeleton). The build is configured with
#                RAFTKV_RAFT_SOURCES=DIR and only the targets grading
#                needs are built.
# --build DIR    the build folder (default build-grade, or build when no
#                --sources is given); reused when it exists.
# --harness BIN  grade with this harness binary, built elsewhere; no build
#                and no unit tests unless --units names the folder that
#                holds them, built over the same core (tests/labs grades
#                its planted cores so).
# --out DIR      where failing seeds keep their files (default
#                BUILD/grade-PART).
# --no-threads   leave out the threaded run, the one test whose outcome
#                depends on the machine: without it grading is
#                deterministic for a given core and seed range.
#
# Every failure says what broke (the harness's own reason: the safety
# property, the checker's verdict or the expectation), the seed, the
# command that reproduces it and where its report and events are.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

usage() {
    sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

[ $# -ge 1 ] || usage
part=$1
shift
sources=""
seeds=5
build=""
harness=""
units_dir=""
out=""
threads=1
while [ $# -gt 0 ]; do
    case "$1" in
        --sources) sources=${2:?--sources needs a folder}; shift 2 ;;
        --seeds) seeds=${2:?--seeds needs a number}; shift 2 ;;
        --build) build=${2:?--build needs a folder}; shift 2 ;;
        --harness) harness=${2:?--harness needs a program}; shift 2 ;;
        --units) units_dir=${2:?--units needs a folder}; shift 2 ;;
        --out) out=${2:?--out needs a folder}; shift 2 ;;
        --no-threads) threads=0; shift ;;
        -h|--help) usage ;;
        *) echo "grade.sh: unknown argument $1" >&2; usage ;;
    esac
done
part_dir=$root/labs/$part
if [ ! -d "$part_dir" ] || [ "$part" = raft ] || [ "$part" = instructor ]; then
    echo "grade.sh: no lab part '$part' (expected one of:" \
        "$(cd "$root/labs" && ls -d 3* 4* 2>/dev/null | tr '\n' ' '))" >&2
    exit 2
fi
case "$seeds" in
    ''|*[!0-9]*|0) echo "grade.sh: --seeds takes a number >= 1" >&2; exit 2 ;;
esac

# The part's unit tests: cmocka tests that use only raft.h, each entry a
# program, or PROGRAM:TEST,TEST,... for the tests of it that the part
# teaches (run one by one through RAFTKV_TEST_FILTER). PreVote and
# CheckQuorum are optional, so their tests grade no part.
e3a=election_cluster_elects_one_leader,election_majority_elects_minority_never
e3a=$e3a,election_without_check_quorum_leader_stays,election_split_vote_resolves
e3a=$e3a,election_timeouts_are_randomized
e3b=election_single_node_leads_alone,election_without_prevote_rejoin_disrupts
e3b=$e3b,election_node_at_term_max_does_not_wrap,election_last_term_can_be_won_once
case "$part" in
    3A) units="raft_election:$e3a" ;;
    3B) units="raft_election:$e3b raft_replication raft_figures" ;;
    3C) units="raft_boot" ;;
    3D) units="raft_snapshot" ;;
    *) units="" ;;
esac
unit_programs() { for u in $units; do echo "${u%%:*}"; done | sort -u | tr '\n' ' '; }

if [ -n "$harness" ]; then
    [ -x "$harness" ] || { echo "grade.sh: $harness is not a program" >&2; exit 2; }
    if [ -z "$units_dir" ]; then
        units=""
    fi
else
    if [ -z "$build" ]; then
        if [ -n "$sources" ]; then build=$root/build-grade; else build=$root/build; fi
    fi
    flags=()
    if [ ! -f "$build/CMakeCache.txt" ]; then
        flags+=(-DRAFTKV_INSTALL=OFF)
    fi
    if [ -n "$sources" ]; then
        [ -d "$sources" ] || { echo "grade.sh: no folder $sources" >&2; exit 2; }
        flags+=(-DRAFTKV_RAFT_SOURCES="$(cd "$sources" && pwd)")
    fi
    gen=()
    if [ ! -f "$build/CMakeCache.txt" ] && command -v ninja >/dev/null 2>&1; then
        gen=(-G Ninja)
    fi
    if ! cmake -S "$root" -B "$build" "${gen[@]}" ${flags[@]+"${flags[@]}"} \
            >"$build.configure.log" 2>&1; then
        echo "grade.sh: configuring $build failed; see $build.configure.log" >&2
        exit 2
    fi
    rm -f "$build.configure.log"
    # shellcheck disable=SC2086
    if ! cmake --build "$build" -j2 --target harness-bin $(unit_programs) \
            >"$build/grade-build.log" 2>&1; then
        echo "grade.sh: the build failed (the core does not compile or link):" >&2
        grep -E "error|undefined reference" "$build/grade-build.log" | head -20 >&2
        echo "  full log: $build/grade-build.log" >&2
        exit 2
    fi
    harness=$build/bin/harness
    units_dir=$build/tests
fi
if [ -z "$out" ]; then
    out=${build:-$(dirname "$harness")/..}/grade-$part
fi
mkdir -p "$out"
elapsed() { awk -v t0="$1" -v t1="$(date +%s%N)" 'BEGIN { printf "%.1f", (t1 - t0) / 1e9 }'; }
# A path as short as it reads well: relative below the current folder.
rel() {
    local p
    p=$(realpath -m "$1")
    case "$p" in
        "$PWD"/*) echo "${p#"$PWD"/}" ;;
        *) echo "$p" ;;
    esac
}

rows=()
failures=()
passed=0
total=0
row() { rows+=("$(printf '%-34s %-5s %8s %6s %9s %7s' "$@")"); }

# Unbuffered, so that a test that dies leaves the name of the test it was
# running in its output.
unbuf=""
if command -v stdbuf >/dev/null 2>&1; then
    unbuf="stdbuf -o0 -e0"
    # stdbuf preloads a library, which an ASan build would refuse to run
    # after (its runtime must come first).
    export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0
fi
for entry in $units; do
    u=${entry%%:*}
    names=""
    [ "$entry" = "$u" ] || names=${entry#*:}
    total=$((total + 1))
    bin=$units_dir/$u
    t0=$(date +%s%N)
    : >"$out/$u.log"
    ok=1
    label="unit $u"
    if [ -z "$names" ]; then
        # The subshell keeps the shell's own "Aborted" line out of the table.
        ($unbuf "$bin" >>"$out/$u.log" 2>&1; exit $?) 2>/dev/null || ok=0
    else
        label="unit $u ($(echo "$names" | tr ',' '\n' | wc -l) tests)"
        for n in ${names//,/ }; do
            (RAFTKV_TEST_FILTER=$n $unbuf "$bin" >>"$out/$u.log" 2>&1; exit $?) \
                2>/dev/null || ok=0
        done
    fi
    if [ "$ok" = 1 ]; then
        res=PASS; passed=$((passed + 1))
    else
        res=FAIL
        failed=$(grep -E '^\[  FAILED  \] [a-z_0-9]+$' "$out/$u.log" | sort -u | head -3 |
                 sed 's/^\[  FAILED  \] /    failed: /' || true)
        if [ -z "$failed" ]; then
            # It died (an assert, a signal) in the test it was running.
            failed=$(grep -E '^\[ RUN      \] ' "$out/$u.log" | tail -1 |
                     sed 's/^\[ RUN      \] /    died in: /' || true)
        fi
        why=$(grep -E 'error|Assert|Failure|FAIL|Abort' "$out/$u.log" |
              grep -v '^\[' | head -2 | sed 's/^/    /' || true)
        again=$(rel "$bin")
        [ -z "$names" ] || again="RAFTKV_TEST_FILTER=TEST $again   (TEST: one of $names)"
        failures+=("$u: unit tests failed
${failed}
${why:+$why
}    reproduce: $again   (output in $(rel "$out/$u.log"))")
    fi
    secs=$(elapsed "$t0")
    row "$label" "$res" "${secs}s" "-" "-" "-"
done

# One harness run; its JSON summary's fields on one line:
# result nodes messages ops "first failure".
summary() {
    python3 -c '
import json, sys
last = None
for line in sys.stdin:
    line = line.strip()
    if line.startswith("{"):
        try:
            last = json.loads(line)
        except ValueError:
            pass
if last is None:
    print("crash 0 0 0 the harness ended without a summary")
else:
    ops = sum(v.get("ok", 0) + v.get("fail", 0) + v.get("info", 0)
              + v.get("mismatch", 0) for k, v in last["ops"].items() if k != "all")
    why = "; ".join(last.get("failures", [])) or last.get("checker", {}).get("verdict", "")
    print(last["result"], last["nodes"], last.get("messages", 0), ops, why)
'
}

run_scenario() { # MODE FILE
    local mode=$1 file=$2 name res nodes msgs ops why t0 secs sd
    name=$(basename "$file" .yaml)
    [ "$mode" = threads ] && name="$name (threads)"
    total=$((total + 1))
    t0=$(date +%s%N)
    local sum_msgs=0 sum_ops=0 fail_seed="" fail_why="" rc=0
    local seed_list
    if [ "$mode" = sim ]; then seed_list=$(seq 1 "$seeds"); else seed_list=1; fi
    for sd in $seed_list; do
        local output
        set +e
        output=$("$harness" "$file" --mode "$mode" --seed "$sd" --quiet --no-status --json 2>&1)
        rc=$?
        set -e
        read -r res nodes msgs ops why <<<"$(summary <<<"$output")"
        sum_msgs=$((sum_msgs + msgs))
        sum_ops=$((sum_ops + ops))
        if [ "$rc" -ne 0 ] || [ "$res" != pass ]; then
            fail_seed=$sd
            if [ "$res" = crash ]; then
                why="the harness died (exit $rc): $(grep -v '^{' <<<"$output" | tail -2 | tr '\n' ' ')"
            fi
            fail_why=$why
            break
        fi
    done
    secs=$(elapsed "$t0")
    if [ -z "$fail_seed" ]; then
        passed=$((passed + 1))
        row "$name" PASS "${secs}s" "$nodes" "$sum_msgs" "$sum_ops"
        return
    fi
    row "$name" FAIL "${secs}s" "$nodes" "$sum_msgs" "$sum_ops"
    local dir=$out/$(basename "$file" .yaml)-$mode-seed$fail_seed
    local again="$(rel "$harness") $(rel "$file") --mode $mode --seed $fail_seed --out $(rel "$dir")"
    if [ "$mode" = sim ]; then
        # Deterministic: the rerun is the failing run, now with its files.
        "$harness" "$file" --mode sim --seed "$fail_seed" --quiet --no-status \
            --out "$dir" >/dev/null 2>&1 || true
    fi
    # A node that stopped serving says why in the events (a disk fault, or
    # a core that broke the update contract): the first one is shown.
    local stop=""
    if [ -f "$dir/events.log" ]; then
        stop=$(grep -m1 ' stopped serving: ' "$dir/events.log" |
               sed 's/^ *//' || true)
    fi
    failures+=("$name, seed $fail_seed: $fail_why
${stop:+    first stop: $stop
}    reproduce: $again
    report: $(rel "$dir")/report.html   events: $(rel "$dir")/events.log")
}

shopt -s nullglob
scenarios=("$part_dir"/*.yaml)
if [ ${#scenarios[@]} -eq 0 ]; then
    echo "grade.sh: labs/$part has no scenarios" >&2
    exit 2
fi
for f in "${scenarios[@]}"; do
    run_scenario sim "$f"
done
if [ "$threads" = 1 ]; then
    run_scenario threads "${scenarios[0]}"
fi

echo "lab $part: $(rel "$harness"), seeds 1..$seeds"
printf '%-34s %-5s %8s %6s %9s %7s\n' test result time nodes messages ops
for r in "${rows[@]}"; do
    echo "$r"
done
if [ ${#failures[@]} -gt 0 ]; then
    echo
    echo "failures:"
    for f in "${failures[@]}"; do
        echo "- $f"
    done
fi
echo
echo "score $part: $passed/$total"
[ "$passed" -eq "$total" ]
