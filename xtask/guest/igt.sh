#!/bin/sh
# Runs IGT tests with igt_runner in the guest (`cargo xtask test` with IGT_BUILD or IGT_SRC):
#
#   igt.sh IGT_BUILD RESULTS TEST...
#
# IGT_BUILD is the meson build directory of an IGT checkout (runner/igt_runner, tests/<binary>);
# a TEST is a binary (every subtest) or binary@subtest, with or without `igt@`. Builds a private
# test root with a symlink to each binary and the test-list.txt igt_runner insists on (a build
# where only these binaries were built works), writes the selection as a --test-list file and
# runs igt_runner with a per-test, an inactivity and an overall timeout (IGT's own bounds of a
# hung test; xtask/src/igt.rs). Exits with igt_runner's status, or 3 when RESULTS/results.json
# was not written; test failures do not change the status: results.json says them.
set -eu

IGT_BUILD=$1
RESULTS=$2
shift 2
RUNNER="$IGT_BUILD/runner/igt_runner"
: "${PER_TEST_TIMEOUT:=120}" "${INACTIVITY_TIMEOUT:=60}" "${OVERALL_TIMEOUT:=1200}"

# igt_runner prefers $IGT_TEST_ROOT over the test root it is given.
unset IGT_TEST_ROOT || true

if [ ! -x "$RUNNER" ]; then
	echo "igt: $RUNNER is missing (meson -Drunner=enabled, ninja runner/igt_runner)" >&2
	exit 2
fi
if [ "$(id -u)" != 0 ]; then
	echo "igt: igt_runner must run as root" >&2
	exit 2
fi
[ -d /dev/dri ] || echo "igt: warning: no /dev/dri, the DRM tests will skip" >&2

ROOT=$(mktemp -d "${TMPDIR:-/tmp}/igt-root.XXXXXX")
trap 'rm -rf "$ROOT"' EXIT
trap 'exit 130' INT TERM

for t in "$@"; do
	t=${t#igt@}
	echo "igt@$t" >> "$ROOT/selected.testlist"
	b=${t%%@*}
	[ -e "$ROOT/$b" ] && continue
	bin="$IGT_BUILD/tests/$b"
	if [ ! -x "$bin" ]; then
		bin=$(find "$IGT_BUILD/tests" -type f -name "$b" -perm -u+x 2>/dev/null | head -n 1)
	fi
	if [ -z "$bin" ] || [ ! -x "$bin" ]; then
		echo "igt: test binary $b not built in $IGT_BUILD/tests (ninja tests/$b)" >&2
		exit 2
	fi
	ln -s "$bin" "$ROOT/$b"
	echo "$b" >> "$ROOT/test-list.txt"
done

mkdir -p "$(dirname "$RESULTS")"
status=0
"$RUNNER" --overwrite --use-watchdog --per-test-timeout "$PER_TEST_TIMEOUT" \
	--inactivity-timeout "$INACTIVITY_TIMEOUT" --overall-timeout "$OVERALL_TIMEOUT" \
	--test-list "$ROOT/selected.testlist" "$ROOT" "$RESULTS" || status=$?

if [ ! -s "$RESULTS/results.json" ]; then
	echo "igt: igt_runner (status $status) wrote no $RESULTS/results.json" >&2
	exit 3
fi
echo "igt: results in $RESULTS/results.json (igt_runner status $status)"
exit "$status"
