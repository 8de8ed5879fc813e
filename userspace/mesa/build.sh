#!/bin/bash
# Builds what the Mesa harnesses need (host side of `cargo xtask userspace`).
#
# Environment:
#   SRC   the patched Mesa tree (Debian's 25.0.7 with the patches of 25.0.7/)
#   ORIG  optional: the same tree without the patches
#   OUT   this consumer's build directory (persistent, incremental)
#   UOUT  the parent of all consumers' OUT directories ($UOUT/libdrm/prefix)
#   REPO  this repository
#
# What it builds:
#   - meson 1.7.2 with Mako and PyYAML, pinned, in a venv ($OUT/venv);
#   - a minimal Mesa configuration against $UOUT/libdrm/prefix
#     (libdrm >= 2.4.121), and only the targets the harnesses need:
#     libmesa_util.a, libxmlconfig.a, libloader.a, libvulkan_wsi.a, util_tests;
#   - the unpatched loader.c and wsi_common_drm.c ("before"): from ORIG (the
#     runner's unpacked source without the patches) when set, else
#     reconstructed in $OUT/orig by reverse-applying the patches to copies of
#     the files they touch;
#   - the harnesses of test/ ($OUT/harness): loaderprime-{before,after},
#     wsipairs-{before,after}, each with Mesa's file compiled with the exact
#     command of compile_commands.json.
# Then it runs Mesa's own os_file tests (util_tests) on the host and prints
# their results as XTASK-RESULT lines. Exits non-zero on any failure.
set -euo pipefail

: "${SRC:?SRC (the patched Mesa tree) is not set}"
: "${OUT:?OUT is not set}"
: "${UOUT:?UOUT is not set}"
: "${REPO:?REPO is not set}"

here=$REPO/userspace/mesa
patches=$here/25.0.7
build=$OUT/build
harness=$OUT/harness
mkdir -p "$OUT" "$harness"

# libdrm: the libdrm consumer's install ($UOUT/libdrm/prefix); LIBDRM_PREFIX
# overrides it (a plain Debian libdrm 2.4.124 works too).
libdrm_prefix=${LIBDRM_PREFIX:-$UOUT/libdrm/prefix}
pcdirs=
for d in "$libdrm_prefix"/lib/pkgconfig "$libdrm_prefix"/lib/*/pkgconfig; do
    [ -d "$d" ] && pcdirs=$pcdirs${pcdirs:+:}$d
done
if [ -z "$pcdirs" ]; then
    echo "mesa: no libdrm in $libdrm_prefix (the libdrm consumer builds it first)" >&2
    exit 1
fi
export PKG_CONFIG_PATH=$pcdirs${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
if ! pkg-config --atleast-version=2.4.121 libdrm; then
    echo "mesa: libdrm in $libdrm_prefix is $(pkg-config --modversion libdrm || echo missing); Mesa 25.0 needs >= 2.4.121" >&2
    exit 1
fi
libdrm_libdir=$(pkg-config --variable=libdir libdrm)

# meson >= 1.4 with mako and PyYAML (Debian 12 has meson 1.0.1)
venv=$OUT/venv
if [ ! -x "$venv/bin/meson" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q meson==1.7.2 Mako==1.3.10 MarkupSafe==3.0.4 PyYAML==6.0.2
fi
export PATH=$venv/bin:$PATH

if [ ! -f "$build/build.ninja" ]; then
    # The loader is built only with a gallium driver (softpipe needs no LLVM);
    # the WSI only with a Vulkan driver (venus: virtio).
    meson setup "$build" "$SRC" \
        -Dbuildtype=debugoptimized \
        -Dgallium-drivers=softpipe -Dvulkan-drivers=virtio -Dplatforms= \
        -Dglx=disabled -Degl=disabled -Dgbm=disabled -Dgles1=disabled -Dgles2=disabled \
        -Dllvm=disabled -Dvideo-codecs= -Dvalgrind=disabled -Dlibunwind=disabled \
        -Dlmsensors=disabled -Dzstd=disabled -Dbuild-tests=true
fi
nice -n 10 ninja -C "$build" -j2 \
    src/util/libmesa_util.a src/util/libxmlconfig.a src/loader/libloader.a \
    src/vulkan/wsi/libvulkan_wsi.a src/util/util_tests

# The unpatched versions of the files the patches touch: the runner's ORIG
# (the unpacked source without the patches) when it gives one, else copies of
# the touched files with the patches reverse-applied in $OUT/orig
if [ -n "${ORIG:-}" ] && [ -d "$ORIG/src/loader" ]; then
    orig=$ORIG
else
    orig=$OUT/orig
    rm -rf "$orig"
    mkdir -p "$orig"
    mapfile -t series < <(find "$patches" -maxdepth 1 -name '*.patch' | sort)
    for p in "${series[@]}"; do
        sed -n 's#^+++ b/##p' "$p" | while read -r f; do
            if [ -e "$SRC/$f" ] && [ ! -e "$orig/$f" ]; then
                mkdir -p "$orig/$(dirname "$f")"
                cp "$SRC/$f" "$orig/$f"
            fi
        done
    done
    for ((i = ${#series[@]} - 1; i >= 0; i--)); do
        patch -d "$orig" -R -p1 -s --no-backup-if-mismatch < "${series[i]}"
    done
fi

# compile_commands.json's command for FILE, compiling SOURCE to OBJECT
compile_like() {
    python3 - "$build/compile_commands.json" "$1" "$2" "$3" <<'EOF'
import json, shlex, subprocess, sys
db, file, source, obj = sys.argv[1:]
entry = next(e for e in json.load(open(db)) if e["file"].endswith(file))
args = shlex.split(entry["command"])
if args[0] == "ccache":
    args = args[1:]
out, skip = [], 0
for i, a in enumerate(args):
    if skip:
        skip -= 1
        continue
    if a in ("-o", "-MQ", "-MF", "-c"):
        skip = 1
        continue
    if a == "-MD":
        continue
    out.append(a)
subprocess.run(out + ["-c", source, "-o", obj], cwd=entry["directory"], check=True)
EOF
}

# The include and define flags of FILE's compile command, absolute
flags_of() {
    python3 - "$build/compile_commands.json" "$1" <<'EOF'
import json, os, shlex, sys
db, file = sys.argv[1:]
entry = next(e for e in json.load(open(db)) if e["file"].endswith(file))
out = []
for a in shlex.split(entry["command"]):
    if a.startswith("-I"):
        out.append("-I" + os.path.normpath(os.path.join(entry["directory"], a[2:])))
    elif a.startswith("-D") or a.startswith("-std="):
        out.append(a)
print("\n".join(out))
EOF
}

for v in before after; do
    src_root=$SRC
    [ "$v" = before ] && src_root=$orig
    compile_like src/loader/loader.c "$src_root/src/loader/loader.c" "$harness/loader-$v.o"
    compile_like src/vulkan/wsi/wsi_common_drm.c \
        "$src_root/src/vulkan/wsi/wsi_common_drm.c" "$harness/wsi_common_drm-$v.o"
done

cflags=(-O2 -g -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers
        -Wno-format-truncation)
mapfile -t wsi_flags < <(flags_of src/vulkan/wsi/wsi_common_drm.c)
libs=("$build/src/util/libxmlconfig.a" "$build/src/util/libmesa_util.a"
      "$build/src/c11/impl/libmesa_util_c11.a" "$build/src/util/blake3/libblake3.a"
      "$build/src/util/libmesa_util_sse41.a"
      -L"$libdrm_libdir" -Xlinker -rpath -Xlinker "$libdrm_libdir" -ldrm -lexpat -lz -lm -lpthread -ldl)

gcc "${cflags[@]}" -I"$libdrm_prefix/include" -I"$libdrm_prefix/include/libdrm" \
    -c "$here/test/nodes.c" -o "$harness/nodes.o"
gcc "${cflags[@]}" "${wsi_flags[@]}" -c "$here/test/wsistubs.c" -o "$harness/wsistubs.o"
for v in before after; do
    gcc -DVARIANT="\"$v\"" "${cflags[@]}" -c "$here/test/loaderprime.c" \
        -o "$harness/loaderprime-$v.main.o"
    gcc -o "$harness/loaderprime-$v" "$harness/loaderprime-$v.main.o" "$harness/nodes.o" \
        "$harness/loader-$v.o" "${libs[@]}"
    gcc -DVARIANT="\"$v\"" "${cflags[@]}" -Wno-sign-compare "${wsi_flags[@]}" \
        -c "$here/test/wsipairs.c" -o "$harness/wsipairs-$v.main.o"
    gcc -o "$harness/wsipairs-$v" "$harness/wsipairs-$v.main.o" "$harness/nodes.o" \
        "$harness/wsi_common_drm-$v.o" "$harness/wsistubs.o" "${libs[@]}"
done

# Mesa's own os_file tests on the host: no DRM device here, so the device
# test skips (it runs in the guest, guest.sh)
if "$build/src/util/util_tests" --gtest_filter='os_file*' > "$OUT/util_tests.host.log" 2>&1; then
    rc=0
else
    rc=$?
fi
sed -n 's/^\[ *\(OK\|SKIPPED\|FAILED\) *\] \(os_file[^ ]*\).*/\1 \2/p' "$OUT/util_tests.host.log" |
    sort -u | while read -r status name; do
        case $status in
        OK) echo "XTASK-RESULT ok mesa-host util_tests $name" ;;
        SKIPPED) echo "XTASK-RESULT skip mesa-host util_tests $name: no DRM device on the host (runs in the guest)" ;;
        FAILED) echo "XTASK-RESULT fail mesa-host util_tests $name: see $OUT/util_tests.host.log" ;;
        esac
    done
if [ "$rc" -ne 0 ]; then
    echo "mesa: util_tests failed on the host (status $rc), see $OUT/util_tests.host.log" >&2
    exit 1
fi
