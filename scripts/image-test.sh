#!/usr/bin/env bash
# Builds the server image with podman and runs it as a user would: start it
# on a data volume, wait for health SERVING, import the demo corpus, look up
# related articles, stop it with SIGTERM (exit code 0), start it again on the
# same volume and find the articles there.
#
# No container registry is reachable here, so the Dockerfile's base images
# (debian:bookworm and debian:bookworm-slim, what a real user pulls) are
# made locally from Debian packages with mmdebstrap and `podman import`ed
# under those names. The Dockerfile itself is unchanged.
#
# Needs root, podman, runc and mmdebstrap (apt-get install podman runc
# mmdebstrap) and build/related-cli (scripts/test.sh builds it). Not part of
# .ci/run: the image build compiles the server twice and takes about 25
# minutes on 2 cores.
#
# PODMAN can replace the podman command line. The default suits a machine
# like this one (a container itself): vfs storage, cgroupfs, runc, and
# ulimits within the machine's own.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
say() { echo "image-test: $*"; }

PODMAN=${PODMAN:-podman --storage-driver=vfs --cgroup-manager=cgroupfs --events-backend=file --runtime=runc}
RUN_FLAGS=(--network=host --ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
IMAGE=localhost/related-articles:image-test
CLI=build/related-cli
[ -x "$CLI" ] || { say "build/related-cli missing: run scripts/test.sh first"; exit 1; }
work=$(mktemp -d /var/tmp/related-image-test.XXXXXX)
container=related-image-test-$$
cleanup() {
  $PODMAN rm -f "$container" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# 1. The base images, from Debian packages.
base_tar=/var/tmp/related-bookworm-minbase.tar
if [ ! -s "$base_tar" ]; then
  say "mmdebstrap: Debian 12 minbase"
  mmdebstrap --variant=minbase --mode=root --format=tar bookworm "$base_tar.tmp"
  mv "$base_tar.tmp" "$base_tar"
fi
for name in docker.io/library/debian:bookworm docker.io/library/debian:bookworm-slim; do
  $PODMAN image exists "$name" || $PODMAN import "$base_tar" "$name" >/dev/null
done
say "base images: $($PODMAN images --format '{{.Repository}}:{{.Tag}}' | grep debian | tr '\n' ' ')"

# 2. The image, from the repository's Dockerfile.
build_start=$(date +%s)
$PODMAN build --format docker "${RUN_FLAGS[@]}" -f deploy/Dockerfile -t "$IMAGE" .
say "image built in $(( $(date +%s) - build_start )) s: $($PODMAN image inspect "$IMAGE" --format '{{.Size}}') bytes"

# 3. Run it as a user would, on a data volume owned by the image's user.
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
grpc=$(free_port); metrics=$(free_port); health=$(free_port)
mkdir -p "$work/data"
chown 10001:10001 "$work/data"
start_server() {
  $PODMAN run -d --name "$container" "${RUN_FLAGS[@]}" -v "$work/data:/var/lib/related" "$IMAGE" \
    --grpc_address=127.0.0.1:"$grpc" --metrics_address=127.0.0.1:"$metrics" \
    --health_address=127.0.0.1:"$health" --dim=64 --data_dir=/var/lib/related \
    --log_format=json >/dev/null
  for _ in $(seq 1 150); do
    if "$CLI" --address=127.0.0.1:"$health" --timeout=2s health >/dev/null 2>&1; then
      say "health SERVING (asked on the health-only port $health)"
      return 0
    fi
    sleep 0.2
  done
  say "not SERVING within 30 s"; $PODMAN logs "$container" | tail -20; exit 1
}
stop_server() {
  $PODMAN stop -t 60 "$container" >/dev/null
  code=$($PODMAN inspect "$container" --format '{{.State.ExitCode}}')
  $PODMAN logs "$container" 2>&1 | tail -3
  $PODMAN rm "$container" >/dev/null
  [ "$code" = 0 ] || { say "exit code $code after SIGTERM"; exit 1; }
  say "SIGTERM: exit code 0"
}

start_server
say "server build chosen: $($PODMAN exec "$container" sh -c 'grep -qw avx2 /proc/cpuinfo && echo avx2 || echo generic')"
"$CLI" --address=127.0.0.1:"$grpc" import demo/articles.jsonl
first=$(head -1 demo/articles.jsonl | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
"$CLI" --address=127.0.0.1:"$grpc" related "$first" --limit=3
stop_server

start_server
count=$("$CLI" --address=127.0.0.1:"$grpc" --json stats | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["article_count"])')
[ "$count" = "$(wc -l < demo/articles.jsonl)" ] || { say "after the restart: $count articles"; exit 1; }
say "after the restart on the same volume: $count articles"
"$CLI" --address=127.0.0.1:"$grpc" related "$first" --limit=3
stop_server
say "passed in $(( $(date +%s) - started )) s"
