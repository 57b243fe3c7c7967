#!/usr/bin/env bash
# Size of the inference-only library (-DQSR_INFER_ONLY=ON), stripped, built with the scalar
# kernels only (-DQSR_SIMD=OFF), with AVX2 (-DQSR_INFER_AVX512=OFF) and with AVX2 and AVX-512 VNNI:
# the static library (strip --strip-unneeded) and the example program linked with it
# (strip; libc dynamic), with `size`'s text + data + bss of each (docs/EMBEDDED.md).
#   bench/infer_size.sh [BUILD_ROOT]     (default: a temporary folder)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$(mktemp -d)}
mkdir -p "$out"
printf '%-11s | %-22s | %-26s | %-22s | %-26s\n' build "libqsr_infer.a stripped" "lib text+data+bss" "example stripped" "example text+data+bss"
for name in scalar avx2 avx2+avx512; do
  simd=$([ $name = scalar ] && echo OFF || echo ON)
  avx512=$([ $name = avx2+avx512 ] && echo ON || echo OFF)
  dir="$out/infer-$name"
  cmake -S "$root" -B "$dir" -DQSR_INFER_ONLY=ON -DQSR_SIMD=$simd -DQSR_INFER_AVX512=$avx512 -DQSR_WERROR=ON \
    -DCMAKE_BUILD_TYPE=Release >"$dir.log" 2>&1 ||
    { cat "$dir.log" >&2; exit 1; }
  cmake --build "$dir" -j "$(nproc)" >>"$dir.log" 2>&1 || { cat "$dir.log" >&2; exit 1; }
  cp "$dir/quant/infer/libqsr_infer.a" "$dir/lib.stripped.a"
  strip --strip-unneeded "$dir/lib.stripped.a"
  cp "$dir/quant/infer/qsr_infer_example" "$dir/example.stripped"
  strip "$dir/example.stripped"
  lib_tdb=$(size -t "$dir/lib.stripped.a" | awk 'END { print $1 " + " $2 " + " $3 " = " $4 }')
  ex_tdb=$(size "$dir/example.stripped" | awk 'NR == 2 { print $1 " + " $2 " + " $3 " = " $4 }')
  printf '%-11s | %-22s | %-26s | %-22s | %-26s\n' $name "$(stat -c %s "$dir/lib.stripped.a") B" "$lib_tdb" \
    "$(stat -c %s "$dir/example.stripped") B" "$ex_tdb"
done
