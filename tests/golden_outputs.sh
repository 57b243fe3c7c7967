#!/usr/bin/env bash
# Byte-for-byte outputs of the qsr program that a restructuring must not change.
#   tests/golden_outputs.sh QSR DATA OUT            writes OUT/*, then OUT/SHA256SUMS
#   tests/golden_outputs.sh QSR DATA OUT --check    also compares with tests/golden/ISA.sha256
# QSR: the qsr binary; DATA: a folder with Set5/ and Set14/ (e.g. ../shared/data).
# What it records, for the shipped x3 model and its int8, w4a4, int16x8, dynamic-range and w3a12
# quantisations (GPTQ weights, calibrated on two in-tree fixtures, one thread):
#   - the quantised checkpoints themselves;
#   - qsr eval --json on Set5 and Set14 (y protocol), on the integer engine and the reference path;
#   - qsr verify --json (random inputs) for every quantised model;
#   - qsr upscale of a fixture;
#   - qsr export --format c (every file: golden vectors, code, sidecar) and --format engine with
#     --golden, for the models that export (int8, w4a4, int16x8, w3a12);
#   - a short float training and a short QAT fine-tuning of a tiny model on Set5 (the weights,
#     Adam's state and the log, without times).
# The ISA is QSR_ISA's when set, else the best one; the reference hashes are per ISA
# (tests/golden/{scalar,avx2,avx512}.sha256) because the f32 tables round differently (their
# sums run in different orders), and so do the float model, calibration and the float layers.
# Integer results do not depend on it. The references were written by the tree before the
# restructuring of the source folders (commit 069b35e) on an AMD EPYC (Zen 4).
set -euo pipefail
QSR=$(realpath "${1:?usage: golden_outputs.sh QSR DATA OUT [--check]}")
DATA=$(realpath "${2:?usage: golden_outputs.sh QSR DATA OUT [--check]}")
OUT=${3:?usage: golden_outputs.sh QSR DATA OUT [--check]}
CHECK=${4:-}
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
for d in Set5 Set14; do [ -d "$DATA/$d" ] || { echo "golden_outputs: $DATA/$d: no such folder" >&2; exit 2; }; done
rm -rf "$OUT"
mkdir -p "$OUT"
OUT=$(realpath "$OUT")
export QSR_THREADS=1 OMP_NUM_THREADS=1
unset QSR_MODEL
q() { "$QSR" --threads 1 "$@"; }
# JSON without the fields that are times (they differ between any two runs).
# Also without the kernel table's name and the model's path (verify), which depend on the machine
# and the folder, not on the numbers.
untimed() {
  sed -E -e 's/"(seconds|ms|median_ms|min_ms|time_s|elapsed_s|[a-z_]*_ms|[a-z_]*_seconds)": *[-0-9.e+]+,?//g' \
    -e 's/"(kernels|model)": *"[^"]*",?//g'
}

# Relative paths from the source root: quantised checkpoints record their origin and calibration
# folder, which must not depend on where the tree lies.
cd "$root"
float_model=models/pretrained/espcn_x3.safetensors
cp "$float_model" "$OUT/float.safetensors"
for set in Set5 Set14; do
  q eval --model "$OUT/float.safetensors" --data "$DATA/$set" --protocol y --json | untimed > "$OUT/float.eval.$set.json"
done
q upscale --model "$OUT/float.safetensors" tests/fixtures/grey_31x20.png "$OUT/float.upscale.png" > /dev/null

for mode in int8 w4a4 int16x8 dynamic-range w3a12; do
  m="$OUT/$mode.safetensors"
  q quantize --model "$float_model" --mode "$mode" --calib tests/fixtures --calib-images 2 --out "$m" > /dev/null
  for set in Set5 Set14; do
    q eval --model "$m" --data "$DATA/$set" --protocol y --json | untimed > "$OUT/$mode.eval.$set.json"
    q eval --model "$m" --data "$DATA/$set" --protocol y --json --simulate | untimed > "$OUT/$mode.eval_simulate.$set.json"
  done
  q verify "$m" --random 4 --seed 7 --json | untimed > "$OUT/$mode.verify.json"
  q upscale --model "$m" tests/fixtures/grey_31x20.png "$OUT/$mode.upscale.png" > /dev/null
  if [ "$mode" != dynamic-range ]; then
    q export --format c --model "$m" --out "$OUT/$mode.c" > /dev/null
    for isa in avx2 scalar avx512; do
      q export --format engine --model "$m" --isa "$isa" --out "$OUT/$mode.$isa.qsri" --golden 37x23 > /dev/null
    done
  fi
done

# Training: the tensors of a checkpoint (not its metadata, which holds times) and the log.
tensors() {
  python3 - "$1" <<'PY'
import hashlib, json, struct, sys
b = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', b[:8])[0]
head, data = json.loads(b[8:8 + n]), b[8 + n:]
for k in sorted(k for k in head if k != '__metadata__'):
    s, e = head[k]['data_offsets']
    print(k, head[k]['dtype'], head[k]['shape'], hashlib.sha256(data[s:e]).hexdigest())
PY
}
tiny=(--data "$DATA/Set5" --scale 2 --crop 12 --features 4,4 --kernels 3,3,3 --batch 2 --steps-per-epoch 3 --seed 5 -q)
q train "${tiny[@]}" --epochs 2 --out "$OUT/train" > /dev/null 2>&1
q train "${tiny[@]}" --epochs 1 --qat int8 --from "$OUT/train/best.safetensors" --out "$OUT/train_qat" > /dev/null 2>&1
for run in train train_qat; do
  for f in best last; do tensors "$OUT/$run/$f.safetensors" > "$OUT/$run.$f.tensors"; done
  cut -d, -f1-4 "$OUT/$run/log.csv" > "$OUT/$run.log"
  rm -rf "${OUT:?}/$run"
done

(cd "$OUT" && find . -type f ! -name SHA256SUMS | LC_ALL=C sort | xargs sha256sum > SHA256SUMS)
echo "golden_outputs: $(wc -l < "$OUT/SHA256SUMS") files hashed in $OUT/SHA256SUMS"
if [ "$CHECK" = --check ]; then
  isa=$("$QSR" info | sed -n 's/^isa in use: \([a-z0-9]*\).*/\1/p')
  ref="$here/golden/$isa.sha256"
  [ -f "$ref" ] || { echo "golden_outputs: no reference hashes for isa '$isa' ($ref)" >&2; exit 2; }
  if diff -u "$ref" "$OUT/SHA256SUMS"; then
    echo "golden_outputs: identical to tests/golden/$isa.sha256"
  else
    echo "golden_outputs: differs from tests/golden/$isa.sha256 (above)" >&2
    exit 1
  fi
fi
