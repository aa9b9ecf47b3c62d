#!/usr/bin/env bash
# Installs everything related-articles needs to build, test and run, from
# Debian 12 (bookworm) packages. Idempotent; run as root or with sudo.
set -euo pipefail

packages=(
  # toolchain
  g++ cmake ninja-build pkg-config git
  # gRPC 1.51 and Protobuf 3.21; grpc-proto ships health.proto/reflection.proto
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler grpc-proto
  # vector search: FAISS 1.7.3 (static) and a fast BLAS for it
  libfaiss-dev libopenblas-dev
  # Abseil, Prometheus client, JSON for the CLI
  libabsl-dev prometheus-cpp-dev nlohmann-json3-dev zlib1g-dev
  # OpenSSL: libcrypto for bearer-token digests; the CLI makes test certificates
  libssl-dev openssl
  # fuzzing (scripts/fuzz.sh): clang with libFuzzer's runtime and its OpenMP
  clang-14 libclang-rt-14-dev libomp-14-dev
  # tests and benchmarks; h2load (nghttp2-client) cross-checks the latency
  # benchmark's own load generator
  libgtest-dev libgmock-dev libbenchmark-dev nghttp2-client
  # replicated mode: NATS JetStream as the write log (the C client, and the
  # server for tests and the dev cluster)
  libnats-dev nats-server
  # text in: fastText (the reference C++ implementation) trains the word
  # vectors of the server's text embedder
  libfasttext-dev
  # dpkg-source, to unpack Debian's FAISS source for the AVX2 build
  dpkg-dev
  # interop test (Python grpcio with code generation) and promtool
  python3 python3-grpcio python3-grpc-tools python3-yaml prometheus
  # the quality benchmark's upstream embeddings (LSA)
  python3-sklearn
  curl ca-certificates
)
# kubectl renders the Kubernetes kustomizations for the manifest test
# (kubectl kustomize, no cluster needed). A machine that has one keeps it;
# otherwise Debian's (1.20, whose kustomize the manifests are written for
# too).
command -v kubectl >/dev/null || packages+=(kubernetes-client)
# buf (tests/api) comes from the npm registry and needs Node.js and npm. A
# machine that has them from elsewhere (e.g. a nodejs that bundles npm)
# keeps its own: Debian's npm would conflict with it.
command -v node >/dev/null || packages+=(nodejs)
command -v npm >/dev/null || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# FAISS with AVX2 kernels, built from Debian's own source package
# (scripts/build-faiss-avx2.sh says why). RELATED_FAISS_AVX2=0 skips it, e.g.
# for an image that must run on CPUs without AVX2.
build_faiss_avx2() {
  if [ "${RELATED_FAISS_AVX2:-1}" != "0" ]; then
    bash "$(dirname "$0")/build-faiss-avx2.sh"
  fi
}

# buf at the version tests/api/package-lock.json pins, into
# tests/api/node_modules (as the calling user: it is part of the work tree).
# --ignore-scripts: buf's postinstall only checks that its platform binary
# (an optional dependency, pinned in the lockfile too) is there and its
# version right, which the check below does as well.
install_api_tools() {
  local dir want buf
  # An image build copies only the scripts at this point: no test tooling.
  [ -d "$(dirname "$0")/../tests/api" ] || { echo "install-deps: no tests/api here; skipping buf"; return; }
  dir="$(cd "$(dirname "$0")/../tests/api" && pwd)"
  want=$(sed -n 's/.*"@bufbuild\/buf": "\([^"]*\)".*/\1/p' "$dir/package.json")
  buf="$dir/node_modules/.bin/buf"
  if [ -x "$buf" ] && [ "$("$buf" --version 2>/dev/null)" = "$want" ]; then
    echo "install-deps: buf $want already in tests/api/node_modules"
    return
  fi
  echo "install-deps: npm ci in tests/api (buf $want)"
  npm ci --prefix "$dir" --ignore-scripts --no-audit --no-fund
}

# The Kubernetes object schemas and a YAML parser (npm kubernetes-models,
# js-yaml) at the versions tests/deploy/package-lock.json pins, for the
# offline manifest validation (tests/deploy/validate_manifests.mjs).
install_deploy_tools() {
  local dir
  [ -d "$(dirname "$0")/../tests/deploy" ] || { echo "install-deps: no tests/deploy here; skipping kubernetes-models"; return; }
  dir="$(cd "$(dirname "$0")/../tests/deploy" && pwd)"
  if [ -f "$dir/node_modules/kubernetes-models/package.json" ] &&
     [ -f "$dir/node_modules/js-yaml/package.json" ] &&
     [ "$dir/node_modules/.package-lock.json" -nt "$dir/package-lock.json" ]; then
    echo "install-deps: kubernetes-models already in tests/deploy/node_modules"
    return
  fi
  echo "install-deps: npm ci in tests/deploy (kubernetes-models, js-yaml)"
  npm ci --prefix "$dir" --ignore-scripts --no-audit --no-fund
}

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages already installed"
  build_faiss_avx2
  install_api_tools
  install_deploy_tools
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: run as root or install sudo" >&2; exit 1; }
  sudo="sudo"
fi
echo "install-deps: installing ${missing[*]}"
$sudo apt-get update -qq
export DEBIAN_FRONTEND=noninteractive
# We need only promtool from the prometheus package, not a running
# Prometheus: a policy-rc.d that says "no" keeps its install from starting
# the service (unless the machine already has a policy of its own).
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod +x "$policy"
  trap '$sudo rm -f "$policy"' EXIT
fi
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
build_faiss_avx2
install_api_tools
install_deploy_tools
