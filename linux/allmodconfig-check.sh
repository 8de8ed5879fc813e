#!/bin/bash
# W=1 + sparse on allmodconfig for the objects of the series that no guest kernel builds
# (amdgpu) and the core objects beside them, with the series and without, and the warnings the
# series adds. Run after `cargo xtask check` (which makes build/linux-source-7.3, its unpatched
# twin and build/tools/sparse). Two allmodconfig `make prepare` runs: about 10 minutes cold on
# 2 cores. Usage: linux/allmodconfig-check.sh; exits 1 if the series adds a warning.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build
sparse=$build/tools/sparse/sparse
objs=(
  drivers/gpu/drm/amd/amdgpu/amdgpu_xcp.o
  drivers/gpu/drm/amd/amdgpu/amdgpu_drv.o
  drivers/gpu/drm/drm_file.o
  drivers/gpu/drm/drm_ioctl.o
  drivers/dma-buf/dma-buf.o
  drivers/dma-buf/udmabuf.o
  drivers/media/common/videobuf2/videobuf2-memops.o
)
cc=gcc
command -v ccache >/dev/null && cc="ccache gcc"

# check SIDE TREE: builds the objects in build/kbuild-7.3-allmod-SIDE, writes warnings.txt there
check() {
  local side=$1 src=$2 obj=$build/kbuild-7.3-allmod-$1
  mkdir -p "$obj"
  make -s -C "$src" O="$obj" LOCALVERSION= allmodconfig
  make -C "$src" O="$obj" LOCALVERSION= CC="$cc" -j"$(nproc)" prepare >"$obj/prepare.log" 2>&1
  (cd "$obj" && rm -f "${objs[@]}") # built again, so that sparse sees them again
  make -C "$src" O="$obj" LOCALVERSION= CC="$cc" -j"$(nproc)" W=1 C=2 CHECK="$sparse" \
    KCFLAGS=-fdiagnostics-color=never "${objs[@]}" >"$obj/check.log" 2>&1
  local checked
  checked=$(grep -c '^  CHECK   drivers/' "$obj/check.log" || true)
  if [ "$checked" -ne "${#objs[@]}" ]; then
    echo "$side: sparse checked $checked of ${#objs[@]} objects (see $obj/check.log)" >&2
    exit 2
  fi
  # Paths relative to the tree, no line numbers: moved code is not new.
  grep 'warning:\|error:' "$obj/check.log" | sed -E "s#^$src/##; s/:[0-9]+:[0-9]+:/:/" |
    sort -u >"$obj/warnings.txt" || true
  echo "$side: ${#objs[@]} objects checked, $(wc -l <"$obj/warnings.txt") warnings"
}

check series "$build/linux-source-7.3"
check base "$build/linux-source-7.3-unpatched"
new=$(comm -23 "$build/kbuild-7.3-allmod-series/warnings.txt" "$build/kbuild-7.3-allmod-base/warnings.txt")
echo "new with the series: $(printf '%s' "$new" | grep -c . || true)"
[ -z "$new" ] || { printf '%s\n' "$new"; exit 1; }
