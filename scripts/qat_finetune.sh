#!/usr/bin/env bash
# Quantisation-aware fine-tuning of the shipped x3 model (docs/QUANT.md, "Quantisation-aware
# training"), then evaluation of the exported quantised model:
#   scripts/qat_finetune.sh MODE [OUT_DIR] [extra qsr train options...]
# MODE as qsr quantize --mode (int8, w4a8, int16x8, wNaM, wN, aM, qM.N). OUT_DIR defaults to
# runs/qat_x3_MODE; it receives init.safetensors, best/last.safetensors, the logs and
# quant.safetensors.
# The recipe:
#   1. post-training quantisation of the shipped model in MODE (GPTQ weight rounding, mse
#      activation observer, the first 8 BSDS500 training images): init.safetensors;
#   2. QAT from it (--from: its rounded weights, its activation grids kept frozen): the shipped
#      model's data protocol (BSDS500 train, random 144x144 crops with flips, MATLAB-bicubic
#      low-res input, batch 32), EPOCHS (default 16) epochs of 100 steps, Adam with a cosine
#      learning-rate decay LR (default 3e-5) -> LR/100, the whole model quantised (every conv's
#      weights, the input, every conv's output and so the output after depth-to-space), seed
#      1337, 2 threads; the best epoch (training loss) is exported as quant.safetensors.
# Environment: QSR (the qsr binary, default build/tools/qsr), DATA (the folder holding
# BSDS500/, Set5/, Set14/; default ../shared/data), QSR_EVAL=0 skips the evaluation, FROM a
# checkpoint to start from instead of step 1 (float or quantised), OBSERVER (step 1's
# activation observer, default mse), EPOCHS, LR.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mode=${1:?usage: scripts/qat_finetune.sh MODE [OUT_DIR] [qsr train options...]}
out=${2:-runs/qat_x3_$mode}
shift $(( $# >= 2 ? 2 : 1 ))
qsr=${QSR:-$root/build/tools/qsr}
data=${DATA:-$root/../shared/data}
epochs=${EPOCHS:-16}
lr=${LR:-3e-5}
lr_min=$(awk -v l="$lr" 'BEGIN { printf "%g", l / 100 }')
[ -d "$data/BSDS500" ] || { echo "qat_finetune.sh: no $data/BSDS500 (set DATA to the folder holding BSDS500/)" >&2; exit 1; }
from=${FROM:-}
if [ -z "$from" ]; then
  mkdir -p "$out"
  from=$out/init.safetensors
  "$qsr" --threads 2 quantize --model "$root/models/pretrained/espcn_x3.safetensors" --mode "$mode" \
    --observer "${OBSERVER:-mse}" --calib "$data/BSDS500" --out "$from" > /dev/null
fi
"$qsr" --threads 2 train --data "$data/BSDS500" --protocol bsds --scale 3 \
  --crop 144 --batch 32 --flips --steps-per-epoch 100 --epochs "$epochs" \
  --lr "$lr" --lr-schedule cosine --lr-min "$lr_min" --patience 0 --seed 1337 \
  --from "$from" --qat "$mode" --out "$out" "$@"
[ "${QSR_EVAL:-1}" = 0 ] && exit 0
for set in Set5 Set14; do
  if [ -d "$data/$set" ]; then
    echo "$set (y protocol):"
    "$qsr" --threads 2 eval --model "$out/quant.safetensors" --data "$data/$set" | tail -2
  fi
done
echo "BSDS500 test[50:60] (keras protocol):"
"$qsr" --threads 2 eval --model "$out/quant.safetensors" --data "$data/BSDS500" --protocol keras | tail -2
