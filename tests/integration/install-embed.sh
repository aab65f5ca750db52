#!/usr/bin/env bash
# install_embed: what `cmake --install` puts in place serves someone else's
# program. Installs BUILD into WORK/prefix, checks the files, the SONAMEs
# and what the shared libraries export, then builds examples/embed out of
# tree against it twice - through the CMake package (shared and static)
# and through pkg-config - and runs each program.
#
#   install-embed.sh BUILD SOURCE WORK CC [FLAGS]
#
# FLAGS go to the compiler and linker of the example (the sanitizer flags
# of a sanitizer build, whose libraries need them).
set -euo pipefail
build=$1 src=$2 work=$3 cc=$4 flags=${5:-}

fail() {
    echo "install_embed: $*" >&2
    exit 1
}
step() { echo "== $*"; }

rm -rf "$work"
mkdir -p "$work"
prefix=$work/prefix

step "cmake --install $build --prefix $prefix"
cmake --install "$build" --prefix "$prefix" >"$work/install.log" ||
    fail "cmake --install failed (see $work/install.log)"

libdir=$(dirname "$(find "$prefix" -name 'libraftkv.so.0' -print -quit)")
[ -d "$libdir" ] || fail "no libraftkv.so.0 under $prefix"
for f in include/raftkv/common/common.h include/raftkv/raft/raft.h \
    include/raftkv/storage/storage.h include/raftkv/transport/transport.h \
    include/raftkv/kv/kv.h; do
    [ -f "$prefix/$f" ] || fail "missing $prefix/$f"
done
for f in libraft.a libraftkv.a libraft.so libraftkv.so \
    pkgconfig/raft.pc pkgconfig/raftkv.pc cmake/raftkv/raftkvConfig.cmake \
    cmake/raftkv/raftkvConfigVersion.cmake cmake/raftkv/raftkvTargets.cmake; do
    [ -e "$libdir/$f" ] || fail "missing $libdir/$f"
done

for p in raftkv-server raftkv-cli raftkv-bench harness lincheck; do
    [ -x "$prefix/bin/$p" ] || fail "missing $prefix/bin/$p"
done
"$prefix/bin/lincheck" --help >/dev/null || fail "installed lincheck --help failed"

step "SONAMEs and exported symbols"
for lib in raft raftkv; do
    real=$(readlink -f "$libdir/lib$lib.so")
    soname=$(readelf -d "$real" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
    [ "$soname" = "lib$lib.so.0" ] ||
        fail "$real has SONAME '$soname', not lib$lib.so.0"
    case $lib in
    raft) public='^(raft|common)_' ;;
    raftkv) public='^(raft|common|storage|transport|kv)_' ;;
    esac
    leaked=$(nm -D --defined-only "$real" | awk '$2 ~ /[TDBR]/ {print $3}' |
        grep -Ev "$public" | head -n 5 || true)
    [ -z "$leaked" ] || fail "$real exports non-API symbols: $leaked"
    echo "$(basename "$real"): SONAME $soname, $(nm -D --defined-only "$real" |
        awk '$2 ~ /[TDBR]/' | wc -l) symbols, all public"
done

step "examples/embed through find_package(raftkv)"
cmake -S "$src/examples/embed" -B "$work/embed" \
    -DCMAKE_C_COMPILER="$cc" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_C_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags" \
    >"$work/embed-configure.log" ||
    fail "configuring examples/embed failed (see $work/embed-configure.log)"
cmake --build "$work/embed" >"$work/embed-build.log" ||
    fail "building examples/embed failed (see $work/embed-build.log)"
loads=$(ldd "$work/embed/embed")
case $loads in
*"libraftkv.so.0 => $libdir/"*) ;;
*) fail "embed does not load the installed libraftkv.so.0: $loads" ;;
esac
for prog in embed embed-static solo; do
    echo "-- $prog"
    "$work/embed/$prog" || fail "$prog failed"
done

step "examples/embed through pkg-config"
export PKG_CONFIG_PATH=$libdir/pkgconfig
[ "$(pkg-config --modversion raftkv)" = "$(pkg-config --modversion raft)" ] ||
    fail "raft.pc and raftkv.pc disagree on the version"
# shellcheck disable=SC2046,SC2086 # the flags are lists of words
"$cc" $flags -o "$work/embed-pc" "$src/examples/embed/main.c" \
    $(pkg-config --cflags --libs raftkv) -Wl,-rpath,"$libdir" ||
    fail "cc with pkg-config raftkv failed"
# shellcheck disable=SC2046,SC2086
"$cc" $flags -o "$work/solo-pc" "$src/examples/embed/solo.c" \
    $(pkg-config --cflags --libs raft) -Wl,-rpath,"$libdir" ||
    fail "cc with pkg-config raft failed"
for prog in embed-pc solo-pc; do
    echo "-- $prog"
    "$work/$prog" || fail "$prog failed"
done
echo "install_embed: passed"
