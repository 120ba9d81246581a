#!/bin/sh
# Installs what is missing, builds with warnings as errors and runs every test.
set -eu
cd "$(dirname "$0")/.."
sh scripts/setup.sh
make -s -j2
make -s test
