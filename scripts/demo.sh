#!/usr/bin/env bash
# shellcheck disable=SC2317  # trap handlers are only called indirectly
# The quick start: from a fresh Debian 12 checkout to a running related-server
# holding the demo corpus (demo/articles.jsonl, 120 fictional articles, sent
# as text: the server embeds them with a model trained on them first).
#
#   scripts/demo.sh
#
# Steps: install the build and runtime packages (scripts/install-deps.sh, as
# root or through sudo), build in ./build (the build scripts/test.sh uses
# too), train the text embedder on the corpus (related-cli train, seconds), start
# related-server with that model on 127.0.0.1, wait until its health check
# answers, import the corpus (text only, no embeddings), print what to try,
# then keep the server in the foreground until Ctrl-C.
#
# Environment:
#   RELATED_GRPC_PORT=50051     gRPC port of the demo server
#   RELATED_METRICS_PORT=9464   Prometheus metrics port (/metrics)
#   RELATED_SKIP_INSTALL=1      skip scripts/install-deps.sh (packages already
#                               installed, e.g. on a second run)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

readonly GRPC_PORT="${RELATED_GRPC_PORT:-50051}"
readonly METRICS_PORT="${RELATED_METRICS_PORT:-9464}"
readonly HOST=127.0.0.1
readonly GRPC_ADDRESS="${HOST}:${GRPC_PORT}"
readonly SERVER=build/related-server
readonly CLI=build/related-cli
readonly CORPUS=demo/articles.jsonl
readonly MODEL=build/demo-model.bin
# A corpus this small (120 short texts) needs many passes; a site's own
# corpus gets related-cli train's default.
readonly DEMO_EPOCHS=100
# An article whose related list is the other four stories on the same
# election; any ID from the corpus works.
readonly EXAMPLE_ID=2026/11/28/world/election-runoff-called
# Health polling: 150 tries, 0.2 s apart, is about 30 s.
readonly HEALTH_TRIES=150
readonly HEALTH_INTERVAL=0.2

say() { printf '==> %s\n' "$*"; }
die() {
  printf 'demo.sh: %s\n' "$*" >&2
  exit 1
}

check_port_value() {
  local name=$1 value=$2
  if ! [[ $value =~ ^[0-9]+$ ]] || ((value < 1 || value > 65535)); then
    die "$name must be a port number from 1 to 65535, got '$value'"
  fi
}

# True if something accepts TCP connections on 127.0.0.1:$1 (bash's own
# /dev/tcp, so no extra package is needed).
port_in_use() {
  (exec 3<>"/dev/tcp/${HOST}/$1") 2>/dev/null
}

# Checked before the build (so a busy port is reported in seconds, not after
# a long build) and again just before the server starts; done here rather
# than left to the server's bind error, to say which setting to change.
check_ports_free() {
  if port_in_use "$GRPC_PORT"; then
    die "port $GRPC_PORT on $HOST is already in use (another related-server?); stop that process or choose another port, e.g. RELATED_GRPC_PORT=50061 scripts/demo.sh"
  fi
  if port_in_use "$METRICS_PORT"; then
    die "port $METRICS_PORT on $HOST is already in use; stop that process or choose another port, e.g. RELATED_METRICS_PORT=9465 scripts/demo.sh"
  fi
}

check_port_value RELATED_GRPC_PORT "$GRPC_PORT"
check_port_value RELATED_METRICS_PORT "$METRICS_PORT"
[[ $GRPC_PORT != "$METRICS_PORT" ]] ||
  die "RELATED_GRPC_PORT and RELATED_METRICS_PORT are both $GRPC_PORT; they must differ"
[[ -f $CORPUS ]] || die "$CORPUS is missing (run demo/generate_demo_corpus.py)"
check_ports_free

# --- 1. packages -------------------------------------------------------------
if [[ ${RELATED_SKIP_INSTALL:-0} == 1 ]]; then
  say "skipping scripts/install-deps.sh (RELATED_SKIP_INSTALL=1)"
else
  [[ -f scripts/install-deps.sh ]] || die "scripts/install-deps.sh is missing"
  say "installing packages (scripts/install-deps.sh)"
  if [[ $(id -u) -eq 0 ]]; then
    bash scripts/install-deps.sh
  elif command -v sudo >/dev/null 2>&1; then
    sudo bash scripts/install-deps.sh
  else
    die "installing packages needs root: run as root, install sudo, or set RELATED_SKIP_INSTALL=1 if the packages are already installed"
  fi
fi

# --- 2. build ------------------------------------------------------------------
say "building related-server and related-cli (cmake, in ./build)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j2 --target related-server related-cli
for binary in "$SERVER" "$CLI"; do
  [[ -x $binary ]] || die "the build did not produce $binary"
done

# --- 3. train the text embedder on the corpus ----------------------------------
say "training the text embedder on $CORPUS (related-cli train)"
"$CLI" train "$CORPUS" --out="$MODEL" --epochs="$DEMO_EPOCHS"

# --- 4. start the server -------------------------------------------------------
check_ports_free

server_pid=""
stop_sent=0
in_final_wait=0

# A background job of a script ignores SIGINT, so Ctrl-C must be passed on;
# SIGTERM is the server's signal for a graceful shutdown.
stop_server() {
  if ((!stop_sent)) && [[ -n $server_pid ]] &&
    kill -0 "$server_pid" 2>/dev/null; then
    stop_sent=1
    say "stopping related-server (pid $server_pid)"
    kill -TERM "$server_pid" 2>/dev/null || true
  fi
}
on_signal() {
  stop_server
  # Before the final wait (start-up, import) a Ctrl-C ends the demo at once;
  # the EXIT trap then waits for the server to finish.
  ((in_final_wait)) || exit 130
}
on_exit() {
  stop_server
  if [[ -n $server_pid ]]; then
    wait "$server_pid" 2>/dev/null || true
  fi
}
trap on_signal INT TERM
# Also when this script fails after the start (e.g. the import): no server
# is left running behind the user's back.
trap on_exit EXIT

# A model trained on 120 short texts puts the pieces of one story closer
# together than copies are on a real corpus, so near-duplicate suppression
# (on by default) would empty the boxes of their own story: off here.
say "starting $SERVER on $GRPC_ADDRESS (metrics on $HOST:$METRICS_PORT)"
"$SERVER" \
  --grpc_address="$GRPC_ADDRESS" \
  --metrics_address="${HOST}:${METRICS_PORT}" \
  --embedder_model="$MODEL" \
  --ranking_duplicate_threshold=1 \
  --index=hnsw &
server_pid=$!

# --- 5. wait until it is healthy -----------------------------------------------
healthy=0
for ((try = 1; try <= HEALTH_TRIES; try++)); do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    status=0
    wait "$server_pid" || status=$?
    server_pid=""
    die "related-server exited during start-up with status $status (its messages are above)"
  fi
  if timeout 5 "$CLI" --address="$GRPC_ADDRESS" health >/dev/null 2>&1; then
    healthy=1
    break
  fi
  sleep "$HEALTH_INTERVAL"
done
((healthy)) || die "related-server did not become healthy on $GRPC_ADDRESS within 30 s"
say "related-server is healthy"

# --- 6. import the demo corpus -------------------------------------------------
say "importing $CORPUS"
"$CLI" --address="$GRPC_ADDRESS" import "$CORPUS"

cat <<EOF

The demo server is running with $(wc -l <"$CORPUS") articles.

  try:      $CLI --address=$GRPC_ADDRESS related $EXAMPLE_ID
  load:     $CLI --address=$GRPC_ADDRESS bench --ids_file=$CORPUS --duration=3s
  metrics:  http://$HOST:$METRICS_PORT/metrics
  more IDs: grep -o '"id":"[^"]*"' $CORPUS | head

Press Ctrl-C to stop the server.
EOF

# --- 7. stay in the foreground until the server exits -------------------------
# `wait` returns early (status > 128) when a trapped signal arrives; keep
# waiting until the server has really gone.
in_final_wait=1
status=0
while kill -0 "$server_pid" 2>/dev/null; do
  status=0
  wait "$server_pid" || status=$?
done
# If bash reaped the server while we were in the signal handler, one more
# wait returns its saved status (127 if it was already collected above).
last=0
wait "$server_pid" 2>/dev/null || last=$?
((last == 127)) || status=$last
server_pid=""
say "related-server exited with status $status"
exit "$status"
