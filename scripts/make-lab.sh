#!/usr/bin/env bash
# Makes the student pack of the Raft labs (labs/README.md):
#
#   scripts/make-lab.sh OUT.tar.gz
#
# The pack is the repository's tracked files (git ls-files; every file
# when there is no git) under one folder, raftkv-lab/, minus
#   - the reference core, raft/src, except the files labs/raft/PROVIDED
#     names (the plumbing the skeleton reuses);
#   - labs/instructor/, the instructor-only scenarios;
#   - tests/labs/mistakes/, whose patches quote the reference core.
# Without raft/src/raft.c the build takes the skeleton, labs/raft, as its
# core (raft/CMakeLists.txt), so the pack builds as it is:
#   tar xzf OUT.tar.gz && cd raftkv-lab && scripts/grade.sh 3A
set -euo pipefail
out=${1:?usage: scripts/make-lab.sh OUT.tar.gz}
root=$(cd "$(dirname "$0")/.." && pwd)
case "$out" in
    /*) ;;
    *) out=$PWD/$out ;;
esac
cd "$root"

provided=$(grep -v '^[[:space:]]*#' labs/raft/PROVIDED | sed 's/[[:space:]]//g' |
           grep -v '^$' || true)
list=$(mktemp)
trap 'rm -f "$list"' EXIT
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files >"$list.all"
else
    find . -type f ! -path './build*' | sed 's|^\./||' >"$list.all"
fi
while IFS= read -r f; do
    case "$f" in
        raft/src/*)
            keep=0
            for p in $provided; do
                [ "$f" = "raft/src/$p" ] && keep=1
            done
            [ "$keep" = 1 ] || continue
            ;;
        labs/instructor/*|tests/labs/mistakes/*) continue ;;
    esac
    [ -e "$f" ] && echo "$f"
done <"$list.all" >"$list"
rm -f "$list.all"
tar -czf "$out" --transform 's|^|raftkv-lab/|' -T "$list"
echo "$out: $(wc -l <"$list") files; the reference core left out" \
     "(kept from raft/src: $(echo "$provided" | tr '\n' ' '))"
