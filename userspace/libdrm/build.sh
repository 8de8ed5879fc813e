#!/bin/bash
# Host side of the libdrm consumer (cargo xtask userspace): builds libdrm with
# the patches (after) and without them (before), the amdgpu dedup harness in
# three variants (before, fixes: the amdgpu patches that need no kernel
# support, after), and runs libdrm's own `meson test` on the host.
#
# Environment:
#   SRC   the patched tree (Debian's source package unpacked, the patches of
#         consumer.toml applied with `patch -p1`)
#   ORIG  (optional) the same tree without the patches; without it, the
#         patches are reversed on a copy of SRC
#   OUT   this consumer's build directory (incremental when it exists)
#   UOUT  parent of all consumers' OUT directories (unused here)
#   REPO  the repository root
#   PATCHES (optional) the patch directory applied to SRC; default: the one
#         consumer.toml names
#
# Layout of $OUT:
#   prefix/               libdrm after the patches, installed: lib/ (libdrm*.so,
#                         lib/pkgconfig/*.pc), include/ (xf86drm.h, libdrm/...)
#   build-after/          its meson build dir (tests: tests/drmfilesame, ...)
#   before/src, before/build, before/prefix   the same without the patches
#   fixes/amdgpu/amdgpu_device.c   the unpatched file with only the amdgpu
#                         patches that precede the header sync (need no kernel)
#   harness/              amdgpu-dedup-{before,fixes,after}
#
# Prints XTASK-RESULT lines; exits non-zero on any failure.

set -euo pipefail

: "${SRC:?SRC is the patched libdrm tree}"
: "${OUT:?OUT is the build directory}"
: "${REPO:?REPO is the repository root}"
HERE="$REPO/userspace/libdrm"
if [ -z "${PATCHES:-}" ]; then
    sub=$(sed -n 's/^patches *= *"\([^"]*\)".*/\1/p' "$HERE/consumer.toml")
    PATCHES="$HERE/$sub"
fi
JOBS=${JOBS:-2}
NICE=(nice -n 10)
MESON_OPTS=(-Dtests=true -Dcairo-tests=disabled -Dvalgrind=disabled
            -Damdgpu=enabled -Dinstall-test-programs=true --libdir=lib
            --buildtype=debugoptimized)

failed=0
result() { echo "XTASK-RESULT $*"; }
fail() { result "fail $*"; failed=1; }

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
mapfile -t patches < <(find "$PATCHES" -maxdepth 1 -name '[0-9][0-9][0-9][0-9]-*.patch' | sort)
if [ "${#patches[@]}" -eq 0 ]; then
    fail "libdrm patches: none in $PATCHES"
    exit 1
fi

# The unpatched tree: SRC with the patches reversed, newest first. Rebuilt
# only when the patches or the tree (its path, its Debian version) change.
SRC=$(cd "$SRC" && pwd)
stamp=$({ cat "${patches[@]}"; echo "$SRC ${ORIG:-}"; head -n1 "$SRC/debian/changelog" 2>/dev/null; } |
    sha256sum | cut -d' ' -f1)
if [ "$(cat "$OUT/before/stamp" 2>/dev/null)" != "$stamp" ]; then
    rm -rf "$OUT/before" "$OUT/fixes"
    mkdir -p "$OUT/before/src"
    if [ -n "${ORIG:-}" ]; then
        (cd "$ORIG" && tar --exclude=./debian --exclude=./.pc --exclude=./.git -cf - .) |
            tar -xf - -C "$OUT/before/src"
    else
        (cd "$SRC" && tar --exclude=./debian --exclude=./.pc --exclude=./.git -cf - .) |
            tar -xf - -C "$OUT/before/src"
        for ((i = ${#patches[@]} - 1; i >= 0; i--)); do
            if ! patch -s -R -p1 -d "$OUT/before/src" < "${patches[$i]}"; then
                fail "libdrm before tree: ${patches[$i]##*/} does not reverse"
                exit 1
            fi
        done
    fi
    # The independent amdgpu fixes alone (the patches before the header
    # sync, which touch only amdgpu/amdgpu_device.c).
    mkdir -p "$OUT/fixes/amdgpu"
    cp "$OUT/before/src/amdgpu/amdgpu_device.c" "$OUT/fixes/amdgpu/"
    nfix=0
    for p in "${patches[@]}"; do
        case ${p##*/} in *-headers-*) break ;; esac
        if grep '^+++ ' "$p" | grep -qv ' b/amdgpu/amdgpu_device.c$' ||
           ! patch -s -p1 -d "$OUT/fixes" < "$p"; then
            fail "libdrm fixes variant: ${p##*/} touches more than amdgpu_device.c or does not apply"
            exit 1
        fi
        nfix=$((nfix + 1))
    done
    if [ "$nfix" -eq 0 ]; then
        fail "libdrm fixes variant: no amdgpu patch before the header sync"
        exit 1
    fi
    echo "$stamp" > "$OUT/before/stamp"
fi

# meson setup (once), ninja, ninja install.
build() { # name srcdir builddir prefix
    local name=$1 src=$2 bld=$3 prefix=$4 log=$3.log
    # A build dir configured for another source tree is set up again.
    if [ ! -f "$bld/build.ninja" ] || [ "$(cat "$bld.src" 2>/dev/null)" != "$src $stamp" ]; then
        rm -rf "$bld"
        if ! "${NICE[@]}" meson setup "$bld" "$src" --prefix="$prefix" \
                "${MESON_OPTS[@]}" > "$log" 2>&1; then
            tail -n 30 "$log"
            fail "libdrm build ($name): meson setup failed, $log"
            return 1
        fi
        echo "$src $stamp" > "$bld.src"
    fi
    if ! "${NICE[@]}" ninja -C "$bld" -j"$JOBS" > "$log" 2>&1 ||
       ! "${NICE[@]}" ninja -C "$bld" install >> "$log" 2>&1; then
        tail -n 30 "$log"
        fail "libdrm build ($name): ninja failed, $log"
        return 1
    fi
    # Warnings outside the untouched i915_drm.h (-Wpacked there).
    if grep 'warning:' "$log" | grep -v 'i915_drm.h' | grep -q .; then
        grep 'warning:' "$log" | grep -v 'i915_drm.h' | sort -u
        fail "libdrm build ($name): compiler warnings, $log"
        return 1
    fi
    result "ok libdrm build ($name)"
}

build after "$SRC" "$OUT/build-after" "$OUT/prefix" || true
build before "$OUT/before/src" "$OUT/before/build" "$OUT/before/prefix" || true
[ "$failed" -eq 0 ] || exit 1

# meson test on the host (no DRM device here: the tests that need one skip).
host_tests() { # name builddir
    local name=$1 bld=$2 line t status why
    if ! (cd "$bld" && "${NICE[@]}" meson test --no-rebuild --print-errorlogs \
            > "$bld/meson-test.out" 2>&1); then
        :
    fi
    while read -r line; do
        t=$(sed -E 's#^ *[0-9]+/[0-9]+ +([^ ]+) +.*#\1#' <<< "$line")
        status=$(awk '{print $3}' <<< "$line")
        case $status in
        OK) result "ok host meson test ($name): $t" ;;
        SKIP)
            case $t in
            threaded) why="needs a nouveau device" ;;
            *) why="needs a DRM device" ;;
            esac
            result "skip host meson test ($name): $t: exit 77, $why (none on the host)"
            ;;
        *) fail "host meson test ($name): $t: $status" ;;
        esac
    done < <(grep -E '^ *[0-9]+/[0-9]+ ' "$bld/meson-test.out")
    grep -E '^(Ok|Fail|Skipped|Timeout):' "$bld/meson-test.out" | tr -s ' ' | paste -sd' ' |
        sed "s/^/XTASK-FIGURE libdrm meson test on the host ($name): /"
}
host_tests after "$OUT/build-after"
host_tests before "$OUT/before/build"

# The amdgpu dedup harness: amdgpu_device.c of each variant, the query ioctls
# stubbed, linked with that variant's libdrm.
H="$HERE/harness"
mkdir -p "$OUT/harness"
CWARN=(-Wall -Wextra -Wno-unused-parameter -Wno-sign-compare -Wno-missing-field-initializers)
harness() { # variant tree builddir prefix amdgpu_device.c
    local v=$1 tree=$2 bld=$3 prefix=$4 dev_c=$5
    local inc=(-I"$tree" -I"$tree/include/drm" -I"$tree/amdgpu")
    local cfg=(-include "$bld/config.h" -std=gnu11 -D_FILE_OFFSET_BITS=64 -pthread -O1 -g)
    local o="$OUT/harness/$v"
    mkdir -p "$o"
    if "${NICE[@]}" gcc "${cfg[@]}" "${inc[@]}" -c "$dev_c" -o "$o/amdgpu_device.o" \
            -DdrmGetVersion=harness_drmGetVersion -DdrmFreeVersion=harness_drmFreeVersion \
            -DdrmIoctl=harness_drmIoctl '-DAMDGPU_ASIC_ID_TABLE="/nonexistent"' &&
       "${NICE[@]}" gcc "${cfg[@]}" "${CWARN[@]}" -Werror "${inc[@]}" -c "$H/amdgpu_stubs.c" \
            -o "$o/amdgpu_stubs.o" &&
       "${NICE[@]}" gcc "${cfg[@]}" "${CWARN[@]}" -Werror "${inc[@]}" -c "$H/amdgpu_dedup.c" \
            -o "$o/amdgpu_dedup.o" &&
       "${NICE[@]}" gcc -pthread -o "$OUT/harness/amdgpu-dedup-$v" "$o"/*.o \
            -L"$prefix/lib" -Wl,-rpath,"$prefix/lib" -ldrm; then
        result "ok amdgpu dedup harness build ($v)"
    else
        fail "amdgpu dedup harness build ($v)"
    fi
}
harness before "$OUT/before/src" "$OUT/before/build" "$OUT/before/prefix" \
    "$OUT/before/src/amdgpu/amdgpu_device.c"
harness fixes "$OUT/before/src" "$OUT/before/build" "$OUT/before/prefix" \
    "$OUT/fixes/amdgpu/amdgpu_device.c"
harness after "$SRC" "$OUT/build-after" "$OUT/prefix" "$SRC/amdgpu/amdgpu_device.c"

exit "$failed"
