#!/bin/bash
# Builds the Smithay guest test three times, into $OUT/bin/smithay-dri3-<build>: "before"
# (Smithay 0.7.0 and drm 0.14.1 from the crate registry, as published), "drm-only" (drm and
# drm-ffi patched through [patch.crates-io], Smithay as published) and "after" (smithay, drm
# and drm-ffi patched).
#
# Env: SRC_smithay, SRC_drm, SRC_drm_ffi (the patched trees), OUT, REPO. Smithay is built with
# the one feature the test needs, backend_x11 (which pulls in backend_drm, backend_gbm and
# backend_egl); libgbm and libxkbcommon are linked from the host (their runtime libraries,
# when the -dev packages that provide the unversioned names are not installed).
set -euo pipefail
: "${SRC_smithay:?}" "${SRC_drm:?}" "${SRC_drm_ffi:?}" "${OUT:?}" "${REPO:?}"

export CARGO_TARGET_DIR="$OUT/target"
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
bin="$OUT/bin"
mkdir -p "$bin" "$OUT/link"

for lib in gbm xkbcommon; do
	found=$(find /usr/lib /lib -name "lib$lib.so.[0-9]" 2>/dev/null | head -n 1)
	if [ -z "$found" ]; then
		echo "XTASK-RESULT fail smithay.build: lib$lib is not installed on the host"
		exit 1
	fi
	ln -sf "$found" "$OUT/link/lib$lib.so"
done
export RUSTFLAGS="-L $OUT/link"

# Copies of the patched trees, each its own workspace root (they may lie inside this
# repository's workspace) and without the published Cargo.lock (drm 0.14.1's pins drm-ffi
# 0.9.0, which would leave the patched 0.9.1 unused).
own_copy() { # name, tree
	local copy="$OUT/src/$1"
	rm -rf "$copy"
	mkdir -p "$OUT/src"
	cp -r "$2" "$copy"
	rm -rf "$copy/.git" "$copy/Cargo.lock"
	grep -q '^\[workspace\]' "$copy/Cargo.toml" || printf '\n[workspace]\n' >>"$copy/Cargo.toml"
	echo "$copy"
}
smithay=$(own_copy smithay "$SRC_smithay")
drm=$(own_copy drm "$SRC_drm")
drm_ffi=$(own_copy drm-ffi "$SRC_drm_ffi")

manifest="$REPO/userspace/smithay/dri3/Cargo.toml"
cargo build --release --manifest-path "$manifest"
cp "$CARGO_TARGET_DIR/release/smithay-dri3" "$bin/smithay-dri3-before"

drm_patches=(--config "patch.crates-io.drm.path=\"$drm\"" --config "patch.crates-io.drm-ffi.path=\"$drm_ffi\"")
cargo build --release --manifest-path "$manifest" "${drm_patches[@]}"
cp "$CARGO_TARGET_DIR/release/smithay-dri3" "$bin/smithay-dri3-drm-only"

cargo build --release --manifest-path "$manifest" "${drm_patches[@]}" \
	--config "patch.crates-io.smithay.path=\"$smithay\""
cp "$CARGO_TARGET_DIR/release/smithay-dri3" "$bin/smithay-dri3-after"
echo "XTASK-RESULT ok smithay.build"
