#!/bin/bash
# The guest root of `cargo xtask fuzz`: a minimal Debian 12 root (debootstrap minbase plus
# openssh-server and iproute2), as syzkaller's tools/create-image.sh makes, with a root ssh key
# and an init script instead of systemd (the fuzz kernel is tinyconfig-based: no cgroups), packed
# as an uncompressed initramfs (the kernel needs no block layer, disk or file system driver; the
# root lives in RAM and is fresh at every boot).
#
# usage: create-image.sh MIRROR OUT_DIR
#   MIRROR   the Debian archive to debootstrap from (the host's own apt source)
#   OUT_DIR  gets bookworm.cpio, bookworm.id_rsa and bookworm.id_rsa.pub
set -euo pipefail

mirror=$1
out=$2
root=$out/bookworm-root

rm -rf "$root"
mkdir -p "$root"
debootstrap --variant=minbase --include=openssh-server,iproute2 bookworm "$root" "$mirror"

# PID 1: mounts, the static address QEMU's user network expects, sshd; it reaps orphans.
cat > "$root/init" <<'INIT'
#!/bin/bash
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=620 devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mount -t debugfs debugfs /sys/kernel/debug
mount -t configfs configfs /sys/kernel/config
# One vkms device made through configfs (one primary plane, CRTC, encoder, connector), which the
# fuzzer unplugs and plugs again through its enabled attribute, and the second bochs-display,
# which it removes from the PCI bus (fdsame_guest.txt). Without them the guest starts no sshd:
# the manager cannot reach it and the run fails, rather than fuzzing less than it says.
vkms=/sys/kernel/config/vkms/fdsame
setup_ok=1
mkdir "$vkms" "$vkms/planes/plane0" "$vkms/crtcs/crtc0" "$vkms/encoders/encoder0" \
	"$vkms/connectors/connector0" || setup_ok=0
echo 1 > "$vkms/planes/plane0/type" || setup_ok=0
ln -s "$vkms/crtcs/crtc0" "$vkms/planes/plane0/possible_crtcs/" || setup_ok=0
ln -s "$vkms/crtcs/crtc0" "$vkms/encoders/encoder0/possible_crtcs/" || setup_ok=0
ln -s "$vkms/encoders/encoder0" "$vkms/connectors/connector0/possible_encoders/" || setup_ok=0
echo 1 > "$vkms/enabled" || setup_ok=0
for c in /sys/class/drm/card*; do
	case $c in *-*) continue ;; esac
	echo "fuzz-init: ${c##*/}: $(readlink -f "$c/device")"
done
[ "$(readlink -f /sys/class/drm/card4/device)" = /sys/devices/faux/fdsame ] || setup_ok=0
# The second bochs-display: a display controller (class 0x0380, QEMU's VGA is 0x0300) bound to
# bochs-drm, wherever syz-manager's QEMU puts it; its remove attribute gets a fixed path in /dev
# (syz-executor's sandbox sees only /dev, /proc and /sys of this root).
for d in /sys/bus/pci/devices/*; do
	[ "$(cat "$d/class")" = 0x038000 ] || continue
	[ "$(basename "$(readlink "$d/driver")")" = bochs-drm ] || continue
	ln -sf "$d/remove" /dev/fdsame_bochs_remove
	echo "fuzz-init: /dev/fdsame_bochs_remove: $d/remove"
done
[ -e /dev/fdsame_bochs_remove ] || setup_ok=0
if [ "$setup_ok" != 1 ]; then
	echo "fuzz-init: FAILED: the configfs vkms device or the second bochs-display is not as" \
		"fdsame_guest.txt expects; no sshd"
	while true; do sleep 3600; done
fi
hostname syzkaller
ip link set lo up
ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0
ip route add default via 10.0.2.2
mkdir -p /run/sshd
chmod 0755 /run/sshd
/usr/sbin/sshd -e
echo "fuzz-init: sshd started"
while true; do
	wait
	sleep 5
done
INIT
chmod 0755 "$root/init"

printf 'syzkaller\n' > "$root/etc/hostname"
: > "$root/etc/fstab"
sed -i 's/^root:[^:]*:/root::/' "$root/etc/shadow"
cat >> "$root/etc/ssh/sshd_config" <<'SSHD'
PermitRootLogin yes
PermitEmptyPasswords yes
UseDNS no
SSHD

rm -f "$out/bookworm.id_rsa" "$out/bookworm.id_rsa.pub"
ssh-keygen -q -t rsa -b 2048 -N '' -f "$out/bookworm.id_rsa"
mkdir -p "$root/root/.ssh"
chmod 0700 "$root/root/.ssh"
cp "$out/bookworm.id_rsa.pub" "$root/root/.ssh/authorized_keys"
chmod 0600 "$root/root/.ssh/authorized_keys"

# What a guest that only runs sshd and syz-executor never reads.
rm -rf "$root"/usr/share/doc "$root"/usr/share/man "$root"/usr/share/info \
	"$root"/usr/share/locale "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/*

rm -f "$out/bookworm.cpio"
(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet) > "$out/bookworm.cpio"
rm -rf "$root"
echo "initramfs: $out/bookworm.cpio, key: $out/bookworm.id_rsa"
