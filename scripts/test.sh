#!/usr/bin/env bash
# The whole test suite: install dependencies, then
#   0. the tree's size limits (scripts/code_limits.py);
#   1. release build (the shipped configuration), every test; the golden outputs (byte for byte
#      the numbers of tests/golden/, when ../shared/data holds Set5 and Set14);
#   2. the release build with clang, every test;
#   3. the inference-only library built alone (-DQSR_INFER_ONLY=ON), scalar and SIMD, its
#      tests on a model the release build exports;
#   4. scalar-only build without OpenMP (-DQSR_SIMD=OFF -DQSR_OPENMP=OFF), every test;
#   5. ASan + UBSan debug build, every unit test.
# Warnings are errors in all of them. Prints ctest's summary for each.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
jobs=$(nproc)
bash scripts/deps.sh

start=$SECONDS
step() { echo; echo "=== $* ($((SECONDS - start))s elapsed)"; }

step "size limits (scripts/code_limits.py: files up to 800 lines, functions up to 120)"
python3 scripts/code_limits.py --top 3

step "release build"
bash scripts/build.sh build -DCMAKE_BUILD_TYPE=Release
step "release tests"
ctest --test-dir build --output-on-failure -j "$jobs"
if [ -d ../shared/data/Set5 ] && [ -d ../shared/data/Set14 ]; then
  step "golden outputs (tests/golden_outputs.sh)"
  golden_tmp=$(mktemp -d)
  if ! bash tests/golden_outputs.sh build/tools/qsr ../shared/data "$golden_tmp/out" --check > "$golden_tmp/log" 2>&1; then
    cat "$golden_tmp/log"
    exit 1
  fi
  grep "^golden_outputs" "$golden_tmp/log"
  rm -rf "$golden_tmp"
else
  step "golden outputs: skipped (no ../shared/data/Set5 and Set14)"
fi

step "release build with clang"
CC=clang CXX=clang++ bash scripts/build.sh build-clang -DCMAKE_BUILD_TYPE=Release -DQSR_BUILD_BENCH=OFF
step "clang release tests"
ctest --test-dir build-clang --output-on-failure -j "$jobs"

step "inference-only builds (quant/infer alone: scalar; AVX2 and AVX-512), on a model exported by the release build"
infer_tmp=$(mktemp -d)
build/tools/qsr quantize --model models/pretrained/espcn_x3.safetensors --mode int8 --weight-rounding nearest \
  --calib tests/fixtures --calib-images 2 --out "$infer_tmp/x3_int8.safetensors" > /dev/null
build/tools/qsr export --format engine --model "$infer_tmp/x3_int8.safetensors" --out "$infer_tmp/espcn.qsri" --golden 37x23 > /dev/null
for simd in OFF ON; do
  bash scripts/build.sh build-infer-simd-$simd -DCMAKE_BUILD_TYPE=Release -DQSR_INFER_ONLY=ON -DQSR_SIMD=$simd \
    -DQSR_INFER_TEST_MODEL="$infer_tmp/espcn.qsri" -DQSR_INFER_TEST_SIZE="37 23"
  ctest --test-dir build-infer-simd-$simd --output-on-failure
done
rm -rf "$infer_tmp"

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
