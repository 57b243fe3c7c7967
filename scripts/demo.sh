#!/usr/bin/env bash
# The main job: install dependencies, build the release binary, then evaluate
# the shipped x3 model (models/pretrained/espcn_x3.safetensors) on the data it
# finds, upscale an example image and time the engine.
#
#   bash scripts/demo.sh [--data DIR] [--train]
#
#   --data DIR  where the images are (default: ../shared/data when it exists).
#               DIR may hold BSDS500/, Set5/ and Set14/ (each is used when present),
#               be a BSDS500 root itself (images/{train,val,test}), or be any
#               folder of images (evaluated with the standard `y` protocol).
#   --train     first train a model with the recipe that produced the shipped one
#               (scripts/train_pretrained.sh, about 45 minutes on 2 cores) and
#               evaluate it next to the shipped model.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
data="" train=0
while [ $# -gt 0 ]; do
  case "$1" in
    --data) data=${2:?--data needs a folder}; shift 2 ;;
    --train) train=1; shift ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
if [ -z "$data" ] && [ -d ../shared/data ]; then data=../shared/data; fi
if [ -n "$data" ] && [ ! -d "$data" ]; then echo "demo.sh: --data $data: no such folder" >&2; exit 2; fi

bash scripts/deps.sh
bash scripts/build.sh build -DCMAKE_BUILD_TYPE=Release
qsr=./build/tools/qsr
$qsr info

how_to_get_data() {
  cat <<'TXT'
No image data found. To evaluate and train on real images:
  BSDS500: download BSR_bsds500.tgz from the Berkeley Segmentation page
    (https://www2.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/resources.html),
    `tar xzf BSR_bsds500.tgz`, and use BSR/BSDS500/data (it holds images/{train,val,test}).
  Set5 / Set14: the classic SR test sets, folders of PNGs (widely mirrored with SR code).
  Put them side by side (DIR/BSDS500, DIR/Set5, DIR/Set14) and run
    bash scripts/demo.sh --data DIR
TXT
}

bsds="" sets=()
if [ -n "$data" ]; then
  if [ -d "$data/BSDS500" ]; then bsds="$data/BSDS500"; fi
  if [ -d "$data/images/test" ] || [ -d "$data/test" ]; then bsds="$data"; fi
  for s in Set5 Set14; do [ -d "$data/$s" ] && sets+=("$data/$s"); done
  if [ -z "$bsds" ] && [ ${#sets[@]} -eq 0 ]; then sets+=("$data"); fi
fi

if [ -n "$data" ] && [ -z "$(find "$data" -type f \( -iname '*.png' -o -iname '*.jpg' -o -iname '*.jpeg' \) -print -quit)" ]; then
  echo "demo.sh: no PNG or JPEG images under $data"
  data=""
fi
if [ -z "$data" ]; then
  how_to_get_data
  echo
  echo "== synthetic demo: train a few steps on generated images, time inference"
  $qsr demo
  exit 0
fi

models=(models/pretrained/espcn_x3.safetensors)
if [ "$train" = 1 ]; then
  if [ -z "$bsds" ]; then echo "demo.sh: --train needs BSDS500 (images/{train,val,test}) under --data" >&2; exit 2; fi
  echo "== training with the shipped model's recipe (scripts/train_pretrained.sh) -> runs/espcn_x3_bsds"
  bash scripts/train_pretrained.sh "$bsds" runs/espcn_x3_bsds
  models+=(runs/espcn_x3_bsds/best.safetensors)
fi

for m in "${models[@]}"; do
  for s in "${sets[@]}"; do
    echo "== $m on $s (y protocol: MATLAB Y, bicubic x3, shave 3)"
    $qsr eval --model "$m" --data "$s" --protocol y
  done
  if [ -n "$bsds" ]; then
    echo "== $m on BSDS500 test[50:60] (keras protocol: the Keras example's procedure)"
    $qsr eval --model "$m" --data "$bsds" --protocol keras
  fi
done

example=$(find "${sets[@]}" ${bsds:+"$bsds"} -type f \( -iname '*.png' -o -iname '*.jpg' -o -iname '*.jpeg' \) 2>/dev/null | sort | head -n 1)
if [ -n "$example" ]; then
  mkdir -p runs/demo
  echo "== upscaling $example"
  $qsr upscale "$example" runs/demo/upscaled_x3.png
fi
echo "== engine timing on a 640x360 frame (synthetic training, then inference)"
$qsr demo
