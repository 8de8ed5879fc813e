#!/bin/bash
# Builds the harness of userspace/wlroots (see README.md) three times from the real
# wlroots 0.18.2 sources: "before" (the unpatched tree), "after" (SRC, the patched tree) and
# "noproto" (SRC with harness/skip-protocol.patch: the sync loops narrowed to the imported
# memory, the mistake the test must catch). Only the files on the tested path are compiled,
# with wlroots' own flags; every other symbol they reference is a generated stub that aborts.
# Env: SRC (patched tree), OUT (build dir), REPO (this repository); ORIG (the unpatched tree)
# is optional: without it, the patches are reversed in a copy of SRC.
set -euo pipefail

: "${SRC:?SRC: the patched wlroots tree}" "${OUT:?OUT: the build directory}" "${REPO:?REPO: the repository}"
HERE="$REPO/userspace/wlroots"
CC=${CC:-gcc}

mkdir -p "$OUT"

# The unpatched tree: ORIG, or SRC with the series reversed.
if [ -n "${ORIG:-}" ]; then
	before_src=$ORIG
else
	before_src=$OUT/orig
	rm -rf "$before_src"
	cp -a "$SRC" "$before_src"
	mapfile -t patches < <(find "$HERE/0.18.2" -name '*.patch' | sort -r)
	for p in "${patches[@]}"; do
		patch -s -R -p1 -d "$before_src" < "$p"
	done
fi

noproto_src=$OUT/noproto
rm -rf "$noproto_src"
mkdir -p "$noproto_src/render/vulkan"
cp "$SRC/render/vulkan/renderer.c" "$noproto_src/render/vulkan/renderer.c"
patch -s -p1 -d "$noproto_src" < "$HERE/harness/skip-protocol.patch"

# Generated headers: wlr/config.h (Vulkan renderer only) and the SPIR-V shader arrays
# (glslangValidator is not needed: no shader ever runs here).
gen=$OUT/gen
mkdir -p "$gen/wlr" "$gen/render/vulkan/shaders"
cat > "$gen/wlr/config.h" <<'CFG'
#ifndef WLR_CONFIG_H
#define WLR_CONFIG_H
#define WLR_HAS_DRM_BACKEND 0
#define WLR_HAS_LIBINPUT_BACKEND 0
#define WLR_HAS_X11_BACKEND 0
#define WLR_HAS_GLES2_RENDERER 0
#define WLR_HAS_VULKAN_RENDERER 1
#define WLR_HAS_GBM_ALLOCATOR 0
#define WLR_HAS_XWAYLAND 0
#define WLR_HAS_SESSION 0
#define WLR_HAS_COLOR_MANAGEMENT 0
#endif
CFG
for s in common.vert texture.frag quad.frag output.frag; do
	name=${s//./_}_data
	printf 'static const uint32_t %s[] = { 0x07230203 };\n' "$name" > "$gen/render/vulkan/shaders/$s.h"
done

# wlroots' meson.build: c11, warning_level=2, werror, and its project arguments.
WLR_CFLAGS=(-std=c11 -Wall -Wextra -Werror -O1 -g
	-D_POSIX_C_SOURCE=200809L -DWLR_USE_UNSTABLE -DWLR_LITTLE_ENDIAN=1 -DWLR_BIG_ENDIAN=0
	-D_WLR_REL_SRC_DIR='"./"'
	-Wundef -Wlogical-op -Wold-style-definition -Wpointer-arith -Winit-self
	-Wstrict-prototypes -Wimplicit-fallthrough=2 -Wendif-labels -Wstrict-aliasing=2
	-Woverflow -Wmissing-prototypes -Walloca
	-Wno-missing-braces -Wno-missing-field-initializers -Wno-unused-parameter)
read -r -a PKG_CFLAGS <<< "$(pkg-config --cflags libdrm pixman-1 wayland-server vulkan)"
LIBS=(-ldrm -lpixman-1 -lwayland-server -lpthread -lm)

# The files of the tested path, compiled as they are.
WLR_FILES=(render/vulkan/texture.c render/vulkan/renderer.c render/vulkan/pixel_format.c
	render/dmabuf_linux.c render/dmabuf.c render/pixel_format.c render/wlr_texture.c render/vulkan/util.c
	types/buffer/buffer.c util/addon.c util/log.c)

build_variant() { # name tree renderer-tree
	local name=$1 tree=$2 rtree=$3 dir=$OUT/$1
	mkdir -p "$dir/obj"
	local objs=() f src
	for f in "${WLR_FILES[@]}"; do
		src=$tree/$f
		[ "$f" = render/vulkan/renderer.c ] && src=$rtree/$f
		local o=$dir/obj/${f//\//_}.o
		"$CC" "${WLR_CFLAGS[@]}" "${PKG_CFLAGS[@]}" -I"$gen" -I"$tree/include" -c "$src" -o "$o"
		objs+=("$o")
	done
	# renderer.c keeps its wlr_renderer_impl static; the harness makes a renderer of this
	# type, as vulkan_renderer_create() would, so the symbol is made global.
	objcopy --globalize-symbol=renderer_impl "$dir/obj/render_vulkan_renderer.c.o"
	local h=$dir/obj/harness.o hdefs=()
	# The preparatory patch gives vulkan_sync_render_buffer() the sampled textures.
	if grep -q textures_len "$tree/include/render/vulkan.h"; then
		hdefs+=(-DHARNESS_SYNC_SAMPLED=1)
	fi
	"$CC" -std=c11 -Wall -Wextra -Werror -Wno-unused-parameter -O1 -g -D_GNU_SOURCE -DWLR_USE_UNSTABLE \
		"${hdefs[@]}" "${PKG_CFLAGS[@]}" -I"$gen" -I"$tree/include" \
		-c "$HERE/harness/storage_harness.c" -o "$h"
	# Stubs for every symbol the objects reference that neither they, the harness nor the
	# libraries define: none of them is on the tested path, and each aborts if called.
	local defined undefined libsyms
	defined=$(nm -g --defined-only "${objs[@]}" "$h" | awk 'NF==3 {print $3}' | sort -u)
	libsyms=$(for l in libc.so.6 libm.so.6 libdrm.so.2 libpixman-1.so.0 libwayland-server.so.0; do
		nm -D --defined-only "$(gcc -print-file-name=$l)" 2>/dev/null || true
		nm -D --defined-only "/lib/x86_64-linux-gnu/$l" 2>/dev/null || true
	done | awk '{print $NF}' | sed 's/@.*//' | sort -u)
	undefined=$(nm -u "${objs[@]}" "$h" | awk '$1 == "U" {print $2}' | sed 's/@.*//' | sort -u)
	{
		echo '#include <stdio.h>'
		echo '#include <stdlib.h>'
		comm -23 <(echo "$undefined") <(printf '%s\n%s\n' "$defined" "$libsyms" | sort -u) |
			while read -r s; do
				[ -n "$s" ] || continue
				printf 'void %s(void);\nvoid %s(void) { fprintf(stderr, "stub called: %s\\n"); abort(); }\n' "$s" "$s" "$s"
			done
	} > "$dir/stubs.c"
	"$CC" -c -O1 -w "$dir/stubs.c" -o "$dir/obj/stubs.o"
	"$CC" -o "$dir/wlr-storage-harness" "${objs[@]}" "$h" "$dir/obj/stubs.o" "${LIBS[@]}"
	echo "built $dir/wlr-storage-harness ($(grep -c '^void .*{' "$dir/stubs.c") stubs)"
}

build_variant before "$before_src" "$before_src"
build_variant after "$SRC" "$SRC"
build_variant noproto "$SRC" "$noproto_src"
