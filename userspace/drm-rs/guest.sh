#!/bin/bash
# The drm-rs guest test: run as root in the guest from $REPO, after build.sh.
#
# Env: OUT (build.sh's dir), FDSAME_KERNEL (series: the kernel has DRM_IOCTL_FILE_SAME; base:
# the same configuration without the series, so the crate must fall back to sysfs, and
# without /sys say "cannot tell").
set -uo pipefail
: "${OUT:?}"
kernel=${FDSAME_KERNEL:-series}
bin="$OUT/bin"

# Every DRM file pair and pairing, with /sys and then without (the program hides /sys itself).
if [ -x "$bin/drmrs-pairs" ]; then
	FDSAME_KERNEL=$kernel "$bin/drmrs-pairs" || echo "XTASK-RESULT fail drmrs.$kernel.pairs: exit $?"
else
	echo "XTASK-RESULT fail drmrs.$kernel.pairs: $bin/drmrs-pairs missing (build.sh not run?)"
fi

# The crates' unit tests on real nodes (each checks the kernel's answer, or EINVAL where their
# own probe finds the kernel without the ioctl). DRM_TEST_REQUIRE_NODE: a test that finds no
# DRM node fails instead of skipping. The tests print which way they went: the series kernel
# must never be taken for one without the ioctl, and the base kernel always.
for crate in drm-ffi drm; do
	log="/tmp/drmrs-test-$crate.log"
	DRM_TEST_REQUIRE_NODE=1 "$bin/test-$crate" --test-threads=1 --nocapture >"$log" 2>&1
	rc=$?
	noioctl=$(grep -c "kernel without DRM_IOCTL_FILE_SAME" "$log")
	skipped=$(grep -c "SKIPPED" "$log")
	echo "drmrs.$kernel.guest-cargo-test.$crate: exit $rc, $noioctl lines 'kernel without', $skipped skipped"
	if [ "$kernel" = series ]; then branch_ok=$((noioctl == 0)); else branch_ok=$((noioctl > 0)); fi
	if [ "$rc" = 0 ] && [ "$branch_ok" = 1 ] && [ "$skipped" = 0 ]; then
		echo "XTASK-RESULT ok drmrs.$kernel.guest-cargo-test.$crate"
	else
		cat "$log"
		echo "XTASK-RESULT fail drmrs.$kernel.guest-cargo-test.$crate: exit $rc, or the wrong branch, or a skip (output above)"
	fi
done

# The crate's example: exits 1 on any inconsistency; without /sys it must still accept the
# nodes (series) or report the sysfs fallback (base) and exit 0.
# The inner shell expands $0 (the example), not this one.
# shellcheck disable=SC2016
nosys='umount -l /sys && mount -t tmpfs -o ro none /sys && exec "$0"'
for where in sys nosys; do
	log="/tmp/drmrs-example-$where.log"
	if [ "$where" = sys ]; then
		"$bin/file_same" >"$log" 2>&1
	else
		unshare -m --propagation private sh -c "$nosys" "$bin/file_same" >"$log" 2>&1
	fi
	rc=$?
	sed "s/^/file_same[$where]: /" "$log"
	want="kernel: DRM_IOCTL_FILE_SAME supported"
	[ "$kernel" = base ] && want="kernel: no DRM_IOCTL_FILE_SAME (EINVAL)"
	if [ "$rc" = 0 ] && grep -qF "$want" "$log"; then
		echo "XTASK-RESULT ok drmrs.$kernel.example.$where"
	else
		echo "XTASK-RESULT fail drmrs.$kernel.example.$where: exit $rc, or no \"$want\""
	fi
done
