#!/bin/sh
# Runs every test program given as arguments, then the shell tests; prints one
# summary line and fails if any program failed.
failed=0
for t in "$@" tests/test_*.sh; do
    [ -e "$t" ] || continue
    printf '== %s\n' "$t"
    case "$t" in
        *.sh) sh "$t" || failed=$((failed + 1)) ;;
        *) "$t" || failed=$((failed + 1)) ;;
    esac
done
if [ "$failed" -ne 0 ]; then echo "test programs failed: $failed"; exit 1; fi
echo "all test programs passed"
