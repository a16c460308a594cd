#!/usr/bin/env bash
# Installs what the tests need, builds with -Werror, runs every test (unit,
# end-to-end, distcheck) and ends with one line: "N passed, N failed".
# Exit status is non-zero on any failure. Safe to run again; stops whatever
# it started, also when interrupted.
#
#   ./contrib/check.sh            everything (what CI runs)
#   ./contrib/check.sh --quick    skip `make distcheck`
#   ./contrib/check.sh -k PATTERN only unit and e2e tests matching PATTERN
set -uo pipefail
. "$(dirname "$0")/lib/common.sh"

quick=no
filter=
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=yes ;;
    -k) filter=${2:?-k needs a pattern}; quick=yes; shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "usage: $0 [--quick] [-k PATTERN]" >&2; exit 2 ;;
  esac
  shift
done

passed=0
failed=0
failures=()
finish() {
  if [ ${#failures[@]} -gt 0 ]; then
    printf 'failed: %s\n' "${failures[@]}"
  fi
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit
}

sluice_install_packages "${SLUICE_BUILD_PACKAGES[@]}" "${SLUICE_RUN_PACKAGES[@]}" "${SLUICE_TEST_PACKAGES[@]}" ||
  { failed=1; failures+=("installing packages"); finish; }
sluice_build --enable-werror || { failed=1; failures+=("build"); finish; }

# Unit tests (GoogleTest under automake's harness): count single tests from
# each binary's log; a binary that died before its summary counts as failed.
say "unit tests"
rm -f "$SLUICE_BUILD"/tests/unit/*.log
if [ -n "$filter" ]; then export GTEST_FILTER="*${filter}*"; fi
make -C "$SLUICE_BUILD" check >"$SLUICE_BUILD/unit.out" 2>&1
unset GTEST_FILTER
for log in "$SLUICE_BUILD"/tests/unit/*.log; do
  [ "$(basename "$log")" = test-suite.log ] && continue
  ok=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n 1)
  bad=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n 1)
  if [ -z "$ok" ] && [ -z "$bad" ]; then
    failed=$((failed + 1)); failures+=("$(basename "$log" .log) (no summary: crashed?)")
    tail -n 30 "$log"
    continue
  fi
  passed=$((passed + ${ok:-0})); failed=$((failed + ${bad:-0}))
  if [ -n "$bad" ]; then
    sed -n 's/^\[  FAILED  \] \([A-Za-z][A-Za-z0-9_./]*\).*/  FAIL: \1/p' "$log" | sort -u
    grep -B3 -A12 'Failure$' "$log" | head -n 80
    failures+=("$bad unit test(s) in $(basename "$log" .log)")
  fi
  echo "  $(basename "$log" .log): ${ok:-0} passed, ${bad:-0} failed"
done
if ! ls "$SLUICE_BUILD"/tests/unit/*.log >/dev/null 2>&1; then
  tail -n 40 "$SLUICE_BUILD/unit.out"
  failed=$((failed + 1)); failures+=("unit tests did not run (make check)")
fi

# End-to-end tests: real redis-server, real Postfix, swaks, the sink.
say "end-to-end tests"
make -s -C "$SLUICE_BUILD/tests/e2e" --no-print-directory check-e2e E2E_ARGS="$filter" 2>&1 | tee "$SLUICE_BUILD/e2e.out"
summary=$(grep -E '^e2e: [0-9]+ passed, [0-9]+ failed' "$SLUICE_BUILD/e2e.out" | tail -n 1)
if [ -z "$summary" ]; then
  failed=$((failed + 1)); failures+=("e2e runner did not finish")
else
  e2e_ok=$(sed -E 's/^e2e: ([0-9]+) passed.*/\1/' <<<"$summary")
  e2e_bad=$(sed -E 's/^e2e: [0-9]+ passed, ([0-9]+) failed.*/\1/' <<<"$summary")
  passed=$((passed + e2e_ok)); failed=$((failed + e2e_bad))
  [ "$e2e_bad" -eq 0 ] || failures+=("$e2e_bad e2e test(s)")
fi

# The release tarball must build and pass its unit tests on its own.
if [ "$quick" = no ]; then
  say "make distcheck"
  if make -C "$SLUICE_BUILD" distcheck DISTCHECK_CONFIGURE_FLAGS=--enable-werror >"$SLUICE_BUILD/distcheck.out" 2>&1; then
    passed=$((passed + 1)); echo "  distcheck: ok"
  else
    failed=$((failed + 1)); failures+=("make distcheck"); tail -n 40 "$SLUICE_BUILD/distcheck.out"
  fi
fi
finish
