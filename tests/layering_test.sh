#!/usr/bin/env bash
# The layering of ../shared/STYLE.md, checked on #include lines:
#   server/core  no transport, metrics or generated code: it is what we keep
#                if the transport changes; nor the replicated log (NATS);
#   server/replication  the replicated log (NATS) over the core: no
#                transport, metrics or generated code either;
#   client/      nothing of the server (it talks to it only over the API);
#   common/      shared by server and client, so neither of them, and no
#                transport, metrics or generated code either;
#   bench/       nothing of tests/ (shared helpers live in support/): no
#                #include of tests/, and no Python script that puts a tests
#                directory on its import path.
# Lists every offending line and exits 1 if there is one.
set -euo pipefail
root=${1:?usage: layering_test.sh SOURCE_ROOT}

transport='grpcpp/|grpc/|prometheus/|[^">]*\.pb\.h'
failed=0

# forbid DIR WHAT PATTERN: no file under ROOT/DIR may include a header whose
# path matches the extended regex PATTERN (anchored at the path's start).
forbid() {
  local dir=$1 what=$2 pattern=$3
  if [ ! -d "$root/$dir" ]; then
    echo "$dir: not found under $root"
    failed=1
    return
  fi
  local leaks
  leaks=$(grep -rnE "#include[[:space:]]*[<\"]($pattern)" "$root/$dir" || true)
  if [ -n "$leaks" ]; then
    echo "$dir includes $what:"
    echo "$leaks"
    failed=1
  else
    echo "$dir: $(find "$root/$dir" -type f -name '*.[ch]*' | wc -l) source files, no $what"
  fi
}

forbid server/core "transport, metrics or generated headers" "$transport"
forbid server/core "replication or NATS headers" "server/replication/|nats"
forbid server/replication "transport, metrics or generated headers" "$transport"
forbid client "server headers" "server/"
forbid common "server or client headers" "server/|client/"
forbid common "transport, metrics or generated headers" "$transport"
forbid bench "test headers" "tests/"

# The Python side of bench/: a "tests" path component in a script's code
# (sys.path.insert(0, os.path.join(..., "tests", "python"))) means it
# imports test modules; its shared helpers come from support/python.
python_leaks=$(grep -rnE "[\"']tests[\"'/]" "$root/bench" --include='*.py' |
  grep -vE '^[^:]+:[0-9]+:[[:space:]]*#' || true)
if [ -n "$python_leaks" ]; then
  echo "bench Python scripts import from tests/:"
  echo "$python_leaks"
  failed=1
else
  echo "bench: $(find "$root/bench" -type f -name '*.py' | wc -l) Python scripts, none importing from tests/"
fi
exit "$failed"
