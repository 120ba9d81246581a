#!/bin/sh
# ci-robust.sh - the robustness checks of issue 5, run by CI after the normal tests:
#   1. the whole test suite built with AddressSanitizer + UndefinedBehaviorSanitizer
#      (make test-sanitize: build-san/, leaks are errors), which includes the hostile-input,
#      fault and fuzz-regression tests;
#   2. every libFuzzer harness for FUZZ_SECONDS (default 60) seconds from its seed corpus
#      (make fuzz, FUZZ_JOBS (default 2) at a time), failing on any crash, leak, hang or
#      contract violation; findings are left in build-fuzz/artifacts/NAME/.
# Both parts always run; the exit status is the first failure's. Installs what is missing
# (clang and its runtime libraries) with scripts/setup.sh. About 8 minutes on 2 cores from
# a clean clone (docs/robustness.md has the measured times).
set -u
cd "$(dirname "$0")/.."
CNN_SETUP_EXTRA="${CNN_SETUP_EXTRA:-} clang libclang-rt-14-dev" sh scripts/setup.sh || exit 1
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_JOBS=${FUZZ_JOBS:-2}
t0=$(date +%s)
status=0
make -s -j2 SANITIZE=1 build-san/cnn && make -s -j2 test-sanitize || status=1
t1=$(date +%s)
make -s -j2 fuzz-build && make -s -j"$FUZZ_JOBS" fuzz FUZZ_SECONDS="$FUZZ_SECONDS" || { [ $status -ne 0 ] || status=2; }
t2=$(date +%s)
echo "ci-robust: sanitized build and tests $((t1 - t0)) s, fuzz build and $FUZZ_SECONDS s per harness ($FUZZ_JOBS at a time) $((t2 - t1)) s, total $((t2 - t0)) s"
[ $status -eq 0 ] || echo "ci-robust: $( [ $status -eq 1 ] && echo 'the sanitized test suite failed' || echo 'the fuzzers found something')" >&2
exit $status
