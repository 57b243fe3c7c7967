#!/usr/bin/env bash
# The post-training modes TFLite names, against the float model, on Set5 and Set14 (`y`
# protocol) and BSDS500 test[50:60] (`keras` protocol):
#   bench/ptq_modes.sh [MODEL] [DATA_ROOT] [WEIGHT_ROUNDING...]
# defaults: the shipped x3 model, ../shared/data (holding Set5/, Set14/, BSDS500/), gptq and nearest.
# Calibration: the first 8 BSDS500 training images. Prints a Markdown table (mean PSNR and the
# drop against the float model).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
qsr="$root/build/tools/qsr"
model=${1:-$root/models/pretrained/espcn_x3.safetensors}
data=${2:-$root/../shared/data}
shift $(( $# < 2 ? $# : 2 ))
roundings=("$@")
[ ${#roundings[@]} -gt 0 ] || roundings=(gptq nearest)
[ -x "$qsr" ] || { echo "ptq_modes.sh: build first (bash scripts/build.sh build)" >&2; exit 1; }
for d in Set5 Set14 BSDS500; do [ -d "$data/$d" ] || { echo "ptq_modes.sh: no $data/$d" >&2; exit 1; }; done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
score() {  # score MODEL DIR PROTOCOL -> mean model PSNR
  local v
  v=$("$qsr" eval --model "$1" --data "$2" --protocol "$3" --json 2>/dev/null |
      sed -n 's/.*"mean_psnr_model": *\([-0-9.e]*\).*/\1/p')
  [ -n "$v" ] || { echo "ptq_modes.sh: evaluating $1 on $2 failed" >&2; exit 1; }
  echo "$v"
}
scores() { echo "$(score "$1" "$data/Set5" y) $(score "$1" "$data/Set14" y) $(score "$1" "$data/BSDS500" keras)"; }
read -r f5 f14 fk <<< "$(scores "$model")"
echo "| mode | weight rounding | Set5 | Set14 | BSDS500 test[50:60] (keras) |"
echo "|---|---|---|---|---|"
printf '| float | - | %.4f | %.4f | %.4f |\n' "$f5" "$f14" "$fk"
for mode in float16 bfloat16 dynamic-range int16x8 int8; do
  for wr in "${roundings[@]}"; do
    case $mode in float16|bfloat16) [ "$wr" = "${roundings[0]}" ] || continue; shown=- ;; *) shown=$wr ;; esac
    "$qsr" quantize --model "$model" --mode "$mode" --weight-rounding "$wr" --calib "$data/BSDS500" \
      --out "$tmp/q.safetensors" > /dev/null 2> "$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
    read -r s5 s14 sk <<< "$(scores "$tmp/q.safetensors")"
    awk -v m="$mode" -v w="$shown" -v a="$s5" -v b="$s14" -v c="$sk" -v fa="$f5" -v fb="$f14" -v fc="$fk" \
      'BEGIN { printf "| %s | %s | %.4f (%+.4f) | %.4f (%+.4f) | %.4f (%+.4f) |\n", m, w, a, a - fa, b, b - fb, c, c - fc }'
  done
done
