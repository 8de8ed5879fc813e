#!/bin/bash
# Mesa's device dedup in the guest (guest side of `cargo xtask userspace`).
#
# Runs as root in the guest, from $REPO, with OUT, UOUT, REPO and
# FDSAME_KERNEL (series: the kernel has DRM_IOCTL_FILE_SAME; base: the same
# configuration without the series, where the ioctl fails with EINVAL). The
# host root is read-only; scratch goes to /tmp.
#
# Each harness (built by build.sh) opens every DRM node twice and leases
# vkms's card, reads the truth from sysfs, answers every case with /sys, then
# unmounts /sys in a private mount namespace and answers them again:
#   - loaderprime-{before,after}: the loader's DRI_PRIME selection,
#     loader_get_user_preferred_fd() (patch 0006);
#   - wsipairs-{before,after}: wsi_device_matches_drm_fd() (patch 0001) and
#     wsi_common_drm_devices_equal() (patch 0005) on every ordered pair.
# And Mesa's own test, util_tests --gtest_filter='os_file*' (patch 0004).
#
# Prints XTASK-RESULT and XTASK-FIGURE lines. What is asserted:
#   - everywhere: "after" answers no case wrong, and no case worse than
#     "before" (right > cannot tell > wrong);
#   - series: the WSI answers every pair right, with and without /sys, and
#     the loader answers more cases right than before, with and without /sys;
#   - base: the fallback; the WSI's device-number match (0001, no ioctl)
#     still answers every pair right; the loader opens no DRM node more
#     than before in any case, except the one node it selects where it
#     answers better than before. The loader's node opens are figures on
#     both kernels.
set -uo pipefail

: "${OUT:?}" "${REPO:?}"
kernel=${FDSAME_KERNEL:-series}
bin=$OUT/harness
tmp=$(mktemp -d /tmp/mesa-guest.XXXXXX)
failed=0

ok() { echo "XTASK-RESULT ok $1"; }
fail() { echo "XTASK-RESULT fail $1: $2"; failed=1; }

case $kernel in
series | base) ;;
*)
    fail "mesa[$kernel] setup" "FDSAME_KERNEL must be series or base"
    exit 1
    ;;
esac

if [ ! -x "$bin/loaderprime-after" ] || [ ! -x "$bin/wsipairs-after" ]; then
    fail "mesa[$kernel] setup" "no harness in $bin (build.sh builds it)"
    exit 1
fi

for tool in loaderprime wsipairs; do
    for v in before after; do
        if ! "$bin/$tool-$v" --nosys > "$tmp/$tool-$v.out" 2> "$tmp/$tool-$v.err"; then
            fail "mesa[$kernel] $tool-$v" "exit status $?, $(tail -n 3 "$tmp/$tool-$v.err" | tr '\n' ' ')"
        fi
    done
done

# Figures: "fn, variant, phase: R right / W wrong / C cannot tell of N",
# and for the loader the DRM nodes it opened over all cases
figures() {
    awk -v k="$kernel" '$1 == "TALLY" {
        phase = $4 == "sys" ? "with /sys" : "no /sys"
        opens = NF >= 9 ? sprintf(", %d node opens", $9) : ""
        printf "XTASK-FIGURE mesa[%s] %s, %s, %s: %d right / %d wrong / %d cannot tell of %d%s\n",
            k, $2, $3, phase, $5, $6, $7, $8, opens
    }' "$@"
}
figures "$tmp"/loaderprime-*.out "$tmp"/wsipairs-*.out

tally() { # file fn variant phase field(5 right, 6 wrong, 7 cannot, 8 total)
    awk -v fn="$2" -v v="$3" -v p="$4" -v f="$5" \
        '$1 == "TALLY" && $2 == fn && $3 == v && $4 == p { print $f }' "$1"
}

# Cases that "after" answers worse than "before": key -> rank
worse() { # before.out after.out
    awk '
    function rank(v) { return v == "right" ? 2 : v == "wrong" ? 0 : 1 }
    $1 == "CASE" { key = $3 " " $4 " " $5 }
    $1 == "PAIR" { key = $2 " " $4 " " $5 " " $6 }
    $1 != "CASE" && $1 != "PAIR" { next }
    FNR == NR { before[key] = $NF; next }
    (key in before) && rank($NF) < rank(before[key]) { print key ": " before[key] " -> " $NF }
    ' "$1" "$2"
}

check_after() { # name before.out after.out variant tool fallback(0|1)
    local name=$1 before=$2 after=$3 v=$4 fns fn p w
    if [ ! -s "$after" ] || [ ! -s "$before" ]; then
        fail "$name" "no output"
        return
    fi
    # Without the ioctl, wsi_common_drm_devices_equal() falls back to the old
    # code, with its wrong answers: only "never worse" holds there.
    if [ "$5" = loaderprime ]; then
        fns=loader
    elif [ "$6" = 1 ]; then
        fns=wsi_device_matches_drm_fd
    else
        fns="wsi_device_matches_drm_fd wsi_common_drm_devices_equal"
    fi
    for fn in $fns; do
        for p in sys nosys; do
            w=$(tally "$after" "$fn" "$v" "$p" 6)
            if [ -z "$w" ]; then
                fail "$name $fn ($p)" "no tally"
            elif [ "$w" -ne 0 ]; then
                fail "$name $fn ($p)" "$w wrong: $(awk -v v="$v" -v p="$p" '($1 == "CASE" && $3 == p || $1 == "PAIR" && $4 == p) && $NF == "wrong"' "$after" | head -n 3 | tr '\n' ';')"
            else
                ok "$name $fn ($p): no wrong answer"
            fi
        done
    done
    local n
    n=$(worse "$before" "$after" | tee "$tmp/worse" | wc -l)
    if [ "$n" -ne 0 ]; then
        fail "$name never worse than before" "$n cases: $(head -n 3 "$tmp/worse" | tr '\n' ';')"
    else
        ok "$name never worse than before"
    fi
}

# The loader's node opens, case by case: "after" opens no more nodes than
# "before", except the one node it selects where it answers better than
# "before" (opening a node can resume a runtime-suspended GPU)
opens_check() { # name before.out after.out
    local n
    n=$(awk '
    function rank(v) { return v == "right" ? 2 : v == "wrong" ? 0 : 1 }
    function opens(   i) { for (i = 1; i <= NF; i++) if ($i ~ /^opens=/) return substr($i, 7) + 0; return -1 }
    $1 != "CASE" { next }
    { key = $3 " " $4 " " $5 }
    FNR == NR { bo[key] = opens(); bv[key] = $NF; next }
    (key in bo) {
        o = opens(); allowed = bo[key]
        if (rank($NF) > rank(bv[key]) && allowed < 1) allowed = 1
        if (o < 0 || o > allowed) print key ": " bo[key] " -> " o " opens"
    }' "$2" "$3" | tee "$tmp/opens" | wc -l)
    if [ "$n" -ne 0 ]; then
        fail "$1" "$n cases: $(head -n 3 "$tmp/opens" | tr '\n' ';')"
    else
        ok "$1"
    fi
}

fallback=0
[ "$kernel" = base ] && fallback=1
check_after "mesa[$kernel] loader DRI_PRIME" "$tmp/loaderprime-before.out" \
    "$tmp/loaderprime-after.out" after loaderprime "$fallback"
check_after "mesa[$kernel] wsi" "$tmp/wsipairs-before.out" "$tmp/wsipairs-after.out" \
    after wsipairs "$fallback"
if [ "$kernel" = base ]; then
    opens_check "mesa[$kernel] loader DRI_PRIME opens no node more than before" \
        "$tmp/loaderprime-before.out" "$tmp/loaderprime-after.out"
fi

# Every WSI pair right: with the kernel's answer both functions; without it
# the device-number match of wsi_device_matches_drm_fd() (no ioctl)
wsi_all_right() { # name file fn variant
    local p r n
    for p in sys nosys; do
        r=$(tally "$2" "$3" "$4" "$p" 5)
        n=$(tally "$2" "$3" "$4" "$p" 8)
        if [ -n "$r" ] && [ "$r" = "$n" ]; then
            ok "$1 ($p): $r/$n right"
        else
            fail "$1 ($p)" "${r:-?}/${n:-?} right"
        fi
    done
}
wsi_all_right "mesa[$kernel] wsi_device_matches_drm_fd every pair" \
    "$tmp/wsipairs-after.out" wsi_device_matches_drm_fd after
if [ "$kernel" = series ]; then
    wsi_all_right "mesa[$kernel] wsi_common_drm_devices_equal every pair" \
        "$tmp/wsipairs-after.out" wsi_common_drm_devices_equal after
    # The loader: more right than before, with and without /sys
    for p in sys nosys; do
        b=$(tally "$tmp/loaderprime-before.out" loader before "$p" 5)
        a=$(tally "$tmp/loaderprime-after.out" loader after "$p" 5)
        if [ -n "$a" ] && [ -n "$b" ] && [ "$a" -gt "$b" ]; then
            ok "mesa[$kernel] loader DRI_PRIME ($p): $a right after, $b before"
        else
            fail "mesa[$kernel] loader DRI_PRIME ($p)" "${a:-?} right after, ${b:-?} before"
        fi
    done
fi

# Mesa's own test (patch 0004): os_file_drm.* on every node pair
if "$OUT/build/src/util/util_tests" --gtest_filter='os_file*' > "$tmp/util_tests.out" 2>&1; then
    ok "mesa[$kernel] util_tests os_file* ($(grep -c '^\[       OK \]' "$tmp/util_tests.out") passed)"
else
    fail "mesa[$kernel] util_tests os_file*" "$(grep '^\[  FAILED  \]' "$tmp/util_tests.out" | head -n 3 | tr '\n' ';')"
fi
if [ "$kernel" = base ] && ! grep -q 'kernel without DRM_IOCTL_FILE_SAME' "$tmp/util_tests.out"; then
    fail "mesa[$kernel] util_tests os_file_drm.same_device" "did not take the fallback branch on the base kernel"
fi

# Every case, one line each: the verdicts before -> after, with /sys and
# without. The raw output of every harness
# with MESA_GUEST_VERBOSE=1.
table() { # before.out after.out
    awk '
    function abbr(v,   i, o) {
        o = ""
        for (i = 1; i <= NF; i++) if ($i ~ /^opens=/) o = substr($i, 7)
        return (v == "right" ? "R" : v == "wrong" ? "W" : "C") o
    }
    $1 == "CASE" { key = "loader " $4 " " $5 " " $6; phase = $3; v = $2 }
    $1 == "PAIR" { key = $2 " " $5 " " $6 " " $7; phase = $4; v = $3 }
    $1 != "CASE" && $1 != "PAIR" { next }
    {
        if (!(key in seen)) { seen[key] = 1; order[n++] = key }
        got[key, v, phase] = abbr($NF)
    }
    END {
        print "cases (R right, W wrong, C cannot tell, then the loader'"'"'s node opens): before->after with /sys, before->after without /sys"
        for (i = 0; i < n; i++) {
            k = order[i]
            line = k ": " got[k, "before", "sys"] "->" got[k, "after", "sys"] ", " \
                got[k, "before", "nosys"] "->" got[k, "after", "nosys"]
            print line
        }
    }' "$@"
}
for tool in loaderprime wsipairs; do
    files=("$tmp/$tool-before.out" "$tmp/$tool-after.out")
    if [ "$tool" = loaderprime ]; then
        echo "--- loader DRI_PRIME: every default file and DRI_PRIME form"
    else
        echo "--- Vulkan WSI: every ordered pair (fd A, then the physical device's or driver's fd B)"
    fi
    table "${files[@]}"
done
if [ "${MESA_GUEST_VERBOSE:-0}" = 1 ]; then
    for f in "$tmp"/*.out; do
        echo "--- $(basename "$f")"
        cat "$f"
    done
fi
if [ -n "${MESA_GUEST_LOG:-}" ]; then
    cp "$tmp"/*.out "$tmp"/*.err "$MESA_GUEST_LOG"/ 2>/dev/null || true
fi
rm -rf "$tmp"
exit "$failed"
