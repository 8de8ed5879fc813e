#!/bin/sh
# Runs upstream IGT from the sid root in the guest (`cargo xtask igt-regression`):
#
#   igt-regression.sh SID OUT MNT TEST_ROOT HARD PER_TEST BUDGET
#
# SID is the sid root, OUT the run directory (bound at MNT inside SID; selected.testlist in
# it), TEST_ROOT the test binaries' directory in SID; igt_runner gets PER_TEST and BUDGET
# seconds, and is killed after HARD seconds. Results in OUT/igt/results.json.
SID=$1 OUT=$2 MNT=$3 TEST_ROOT=$4 HARD=$5 PER_TEST=$6 BUDGET=$7
echo "XTASK-KERNEL $(uname -r)"
mount -t proc proc "$SID/proc" || exit 10
mount -t sysfs sysfs "$SID/sys" || exit 10
mount -t debugfs debugfs "$SID/sys/kernel/debug" 2>/dev/null
mount --rbind /dev "$SID/dev" || exit 10
mount -t tmpfs tmpfs "$SID/tmp" || exit 10
mount -t tmpfs tmpfs "$SID/run" || exit 10
mount --bind "$OUT" "$SID$MNT" || exit 10
ls -l /dev/dri
cat /sys/class/drm/card*/device/uevent 2>/dev/null | grep DRIVER
start=$(date +%s)
# As the kernel's drm CI does: DRIVER_ANY (every kms_* and core_* test) excludes vgem, and
# without a forced driver IGT 2.x does not take vkms for it either.
IGT_FORCE_DRIVER=vkms chroot "$SID" /usr/bin/timeout -k 20 "$HARD" /usr/bin/igt_runner \
	--overwrite --per-test-timeout "$PER_TEST" --overall-timeout "$BUDGET" \
	--test-list "$MNT/selected.testlist" "$TEST_ROOT" "$MNT/igt"
echo "XTASK-RUNNER-STATUS $?"
if [ ! -s "$OUT/igt/results.json" ]; then
	echo "XTASK: no results.json, assembling one from the partial run"
	chroot "$SID" /usr/bin/igt_results "$MNT/igt"
fi
echo "XTASK-SECONDS $(($(date +%s) - start))"
sync
