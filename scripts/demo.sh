#!/usr/bin/env bash
# The main job: install dependencies, build the release binary, show what the
# engine detected and run the short demo (train a few steps, time inference).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/deps.sh
bash scripts/build.sh build -DCMAKE_BUILD_TYPE=Release
./build/tools/qsr info
./build/tools/qsr demo "$@"
