#!/usr/bin/env bash
# PSNR against word length for post-training quantisation: weights only (wN),
# activations only (aN) and both (wNaN), N = 2..16, on one evaluation folder.
#   bench/ptq_sweep.sh [MODEL] [EVAL_DIR] [CALIB_DIR] [BITS...]
# defaults: the shipped x3 model, ../shared/data/Set5, ../shared/data/BSDS500, 2..16.
# Prints a Markdown table (mean PSNR, `y` protocol) and the float model's score.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
qsr="$root/build/tools/qsr"
model=${1:-$root/models/pretrained/espcn_x3.safetensors}
data=${2:-$root/../shared/data/Set5}
calib=${3:-$root/../shared/data/BSDS500}
shift $(( $# < 3 ? $# : 3 ))
bits=("$@")
[ ${#bits[@]} -gt 0 ] || bits=(2 3 4 5 6 7 8 9 10 11 12 13 14 15 16)
[ -x "$qsr" ] || { echo "ptq_sweep.sh: build first (bash scripts/build.sh build)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
score() {  # score MODEL -> mean model PSNR
  local v
  v=$("$qsr" eval --model "$1" --data "$data" --json 2>/dev/null | sed -n 's/.*"mean_psnr_model": *\([-0-9.e]*\).*/\1/p')
  [ -n "$v" ] || { echo "ptq_sweep.sh: evaluating $1 failed" >&2; exit 1; }
  printf '%.4f' "$v"
}
float=$(score "$model")
echo "float model: $float dB ($data, y protocol)"
echo
echo "| bits | weights only (wN) | activations only (aN) | both (wNaN) |"
echo "|---|---|---|---|"
for b in "${bits[@]}"; do
  row="| $b |"
  for mode in "w$b" "a$b" "w${b}a${b}"; do
    "$qsr" quantize --model "$model" --mode "$mode" --calib "$calib" --out "$tmp/q.safetensors" > /dev/null 2> "$tmp/err" ||
      { cat "$tmp/err" >&2; exit 1; }
    row="$row $(score "$tmp/q.safetensors") |"
  done
  echo "$row"
done
