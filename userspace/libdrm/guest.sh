#!/bin/bash
# Guest side of the libdrm consumer (cargo xtask userspace): runs, as root in
# the guest, libdrm's new tests and the amdgpu dedup harness that build.sh
# built, before and after the patches, with and without /sys.
#
# Environment: OUT (build.sh's output, read-only here), FDSAME_KERNEL=series
# (the kernel has DRM_IOCTL_FILE_SAME) or base (the same kernel configuration
# without the series: the ioctl fails with EINVAL). Scratch in /tmp.
#
# What cannot run here, said plainly: amdgpu. The harness runs libdrm_amdgpu's
# amdgpu_device.c with the amdgpu query ioctls stubbed on the guest's DRM
# devices (vkms, vgem, two bochs, virtio-gpu); compute partitions, whose rule
# the kernel applies to DRM_FILE_SAME_DEVICE, are covered by the kernel's
# KUnit tests only.
#
# Prints XTASK-RESULT and XTASK-FIGURE lines; exits non-zero on a failure.

set -uo pipefail

: "${OUT:?OUT is the output directory of build.sh}"
KERNEL=${FDSAME_KERNEL:-series}
SCRATCH=$(mktemp -d /tmp/libdrm-guest.XXXXXX)
failed=0

ok() { echo "XTASK-RESULT ok $*"; }
fail() { echo "XTASK-RESULT fail $*"; failed=1; }
skip() { echo "XTASK-RESULT skip $*"; }
figure() { echo "XTASK-FIGURE $*"; }

case $KERNEL in
series | base) ;;
*)
    fail "libdrm guest: FDSAME_KERNEL must be series or base, not '$KERNEL'"
    exit 1
    ;;
esac

# --- libdrm's own new tests (the patched build) -------------------------------

libdrm_tests() { # label (the kernel: series or base)
    local label=$1 t log rc want
    for t in drmfilesame drmfdssamedevice drmdevice; do
        log="$SCRATCH/$t.$label.log"
        "$OUT/build-after/tests/$t" > "$log" 2>&1
        rc=$?
        sed "s/^/  [$t, $label] /" "$log"
        case $rc in
        0) ;;
        77)
            skip "libdrm $t ($label kernel): exit 77, no DRM device it can use (drmfdssamedevice: or /sys could not be hidden)"
            continue
            ;;
        *)
            fail "libdrm $t ($label kernel): exit $rc"
            continue
            ;;
        esac
        want=
        case $t:$label in
        drmfilesame:series) want='^same fd: 0x7$' ;;
        drmfilesame:*) want='kernel without DRM_IOCTL_FILE_SAME' ;;
        drmfdssamedevice:series) want='^DRM_IOCTL_FILE_SAME: yes$' ;;
        drmfdssamedevice:*) want='^DRM_IOCTL_FILE_SAME: no$' ;;
        esac
        if [ -n "$want" ] && ! grep -q -- "$want" "$log"; then
            fail "libdrm $t ($label kernel): passed, but not on the path expected ('$want' missing)"
            continue
        fi
        # The case the function is for: the test skips (77) when it cannot hide /sys, so a
        # pass must have run it.
        if [ "$t" = drmfdssamedevice ] && ! grep -Eq '^without /sys: [0-9]+ pairs' "$log"; then
            fail "libdrm $t ($label kernel): passed without running the case without /sys"
            continue
        fi
        ok "libdrm $t ($label kernel)"
        if [ "$t" = drmfdssamedevice ]; then
            awk -v k="$label" '
                /^(with|without) \/sys: [0-9]+ pairs/ { phase = $1 " /sys"; n = $3; next }
                /^  [^ ].*: [0-9]+\/[0-9]+\/[0-9]+$/ {
                    sub(/^  /, ""); i = index($0, ": ")
                    split(substr($0, i + 2), v, "/")
                    printf "XTASK-FIGURE libdrm %s, %s kernel, %s: %d right / %d wrong / %d cannot tell of %d pairs\n", substr($0, 1, i - 1), k, phase, v[1], v[2], v[3], n
                }' "$log"
        fi
    done
}

libdrm_tests "$KERNEL"

# --- the amdgpu dedup harness ---------------------------------------------------

# field LINE KEY: the number after KEY= in LINE.
field() { sed -n "s/.* $2=\([0-9]*\).*/\1/p" <<< "$1"; }

# dedup VARIANT LABEL: runs the harness, checks and reports it.
dedup() {
    local variant=$1 label=$2 log rc phase line pairs right merged split failedp files initfail
    local name="amdgpu dedup, $variant, $label"
    log="$SCRATCH/dedup.$variant.${label// /_}.log"
    "$OUT/harness/amdgpu-dedup-$variant" -v "$variant" > "$log" 2>&1
    rc=$?
    grep -v '^PAIR ' "$log" | sed "s/^/  [$name] /"
    if [ "$rc" -ne 0 ]; then
        fail "$name: harness exit $rc"
        return
    fi

    # The kernel is the one asked for.
    case $label in
    "series kernel")
        grep -q '^IOCTL .*: DRM_IOCTL_FILE_SAME answers$' "$log" ||
            fail "$name: DRM_IOCTL_FILE_SAME does not answer on the series kernel"
        ;;
    *)
        grep -q '^IOCTL .*: DRM_IOCTL_FILE_SAME Invalid argument$' "$log" ||
            fail "$name: DRM_IOCTL_FILE_SAME does not fail with EINVAL"
        ;;
    esac

    # The files: every device the guest has, second opens and a lease.
    if [ "$variant" = after ]; then
        local d missing=
        for d in vgem vkms bochs-drm virtio_gpu; do
            grep -q "^FILE $d " "$log" || missing="$missing $d"
        done
        [ "$(grep -c '^FILE bochs-drm card[0-9]*:' "$log")" -eq 2 ] || missing="$missing second-bochs"
        grep -q '^FILE vkms card[0-9]* (lessee):' "$log" || missing="$missing vkms-lease"
        grep -q '(2nd open):' "$log" || missing="$missing second-opens"
        if [ -n "$missing" ]; then
            fail "guest DRM files ($label): missing$missing"
        else
            ok "guest DRM files ($label): vgem, vkms, two bochs, virtio-gpu; card and render nodes, second opens, a vkms lease ($(grep -c '^FILE ' "$log") files)"
        fi
    fi

    for phase in sys nosys; do
        line=$(grep "^DEDUP $variant $phase:" "$log")
        if [ -z "$line" ]; then
            fail "$name, $phase: no result"
            continue
        fi
        pairs=$(field "$line" pairs)
        right=$(field "$line" right)
        merged=$(field "$line" merged)
        split=$(field "$line" split)
        failedp=$(field "$line" failed)
        files=$(field "$line" files)
        initfail=$(field "$line" init_failed)
        local p="with /sys"
        [ "$phase" = nosys ] && p="no /sys"
        figure "$name, $p: $right right / $((merged + split)) wrong ($merged merged different devices, $split split one device) / 0 cannot tell of $pairs pairs; amdgpu_device_initialize() alone fails on $initfail of $files files"
        grep "^CLASS $variant $phase:" "$log" | grep -v ' merged=0 split=0 ' |
            sed "s|^CLASS [^ ]* [^ ]* |XTASK-FIGURE $name, $p, wrong in: |"

        case $variant:$phase:$initfail in
        *:*:0) ;;
        before:nosys:*)
            ok "$name, $p: the old amdgpu_get_auth() shown wrong (initialization fails on $initfail render-node files: GET_CLIENT refused)"
            ;;
        *) fail "$name, $p: amdgpu_device_initialize() fails on $initfail of $files files" ;;
        esac
        if [ "$failedp" -ne 0 ]; then
            fail "$name, $p: $failedp pairs where amdgpu_device_initialize() failed in the harness"
            continue
        fi
        case $variant:$label:$phase in
        *:sys)
            # sysfs names every node here (no partitions in the guest).
            if [ "$right" -eq "$pairs" ]; then
                ok "$name, $p: all $pairs pairs right"
            else
                fail "$name, $p: $merged merged, $split split of $pairs"
            fi
            ;;
        before:*:nosys)
            # The bug the fix is for: "cannot tell" taken for "same".
            if [ "$merged" -gt 0 ]; then
                ok "$name, $p: the old fd_compare() shown wrong ($merged pairs of different devices merged)"
            else
                fail "$name, $p: the old fd_compare() merged nothing; the harness does not see the bug"
            fi
            ;;
        "after:series kernel:nosys")
            if [ "$right" -eq "$pairs" ]; then
                ok "$name, $p: all $pairs pairs right (DRM_FILE_SAME_DEVICE)"
            else
                fail "$name, $p: $merged merged, $split split of $pairs"
            fi
            ;;
        *:nosys)
            # The fallback: may split one device, never merge two.
            if [ "$merged" -eq 0 ]; then
                ok "$name, $p: never merged ($split pairs of one device split: the safe direction)"
            else
                fail "$name, $p: $merged pairs of different devices merged"
            fi
            ;;
        esac
    done
}

for v in before fixes after; do
    dedup "$v" "$KERNEL kernel"
done

skip "amdgpu compute partitions: no amdgpu device in the guest (QEMU TCG); the partition rule is covered by the kernel's KUnit tests, the dedup logic by the harness above"

rm -rf "$SCRATCH"
exit "$failed"
