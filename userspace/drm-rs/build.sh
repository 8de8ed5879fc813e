#!/bin/bash
# Builds what the drm-rs guest test needs and runs the patched crates' own tests on the host.
#
# Env: SRC_drm, SRC_drm_ffi (the patched trees), OUT (this consumer's build dir), REPO.
# Puts in $OUT/bin: drmrs-pairs (the scoring test), file_same (the crate's example) and the
# crates' unit-test binaries (test-drm, test-drm-ffi), all linked to the host's libc only.
set -euo pipefail
: "${SRC_drm:?}" "${SRC_drm_ffi:?}" "${OUT:?}" "${REPO:?}"

export CARGO_TARGET_DIR="$OUT/target"
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
bin="$OUT/bin"
mkdir -p "$bin"

# Cargo runs in copies of the patched trees: they may lie inside this repository's workspace,
# which does not list them (an empty [workspace] table makes each its own root), and the
# patched trees stay as they are (no Cargo.lock written into them).
own_copy() { # name, tree
	local copy="$OUT/src/$1"
	rm -rf "$copy"
	mkdir -p "$OUT/src"
	cp -r "$2" "$copy"
	rm -rf "$copy/.git"
	grep -q '^\[workspace\]' "$copy/Cargo.toml" || printf '\n[workspace]\n' >>"$copy/Cargo.toml"
	echo "$copy"
}
SRC_drm=$(own_copy drm "$SRC_drm")
SRC_drm_ffi=$(own_copy drm-ffi "$SRC_drm_ffi")
ffi=(--config "patch.crates-io.drm-ffi.path=\"$SRC_drm_ffi\"")
both=("${ffi[@]}" --config "patch.crates-io.drm.path=\"$SRC_drm\"")

cargo build --release --manifest-path "$REPO/userspace/drm-rs/pairs/Cargo.toml" "${both[@]}"
cp "$CARGO_TARGET_DIR/release/drmrs-pairs" "$bin/"

(cd "$SRC_drm" && cargo build --example file_same "${ffi[@]}")
cp "$CARGO_TARGET_DIR/debug/examples/file_same" "$bin/"

# The unit tests: run here (no DRM device on the host: the device tests skip themselves) and
# kept for the guest, where they meet real nodes.
test_binary() { # crate dir, patch args...
	local dir=$1
	shift
	(cd "$dir" && cargo test --lib --no-run --message-format=json "$@") |
		python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("profile", {}).get("test") and m.get("executable"):
        print(m["executable"])' | tail -n 1
}
status=0
for crate in drm-ffi drm; do
	var="SRC_${crate//-/_}"
	dir=${!var}
	if [ "$crate" = drm ]; then args=("${ffi[@]}"); else args=(); fi
	if exe=$(test_binary "$dir" "${args[@]+"${args[@]}"}") && [ -n "$exe" ]; then
		cp "$exe" "$bin/test-$crate"
	else
		echo "XTASK-RESULT fail drmrs.host.cargo-test.$crate: the tests do not build"
		status=1
		continue
	fi
	if (cd "$dir" && cargo test "${args[@]+"${args[@]}"}" 2>&1 | tail -n 20); then
		echo "XTASK-RESULT ok drmrs.host.cargo-test.$crate"
	else
		echo "XTASK-RESULT fail drmrs.host.cargo-test.$crate: cargo test failed (output above)"
		status=1
	fi
done
exit "$status"
