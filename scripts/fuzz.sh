#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/ (clang-14, RELATED_FUZZ=ON, in
# build-fuzz/) and runs each for a bounded time on a copy of its seed corpus.
# Before that, every saved input in fuzz/regressions/<target>/ is replayed.
# A crash, leak, timeout or out-of-memory input is saved under
# fuzz/regressions/<target>/ and makes the script exit non-zero.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]   (default 30)
#
# FUZZ_TARGETS="wal_fuzzer record_fuzzer" picks targets; FUZZ_BUILD_JOBS sets
# ninja's parallelism (default 1).
set -euo pipefail

seconds="${1:-30}"
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$root/build-fuzz"
read -r -a targets <<<"${FUZZ_TARGETS:-wal_fuzzer snapshot_fuzzer section_fuzzer record_fuzzer jsonl_fuzzer validation_fuzzer tokenizer_fuzzer}"

for tool in clang++-14 cmake ninja; do
  command -v "$tool" >/dev/null || {
    echo "fuzz: $tool not found (scripts/install-deps.sh installs it)" >&2
    exit 1
  }
done

cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER=clang++-14 -DRELATED_FUZZ=ON -DBUILD_TESTING=OFF >/dev/null
nice ninja -C "$build" -j"${FUZZ_BUILD_JOBS:-1}" "${targets[@]}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export TMPDIR="$work"  # the storage fuzzers' scratch files
logs="$build/fuzz-logs"  # kept: the full output of the last run
mkdir -p "$logs"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

failed=()
summary=()
for target in "${targets[@]}"; do
  binary="$build/fuzz/$target"
  regressions="$root/fuzz/regressions/$target"
  log="$logs/$target.log"

  # Replay: each saved input runs once and must pass.
  shopt -s nullglob
  saved=("$regressions"/*)
  shopt -u nullglob
  if [ ${#saved[@]} -gt 0 ]; then
    if "$binary" -timeout=10 -rss_limit_mb=2048 "${saved[@]}" >"$work/$target.replay.log" 2>&1; then
      summary+=("$target: ${#saved[@]} regression input(s) pass")
    else
      cp "$work/$target.replay.log" "$logs/"
      summary+=("$target: REGRESSION FAILS (log: build-fuzz/fuzz-logs/$target.replay.log)")
      failed+=("$target")
    fi
  fi

  # Fuzz: on a copy, so the committed seeds stay small and reviewed.
  mkdir -p "$work/$target/corpus" "$regressions"
  cp "$root/fuzz/corpus/$target"/* "$work/$target/corpus/"
  echo "fuzz: $target for ${seconds}s"
  status=0
  "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$regressions/" \
    "$work/$target/corpus" >"$log" 2>&1 || status=$?
  rmdir "$regressions" 2>/dev/null || true  # nothing found, nothing to keep
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
  coverage="$(grep -E '^#[0-9]+' "$log" | tail -1 | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [^ ]+' || true)"
  if [ "$status" -eq 0 ]; then
    summary+=("$target: ${execs:-?} execs, $coverage, no findings")
  else
    finding="$(grep -m1 -E '^==[0-9]+==ERROR|SUMMARY:|runtime error|timeout|out-of-memory|deadly signal' "$log" || echo "exit status $status")"
    summary+=("$target: FINDING after ${execs:-?} execs: $finding (input: fuzz/regressions/$target/, log: build-fuzz/fuzz-logs/$target.log)")
    failed+=("$target")
  fi
done

echo
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: all ${#targets[@]} targets clean"
