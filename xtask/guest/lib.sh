# shellcheck shell=sh
# Functions of the guest scripts of `cargo xtask` (sourced by the cmd.sh that xtask writes, which
# only calls them with quoted arguments). Every line the harness reads starts with XTASK-.

# load_modules MODROOT MODULE...: loads each module with the host's kmod, `modprobe -d MODROOT`
# (the flavour's `make modules_install`, whose depmod brings in each one's dependencies), with an
# empty configuration directory so that the host's /etc/modprobe.d has no say. Prints
# `XTASK-MODULE ok NAME` or `XTASK-MODULE failed NAME: MESSAGE` per module.
load_modules() {
	root=$1
	shift
	mkdir -p /tmp/xtask-modprobe.d
	for m in "$@"; do
		if msg=$(modprobe -C /tmp/xtask-modprobe.d -d "$root" "$m" 2>&1); then
			echo "XTASK-MODULE ok $m"
		else
			echo "XTASK-MODULE failed $m: $(echo "$msg" | tr '\n' ' ')"
		fi
	done
}

# wait_nodes NODE...: waits, at most 100 rounds of 0.1 s, for the nodes (devtmpfs creates them
# as the drivers register), then opens the render and dma-buf nodes to all as the init script
# does at boot. A node still missing is reported by check_nodes, not here.
wait_nodes() {
	i=0
	while [ "$i" -lt 100 ]; do
		all=1
		for n in "$@"; do [ -e "$n" ] || all=0; done
		[ "$all" = 1 ] && break
		sleep 0.1
		i=$((i + 1))
	done
	echo "XTASK-NODE-WAIT $i"
	chmod 0666 /dev/dri/renderD* /dev/dma_heap/* /dev/udmabuf 2>/dev/null
}

# check_nodes NODE...: one `XTASK-NODE N` or `XTASK-MISSING N` line per node.
check_nodes() {
	for n in "$@"; do
		if [ -e "$n" ]; then echo "XTASK-NODE $n"; else echo "XTASK-MISSING $n"; fi
	done
}

# run_group LABEL COMMAND...: the command's output between `XTASK-BEGIN LABEL` and
# `XTASK-END LABEL STATUS`.
run_group() {
	label=$1
	shift
	echo "XTASK-BEGIN $label"
	"$@"
	echo "XTASK-END $label $?"
}

# kmemleak_scan OUT: makes kmemleak scan twice (an object must stay unreferenced over two scans
# to be reported) and writes its report to OUT.
kmemleak_scan() {
	k=/sys/kernel/debug/kmemleak
	if [ -w "$k" ]; then
		echo scan > "$k"
		sleep 6
		echo scan > "$k"
		cat "$k" > "$1"
	else
		echo "XTASK-MISSING $k"
	fi
}
