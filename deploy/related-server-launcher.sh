#!/bin/sh
# /usr/local/bin/related-server in the image: runs the server build that
# fits this node's CPU. The image carries two: one linked with FAISS's AVX2
# kernels (several times faster, docs/performance.md) and one with Debian's
# generic FAISS. An AVX2 build on a CPU without AVX2 would die of SIGILL on
# its first search; this picks the generic one there instead, so one image
# runs on every x86-64 node.
#
# RELATED_SERVER_DIR and RELATED_CPUINFO exist for tests/deploy/launcher_test.sh.
set -eu
dir="${RELATED_SERVER_DIR:-/usr/local/lib/related}"
cpuinfo="${RELATED_CPUINFO:-/proc/cpuinfo}"
if [ -x "$dir/related-server-avx2" ] && grep -qw avx2 "$cpuinfo" 2>/dev/null; then
  exec "$dir/related-server-avx2" "$@"
fi
if [ -x "$dir/related-server-generic" ]; then
  exec "$dir/related-server-generic" "$@"
fi
echo "related-server: no server build in $dir fits this CPU" >&2
exit 1
