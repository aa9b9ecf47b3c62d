#!/usr/bin/env bash
# Prints the Debian packages that own the shared libraries the given binaries
# load, one per line. The image's build stage runs it so that the runtime
# stage installs exactly those packages and no list has to be kept by hand.
#
#   deploy/runtime-packages.sh build/related-server build/related-cli
set -euo pipefail

(($# > 0)) || {
  echo "usage: $0 BINARY..." >&2
  exit 2
}

ldd_output=$(ldd "$@")
if grep -q 'not found' <<<"$ldd_output"; then
  echo "runtime-packages.sh: unresolved libraries:" >&2
  grep 'not found' <<<"$ldd_output" >&2
  exit 1
fi
libraries=$(awk '$2 == "=>" && $3 ~ /^\// { print $3 }' <<<"$ldd_output" | sort -u)

for lib in $libraries; do
  # Follow symlinks first: libblas.so.3 is an update-alternatives link that
  # no package owns. Debian 12 lists a library under /lib or /usr/lib
  # depending on the package, so try both spellings.
  real=$(readlink -f "$lib")
  owner=""
  for path in "$real" "${real#/usr}" "/usr$real" "$lib" "${lib#/usr}" "/usr$lib"; do
    if owner=$(dpkg-query -S "$path" 2>/dev/null); then
      break
    fi
    owner=""
  done
  if [[ -z $owner ]]; then
    echo "runtime-packages.sh: no Debian package owns $lib" >&2
    exit 1
  fi
  # "libc6:amd64: /lib/x86_64-linux-gnu/libc.so.6" -> "libc6"
  echo "${owner%%:*}"
done | sort -u
