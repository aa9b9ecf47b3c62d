#!/usr/bin/env bash
# The image's launcher (deploy/related-server-launcher.sh) picks the AVX2
# build only on a CPU with AVX2, the generic build otherwise, passes the
# arguments through, and fails with one clear line when no build fits.
set -euo pipefail
launcher=${1:?usage: launcher_test.sh LAUNCHER}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for build in avx2 generic; do
  printf '#!/bin/sh\necho "%s $*"\n' "$build" > "$work/related-server-$build"
  chmod +x "$work/related-server-$build"
done
printf 'flags\t\t: fpu sse sse2 ssse3 sse4_1 sse4_2 avx avx2 fma\n' > "$work/cpu-avx2"
printf 'flags\t\t: fpu sse sse2 ssse3 sse4_1 sse4_2 popcnt\n' > "$work/cpu-old"

check() {  # check NAME WANT [env...] : runs the launcher with --dim=8
  local name=$1 want=$2
  shift 2
  local got
  got=$(env "$@" RELATED_SERVER_DIR="$work" "$launcher" --dim=8 2>&1) || true
  if [ "$got" != "$want" ]; then
    echo "FAIL $name: want '$want', got '$got'"
    exit 1
  fi
  echo "ok $name"
}

check "an AVX2 CPU runs the AVX2 build" "avx2 --dim=8" RELATED_CPUINFO="$work/cpu-avx2"
check "a CPU without AVX2 runs the generic build" "generic --dim=8" RELATED_CPUINFO="$work/cpu-old"
rm "$work/related-server-avx2"
check "an image with the generic build only runs it" "generic --dim=8" RELATED_CPUINFO="$work/cpu-avx2"
rm "$work/related-server-generic"
check "no build at all is one clear line" \
  "related-server: no server build in $work fits this CPU" RELATED_CPUINFO="$work/cpu-avx2"
