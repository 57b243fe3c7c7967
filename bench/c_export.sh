#!/usr/bin/env bash
# The exported C forward (qsr export --format c) against the integer engine's scalar path, one
# thread each, on a 640x360 low-res frame: rounds alternate the two, each a median of 5 runs;
# the ratio is C time / engine time per round (docs/EMBEDDED.md).
#   bench/c_export.sh MODEL [ROUNDS] [CFLAGS...]      (default 5 rounds, -O2)
# Environment: QSR (the qsr binary, default build/tools/qsr), CC (default cc), EXPORT_ARGS (more
# qsr export options, e.g. --weight-storage bytes).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
qsr=${QSR:-$root/build/tools/qsr}
model=${1:?usage: bench/c_export.sh MODEL [ROUNDS] [CFLAGS...]}
rounds=${2:-5}
shift $(( $# >= 2 ? 2 : 1 ))
cflags=("$@")
[ ${#cflags[@]} -gt 0 ] || cflags=(-O2)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$qsr" export --format c --model "$model" --out "$dir" ${EXPORT_ARGS:-}
"${CC:-cc}" -std=c99 "${cflags[@]}" -I "$dir" "$dir/espcn.c" "$root/bench/c_export_bench.c" -o "$dir/bench_c"
echo "C: ${CC:-cc} -std=c99 ${cflags[*]}; engine: QSR_ISA=scalar, 1 thread"
ratios=()
for r in $(seq "$rounds"); do
  c=$("$dir/bench_c" 640 360 5 | sed -E 's/.*median ([0-9.]+) ms.*/\1/')
  e=$(QSR_ISA=scalar "$qsr" --threads 1 bench --model "$model" --size 640x360 --runs 5 --warmup 1 --json |
      python3 -c 'import json, sys; print(round(json.load(sys.stdin)["median_ms"], 2))')
  ratio=$(awk -v a="$c" -v b="$e" 'BEGIN { printf "%.2f", a / b }')
  ratios+=("$ratio")
  echo "round $r: C $c ms, engine scalar $e ms, C / engine $ratio"
done
printf '%s\n' "${ratios[@]}" | sort -n | awk '{ v[NR] = $1 } END { printf "median C / engine-scalar ratio over %d rounds: %s\n", NR, v[int((NR + 1) / 2)] }'
