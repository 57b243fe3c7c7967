#!/usr/bin/env bash
# Configures and builds one build tree: scripts/build.sh DIR [cmake options...]
# e.g. scripts/build.sh build-asan -DCMAKE_BUILD_TYPE=Debug -DQSR_SANITIZE=ON
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:?usage: scripts/build.sh DIR [cmake options...]}
shift
# ccache: paths relative to the tree and no working directory in the hash, so that another clone
# of the tree (CI's) reuses the cache.
export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1
cmake -S "$root" -B "$root/$dir" -DQSR_WERROR=ON "$@" > "$root/$dir.configure.log" 2>&1 || {
  cat "$root/$dir.configure.log" >&2
  exit 1
}
cmake --build "$root/$dir" -j "$(nproc)"
