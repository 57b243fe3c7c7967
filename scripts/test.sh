#!/usr/bin/env bash
# The whole test suite: install dependencies, then
#   1. release build (the shipped configuration), every test;
#   2. scalar-only build without OpenMP (-DQSR_SIMD=OFF -DQSR_OPENMP=OFF), every test;
#   3. ASan + UBSan debug build, every unit test.
# Warnings are errors in all three. Prints ctest's summary for each.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
jobs=$(nproc)
bash scripts/deps.sh

start=$SECONDS
step() { echo; echo "=== $* ($((SECONDS - start))s elapsed)"; }

step "release build"
bash scripts/build.sh build -DCMAKE_BUILD_TYPE=Release
step "release tests"
ctest --test-dir build --output-on-failure -j "$jobs"

step "scalar-only, no-OpenMP build"
bash scripts/build.sh build-scalar -DCMAKE_BUILD_TYPE=Release -DQSR_SIMD=OFF -DQSR_OPENMP=OFF -DQSR_BUILD_BENCH=OFF
step "scalar-only, no-OpenMP tests"
ctest --test-dir build-scalar --output-on-failure -j "$jobs"

step "ASan+UBSan build"
bash scripts/build.sh build-asan -DCMAKE_BUILD_TYPE=Debug -DQSR_SANITIZE=ON -DQSR_BUILD_BENCH=OFF
step "ASan+UBSan unit tests"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j "$jobs" -L unit

step "all test runs passed"
