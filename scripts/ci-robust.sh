#!/bin/sh
# ci-robust.sh - the robustness checks of issue 5, run by CI after the normal tests:
#   1. the whole test suite built with AddressSanitizer + UndefinedBehaviorSanitizer
#      (make test-sanitize: build-san/, leaks are errors), which includes the hostile-input,
#      fault and fuzz-regression tests;
#   2. every libFuzzer harness for FUZZ_SECONDS (default 60) seconds from its seed corpus
#      (make fuzz, FUZZ_JOBS (default 2) at a time), failing on any crash, leak, hang or
#      contract violation; findings are left in build-fuzz/artifacts/NAME/.
# Installs what is missing (clang and its runtime libraries) with scripts/setup.sh. On 2
# cores it takes about 9 minutes (docs/robustness.md has the measured times).
set -eu
cd "$(dirname "$0")/.."
CNN_SETUP_EXTRA="${CNN_SETUP_EXTRA:-} clang libclang-rt-14-dev" sh scripts/setup.sh
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_JOBS=${FUZZ_JOBS:-2}
t0=$(date +%s)
make -s -j2 SANITIZE=1 build-san/cnn
make -s -j2 test-sanitize
t1=$(date +%s)
make -s -j2 fuzz-build
make -s -j"$FUZZ_JOBS" fuzz FUZZ_SECONDS="$FUZZ_SECONDS"
t2=$(date +%s)
echo "ci-robust: sanitized tests $((t1 - t0)) s, fuzzing (build and $FUZZ_SECONDS s per harness) $((t2 - t1)) s"
