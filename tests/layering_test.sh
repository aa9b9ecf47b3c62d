#!/usr/bin/env bash
# The core must stay free of transport, metrics and generated code
# (../shared/STYLE.md): it is what we keep if the transport changes.
set -euo pipefail
core_dir=${1:?usage: layering_test.sh SERVER_CORE_DIR}
leaks=$(grep -rnE '#include[[:space:]]*[<"](grpcpp/|grpc/|prometheus/|[^">]*\.pb\.h)' "$core_dir" || true)
if [ -n "$leaks" ]; then
  echo "server/core includes transport, metrics or generated headers:"
  echo "$leaks"
  exit 1
fi
echo "server/core: $(ls "$core_dir" | wc -l) files, no grpc/prometheus/protobuf includes"
