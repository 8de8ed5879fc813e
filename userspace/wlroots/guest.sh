#!/bin/bash
# Runs in the guest, as root, from $REPO: the wlroots harness built by build.sh (in $OUT) on
# real dma-bufs (see README.md). FDSAME_KERNEL=series: the kernel with DMA_BUF_IOCTL_SAME_OBJECT;
# FDSAME_KERNEL=base: the same configuration without the series (the ioctl fails with ENOTTY).
# Prints XTASK-RESULT and XTASK-FIGURE lines.
set -uo pipefail

: "${OUT:?OUT: the build directory of build.sh}"
kernel=${FDSAME_KERNEL:-series}
case $kernel in
series | base) ;;
*)
	echo "XTASK-RESULT fail wlroots-setup: FDSAME_KERNEL=$kernel is neither series nor base"
	exit 1
	;;
esac

sw_sync=/sys/kernel/debug/sync/sw_sync
if [ ! -e "$sw_sync" ]; then
	mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
fi
if [ ! -e /dev/udmabuf ]; then
	modprobe udmabuf 2>/dev/null
fi
if ! grep -qs vim2m /sys/class/video4linux/*/name; then
	modprobe vim2m 2>/dev/null
	sleep 1
fi

status=0
run() { # mode variant: one harness run; a crash without its results is a failure
	local mode=$1 variant=$2 bin=$OUT/$2/wlr-storage-harness log
	if [ ! -x "$bin" ]; then
		echo "XTASK-RESULT fail wlroots-$variant-$kernel-$mode: $bin not built (build.sh)"
		status=1
		return
	fi
	log=$(mktemp /tmp/wlr-storage.XXXXXX)
	timeout 120 "$bin" "$mode" "$variant" "$kernel" > "$log" 2> "$log.err"
	local rc=$?
	cat "$log"
	if ! grep -q '^XTASK-RESULT ' "$log" || { [ $rc -ne 0 ] && [ $rc -ne 1 ]; }; then
		echo "XTASK-RESULT fail wlroots-$variant-$kernel-$mode: harness exited $rc: $(tail -n 3 "$log.err" | tr '\n' ' ')"
		status=1
	elif [ $rc -ne 0 ]; then
		status=1
	fi
	rm -f "$log" "$log.err"
}

if [ ! -e "$sw_sync" ]; then
	echo "XTASK-RESULT skip wlroots-$kernel-fences: no $sw_sync (CONFIG_SW_SYNC, debugfs)"
fi
for variant in before after noproto; do
	run imports "$variant"
	if [ -e "$sw_sync" ]; then
		run fences "$variant"
	fi
done
exit $status
