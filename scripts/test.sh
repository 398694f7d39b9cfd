#!/usr/bin/env bash
# Sets up the machine, builds everything and runs every test: the doctest unit tests (meson test)
# and the integration tests that start the real binary (node --test tests/integration/).
# Ends with one line "tests: N passed, M failed" summed over both runners; exits non-zero if
# anything failed or could not be built.
#
# Environment: BUILD_DIR (default build), SOVEREIGN_CUDA (meson -Dcuda value, default auto),
# JOBS (ninja parallelism, default 2).
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

build_dir="${BUILD_DIR:-build}"
cuda="${SOVEREIGN_CUDA:-auto}"
jobs="${JOBS:-2}"
logs="$(mktemp -d "${TMPDIR:-/tmp}/sovereign-test.XXXXXX")"
trap 'rm -rf "$logs"' EXIT

summary() {
  echo "tests: $1 passed, $2 failed"
}

# A step that fails before any test could run counts as one failure, so the summary never reads
# as a clean pass.
fail_early() {
  echo "scripts/test.sh: $1" >&2
  summary 0 1
  exit 1
}

scripts/setup.sh || fail_early "scripts/setup.sh failed"

if [ -f "$build_dir/build.ninja" ]; then
  meson setup --reconfigure "$build_dir" -Dcuda="$cuda" || fail_early "meson setup --reconfigure $build_dir failed"
else
  meson setup "$build_dir" -Dcuda="$cuda" || fail_early "meson setup $build_dir failed"
fi
ninja -C "$build_dir" -j"$jobs" || fail_early "the build failed (ninja -C $build_dir)"

# meson prints a summary block: "Ok: N", "Expected Fail: N", "Fail: N", "Unexpected Pass: N",
# "Skipped: N", "Timeout: N".
meson test -C "$build_dir" --print-errorlogs 2>&1 | tee "$logs/meson.txt"
meson_status=${PIPESTATUS[0]}
meson_count() {
  local n
  n="$(sed -nE "s/^$1:[[:space:]]+([0-9]+).*/\1/p" "$logs/meson.txt" | tail -n1)"
  echo "${n:-0}"
}
unit_passed=$(( $(meson_count 'Ok') + $(meson_count 'Expected Fail') ))
unit_failed=$(( $(meson_count 'Fail') + $(meson_count 'Unexpected Pass') + $(meson_count 'Timeout') ))
if [ "$meson_status" -ne 0 ] && [ "$unit_failed" -eq 0 ]; then
  echo "scripts/test.sh: meson test exited $meson_status without reporting a failed test" >&2
  unit_failed=1
fi

# The spec reporter for people, the TAP reporter into a file for the counts ("# pass N",
# "# fail N", "# cancelled N"; a cancelled test did not pass, so it counts as failed).
SOVEREIGN_BIN="$root/$build_dir/sovereign" node --test \
  --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$logs/node.tap" \
  tests/integration/
node_status=$?
tap_count() {
  local n
  n="$(sed -nE "s/^# $1 ([0-9]+).*/\1/p" "$logs/node.tap" 2>/dev/null | tail -n1)"
  echo "${n:-0}"
}
int_passed=$(tap_count pass)
int_failed=$(( $(tap_count fail) + $(tap_count cancelled) ))
if [ "$node_status" -ne 0 ] && [ "$int_failed" -eq 0 ]; then
  echo "scripts/test.sh: node --test exited $node_status without reporting a failed test" >&2
  int_failed=1
fi

passed=$(( unit_passed + int_passed ))
failed=$(( unit_failed + int_failed ))
summary "$passed" "$failed"
[ "$failed" -eq 0 ]
