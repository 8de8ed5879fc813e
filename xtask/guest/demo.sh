#!/bin/sh
# Run in the guest by `cargo xtask demo`: demo.sh FDSAME HOLD_DMABUFS (the built binaries).
F=$1
HOLD=$2
show() { echo; echo "\$ $*"; "$@"; echo "(exit $?)"; }

echo "== The patched kernel: $(uname -r)"
# vkms and vgem are faux devices: the device's name says which is which (card numbers follow probe order).
dev_of() { d=$(readlink -f /sys/class/drm/"${1##*/}"/device); echo "${d##*/}"; }
for c in /dev/dri/card* /dev/dri/renderD*; do echo "   $c  device: $(dev_of "$c")"; done
card_of() { for c in /dev/dri/card*; do [ "$(dev_of "$c")" = "$1" ] && echo "$c"; done | head -1; }
VKMS=$(card_of vkms); VGEM=$(card_of vgem)
RENDER=$(find /dev/dri -name "renderD*" | sort | head -1)

echo; echo "== DRM device files (every path is a new open)"
show "$F" --level drm-device "$VGEM" "$VGEM"
show "$F" --level drm-device "$VGEM" "$RENDER"
show "$F" --level drm-device "$VKMS" "$VGEM"

echo; echo "== Real descriptors held by a process: hold-dmabufs opens fds 10..17, then runs the CLI"
echo "   10 vgem card, 11 dma-buf, 12 the same GEM object exported again, 13 another buffer,"
echo "   14 fd 11 imported into vkms and re-exported, 15 dup of 10, 16 vgem render node, 17 vkms card"
show "$HOLD" "$F" /proc/self/fd/10 /proc/self/fd/15
show "$HOLD" "$F" --level drm-device /proc/self/fd/10 /proc/self/fd/16
show "$HOLD" "$F" --level dma-buf-object /proc/self/fd/11 /proc/self/fd/12
show "$HOLD" "$F" --level dma-buf-object /proc/self/fd/11 /proc/self/fd/14
show "$HOLD" "$F" --level dma-buf-object /proc/self/fd/11 /proc/self/fd/13
show "$HOLD" "$F" --json /proc/self/fd/10 /proc/self/fd/16

echo; echo "== The same question without the new ioctls (forced mechanism): the file level only"
show "$HOLD" "$F" --mechanism f-dupfd-query --level drm-client /proc/self/fd/10 /proc/self/fd/16

echo; echo "== fdsame ps: the DRM and dma-buf fds of a process, grouped by identity"
show "$HOLD" sh -c "$F ps \$\$"
