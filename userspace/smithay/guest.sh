#!/bin/bash
# The Smithay guest test: X11Handle::drm_node() over DRI3 for every DRM node, with and without
# /sys, built before the patches, with the drm patches alone, and with all of them. Run as root in the guest, after build.sh.
#
# Env: OUT (build.sh's dir), FDSAME_KERNEL (series, or base: the kernel without the series).
set -uo pipefail
: "${OUT:?}"
kernel=${FDSAME_KERNEL:-series}
for label in before drm-only after; do
	exe="$OUT/bin/smithay-dri3-$label"
	if [ ! -x "$exe" ]; then
		echo "XTASK-RESULT fail smithay.$label.$kernel.dri3: $exe missing (build.sh not run?)"
		continue
	fi
	FDSAME_LABEL=$label FDSAME_KERNEL=$kernel "$exe" ||
		echo "XTASK-RESULT fail smithay.$label.$kernel.dri3: exit $?"
done
