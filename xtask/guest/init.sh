#!/bin/busybox sh
# shellcheck shell=sh
# The initramfs init of the VM (xtask/src/vm.rs): mounts the host root over 9p, chroots into it
# and runs the command script of the run directory; its output, status and dmesg go back there.
/bin/busybox mkdir -p /proc /sys /dev /host /bin /sbin
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# The command line is one line of words.
# shellcheck disable=SC2013
for a in $(cat /proc/cmdline); do case "$a" in xtask.out=*) OUT="${a#xtask.out=}";; xtask.root=*) ROOT="${a#xtask.root=}";; esac; done
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,ro hostroot /host || { echo "XTASK: cannot mount the host root"; reboot -f; }
mount -t proc proc /host/proc
# An empty, read-only tmpfs under the guest's sysfs: a test that unmounts /sys (to see what a
# program does without it) must find nothing there, not the host's own /sys through 9p.
mount -t tmpfs -o ro,size=4k,mode=0555 nosys /host/sys
mount -t sysfs sysfs /host/sys
mount -t devtmpfs devtmpfs /host/dev
# The guest's /tmp is its own; the host's stays visible read-only at /run/host-tmp, and a
# repository that lives under the host's /tmp is bound back at its own path.
mount -t tmpfs tmpfs /host/run
mkdir -p /host/run/host-tmp
mount -o bind,ro /host/tmp /host/run/host-tmp
mount -t tmpfs tmpfs /host/tmp
case "$ROOT" in /tmp/*) mkdir -p "/host$ROOT" && mount -o bind "/host/run/host-tmp/${ROOT#/tmp/}" "/host$ROOT";; esac
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 xtaskout "/host$OUT" || { echo "XTASK: cannot mount $OUT"; reboot -f; }
mount -t debugfs debugfs /host/sys/kernel/debug 2>/dev/null
mkdir -p /host/dev/pts /host/dev/shm
mount -t tmpfs tmpfs /host/dev/shm
chmod 0666 /host/dev/dri/renderD* /host/dev/dma_heap/* /host/dev/udmabuf 2>/dev/null
cd /
HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin chroot /host /bin/sh "$OUT/cmd.sh" > "/host$OUT/out.txt" 2>&1
echo $? > "/host$OUT/status"
dmesg > "/host$OUT/dmesg.txt"
sync
echo "XTASK: done, status $(cat "/host$OUT/status")"
reboot -f
