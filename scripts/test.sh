#!/usr/bin/env bash
# The whole test suite: configure, build (2 jobs: these machines have 2
# cores) and run every CTest test. Extra arguments go to ctest, e.g.
#   scripts/test.sh -R server_test
# RELATED_BUILD_DIR and RELATED_CMAKE_ARGS select another build, e.g. the
# sanitizer build:  RELATED_BUILD_DIR=build-asan RELATED_CMAKE_ARGS=-DRELATED_SANITIZE=ON
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${RELATED_BUILD_DIR:-build}
# shellcheck disable=SC2086  # RELATED_CMAKE_ARGS is a list of arguments
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo ${RELATED_CMAKE_ARGS:-} >/dev/null
cmake --build "$build_dir" -j2
ctest --test-dir "$build_dir" --output-on-failure -j2 --timeout 600 "$@"
