#!/usr/bin/env bash
# Builds FAISS 1.7.3 with AVX2 kernels from Debian's own source package and
# installs the static library and its headers under one prefix, where the
# top-level CMakeLists.txt finds it (RELATED_FAISS_AVX2_PREFIX).
#
# Why: Debian's libfaiss-dev is a generic SSE build. The same source built
# with -DFAISS_OPT_LEVEL=avx2 makes HNSW inserts and searches several times
# faster here (bench/latency shows both). It is the same version with the
# same Debian patches, so nothing else changes. On a CPU without AVX2 this
# script does nothing and the build uses libfaiss-dev.
#
# Needs root (or sudo) for the deb-src entry and the install; takes about two
# minutes on two cores. Idempotent.
set -euo pipefail

prefix="${RELATED_FAISS_AVX2_PREFIX:-/opt/related/faiss-avx2}"
if [ -f "$prefix/lib/libfaiss_avx2.a" ]; then
  echo "build-faiss-avx2: already installed in $prefix"
  exit 0
fi
if ! grep -qw avx2 /proc/cpuinfo; then
  echo "build-faiss-avx2: this CPU has no AVX2; the build uses Debian's libfaiss-dev"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi

# A deb-src entry for the mirror the machine already uses.
if ! apt-get source --print-uris faiss >/dev/null 2>&1; then
  # The mirror of a deb822 debian.sources (Debian 12's images) or of a
  # one-line sources.list (debootstrap, mmdebstrap); either may be absent.
  mirror=$({ grep -m1 -hoE '^URIs: *[^ ]+' /etc/apt/sources.list.d/debian.sources 2>/dev/null ||
             grep -m1 -hoE '^deb +[^ ]+' /etc/apt/sources.list 2>/dev/null || true; } |
    awk '{print $2}')
  mirror="${mirror:-http://deb.debian.org/debian}"
  printf 'Types: deb-src\nURIs: %s\nSuites: bookworm\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    "$mirror" | $sudo tee /etc/apt/sources.list.d/related-deb-src.sources >/dev/null
  $sudo apt-get update -qq
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
# dpkg-source (dpkg-dev) unpacks it and applies Debian's patches.
apt-get source -qq faiss >/dev/null 2>&1 || apt-get source faiss
src=$(find . -maxdepth 1 -type d -name 'faiss-*' | head -n1)
echo "build-faiss-avx2: building $src with AVX2 (about two minutes)"
cmake -S "$src" -B build -DCMAKE_BUILD_TYPE=Release -DFAISS_OPT_LEVEL=avx2 \
  -DFAISS_ENABLE_GPU=OFF -DFAISS_ENABLE_PYTHON=OFF -DFAISS_ENABLE_C_API=OFF \
  -DBUILD_TESTING=OFF -DBUILD_SHARED_LIBS=OFF -DBLA_VENDOR=OpenBLAS >build.log 2>&1 ||
  { cat build.log; exit 1; }
cmake --build build --target faiss_avx2 -j"$(nproc)" >>build.log 2>&1 ||
  { tail -50 build.log; exit 1; }

$sudo mkdir -p "$prefix/lib" "$prefix/include"
$sudo cp build/faiss/libfaiss_avx2.a "$prefix/lib/"
(cd "$src" && find faiss -name '*.h' -exec $sudo cp --parents -t "$prefix/include" {} +)
echo "build-faiss-avx2: installed in $prefix"
