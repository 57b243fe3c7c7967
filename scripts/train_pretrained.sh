#!/usr/bin/env bash
# Reproduces the shipped model models/pretrained/espcn_x3.safetensors:
#   scripts/train_pretrained.sh BSDS500_ROOT [OUT_DIR] [extra qsr train options...]
# BSDS500_ROOT holds images/{train,val,test} (e.g. ../shared/data/BSDS500 or
# BSR/BSDS500/data from the official archive). The same seed and thread count
# give the same weights; the shipped file was trained with 2 threads and direct
# convolution, so this script sets QSR_CONV=direct (about 45 minutes on 2 idle
# cores) to reproduce it bit for bit. QSR_CONV=auto trains with Winograd
# F(4x4,3x3) in about half the time, to the same quality within noise.
# Ctrl-C saves a resumable checkpoint: rerun with --resume.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
data=${1:?usage: scripts/train_pretrained.sh BSDS500_ROOT [OUT_DIR] [qsr train options...]}
out=${2:-runs/espcn_x3_bsds}
shift $(( $# >= 2 ? 2 : 1 ))
export QSR_CONV=${QSR_CONV:-direct}
exec "$root/build/tools/qsr" --threads 2 train --data "$data" --protocol bsds --scale 3 \
  --crop 144 --batch 32 --flips --steps-per-epoch 100 --epochs 120 \
  --lr 1e-3 --lr-schedule cosine --lr-min 1e-5 --patience 0 --seed 1337 \
  --out "$out" "$@"
