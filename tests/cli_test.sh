#!/usr/bin/env bash
# End-to-end checks of the qsr command-line program.
# Usage: cli_test.sh /path/to/qsr FIXTURES [/path/to/qsr_infer_example]
#   (prints PASS/FAIL per check; exits 1 if any failed)
set -u
QSR=${1:?usage: cli_test.sh /path/to/qsr FIXTURES [/path/to/qsr_infer_example]}
EXAMPLE=${3:-}
[ -x "$QSR" ] || { echo "FAIL: $QSR is not an executable"; exit 1; }
failures=0
out=""
err=""
rc=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

pass() { echo "PASS: $1"; }
fail() {
  echo "FAIL: $1"
  echo "  exit status: $rc"
  echo "  stdout: $(head -c 2000 "$tmp/out")"
  echo "  stderr: $(head -c 2000 "$tmp/err")"
  failures=$((failures + 1))
}
# run [ENV=VALUE...] -- args...: runs qsr with a clean QSR_ISA unless one is given.
run() {
  local envs=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  env -u QSR_ISA -u QSR_MODEL "${envs[@]}" "$QSR" "$@" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  out=$(cat "$tmp/out")
  err=$(cat "$tmp/err")
}
nonempty_lines() { printf '%s\n' "$1" | grep -c .; }

run -- info
if [ $rc -eq 0 ] && grep -q "isa in use:" <<<"$out"; then pass "qsr info"; else fail "qsr info exits 0 and prints 'isa in use:'"; fi

run QSR_ISA=scalar -- info
if [ $rc -eq 0 ] && grep -q "isa in use: scalar" <<<"$out"; then pass "QSR_ISA=scalar qsr info"; else fail "QSR_ISA=scalar qsr info says 'isa in use: scalar'"; fi

run QSR_ISA=bogus -- info
if [ $rc -ne 0 ] && [ "$(nonempty_lines "$err")" -eq 1 ] && grep -Eq "QSR_ISA|bogus" <<<"$err"; then
  pass "QSR_ISA=bogus qsr info fails with a one-line error"
else
  fail "QSR_ISA=bogus qsr info exits non-zero with one line naming QSR_ISA or 'bogus'"
fi

if grep -qw avx512f /proc/cpuinfo; then
  echo "SKIP: QSR_ISA=avx512 on a CPU without AVX-512 (this CPU has avx512f)"
else
  run QSR_ISA=avx512 -- info
  if [ $rc -ne 0 ] && [ "$(nonempty_lines "$err")" -eq 1 ] && grep -qi "avx512\|avx-512" <<<"$err"; then
    pass "QSR_ISA=avx512 qsr info fails on a CPU without AVX-512"
  else
    fail "QSR_ISA=avx512 qsr info exits non-zero with one line mentioning avx512"
  fi
fi

run -- --version
if [ $rc -eq 0 ] && grep -q "^qsr " <<<"$out"; then pass "qsr --version"; else fail "qsr --version prints 'qsr '"; fi

run -- demo --steps 3 --size 32x24 --patch 8 --batch 2
if [ $rc -eq 0 ] && grep -q "inference" <<<"$out" && grep -q "32x24 -> 96x72" <<<"$out"; then
  pass "qsr demo (small)"
else
  fail "qsr demo --steps 3 --size 32x24 --patch 8 --batch 2 exits 0 and prints the inference line"
fi

run -- demo --steps 1 --size 0x5 --patch 4 --batch 1
if [ $rc -ne 0 ] && grep -q "0x5" <<<"$err"; then pass "qsr demo --size 0x5 is refused"; else fail "qsr demo --size 0x5 exits non-zero naming the size"; fi

run -- demo --steps 1 --size 640by360 --patch 4 --batch 1
if [ $rc -ne 0 ] && grep -q "640by360" <<<"$err"; then pass "qsr demo --size 640by360 is refused"; else fail "qsr demo --size 640by360 exits non-zero naming the size"; fi

run -- nosuchcommand
if [ $rc -ne 0 ]; then pass "qsr nosuchcommand fails"; else fail "qsr nosuchcommand exits non-zero"; fi

run --
if [ $rc -ne 0 ]; then pass "qsr without a command fails"; else fail "qsr without a command exits non-zero"; fi

run -- --threads 0 info
if [ $rc -ne 0 ]; then pass "qsr --threads 0 is refused"; else fail "qsr --threads 0 exits non-zero"; fi

# Train / eval / upscale end to end on a few small synthetic images (the test fixtures).
FIX=${2:-}
if [ -n "$FIX" ] && [ -d "$FIX" ]; then
  mkdir -p "$tmp/data"
  for f in grey_31x20.png matlab_u8_rgb_23x17_u3.png pil_bicubic_grey_31x20_62x40.png pil_bicubic_rgb_23x17_69x51.png \
           pil_bicubic_grey_31x20_93x60.png pil_bicubic_rgb_23x17_46x34.png; do cp "$FIX/$f" "$tmp/data/"; done
  small=(--scale 2 --crop 12 --features 4,4 --kernels 3,3,3 --batch 2 --steps-per-epoch 3 -q)
  run -- train --data "$tmp/data" "${small[@]}" --epochs 2 --out "$tmp/run"
  if [ $rc -eq 0 ] && [ -f "$tmp/run/best.safetensors" ] && [ -f "$tmp/run/last.safetensors" ] &&
     [ "$(wc -l < "$tmp/run/log.csv")" -eq 3 ] && [ "$(wc -l < "$tmp/run/log.jsonl")" -eq 2 ]; then
    pass "qsr train writes best/last checkpoints and a log line per epoch"
  else
    fail "qsr train on a tiny folder"
  fi
  run -- train --data "$tmp/data" "${small[@]}" --epochs 3 --out "$tmp/run" --resume
  if [ $rc -eq 0 ] && [ "$(wc -l < "$tmp/run/log.jsonl")" -eq 3 ]; then pass "qsr train --resume continues to epoch 3"; else fail "qsr train --resume"; fi
  run -- eval --model "$tmp/run/best.safetensors" --data "$tmp/data" --json
  if [ $rc -eq 0 ] && grep -q '"mean_psnr_model"' <<<"$out" && grep -q '"protocol": "y"' <<<"$out"; then
    pass "qsr eval --json"
  else
    fail "qsr eval --json prints mean_psnr_model and the protocol"
  fi
  run -- upscale --model "$tmp/run/best.safetensors" "$FIX/grey_31x20.png" "$tmp/up.png"
  if [ $rc -eq 0 ] && [ -s "$tmp/up.png" ]; then pass "qsr upscale"; else fail "qsr upscale writes a PNG"; fi
  run QSR_MODEL="$tmp/run/best.safetensors" -- upscale "$FIX/grey_31x20.png" "$tmp/up_env.png" --threads 1
  if [ $rc -eq 0 ] && cmp -s "$tmp/up.png" "$tmp/up_env.png"; then
    pass "qsr upscale without --model uses \$QSR_MODEL (and takes --threads after the subcommand)"
  else
    fail "qsr upscale with QSR_MODEL set gives the same image as --model"
  fi
  run QSR_MODEL="$tmp/missing.safetensors" -- upscale "$FIX/grey_31x20.png" "$tmp/up_missing.png"
  if [ $rc -ne 0 ] && [ "$(nonempty_lines "$err")" -eq 1 ] && grep -q "missing.safetensors" <<<"$err" && [ ! -e "$tmp/up_missing.png" ]; then
    pass "a missing model is one line naming it"
  else
    fail "qsr upscale with a missing model file"
  fi
  run -- upscale "$FIX/grey_31x20.png" "$tmp/up_shipped.png"
  if [ $rc -eq 0 ] && grep -q "(93x60)" <<<"$out" && grep -q "models/pretrained/espcn_x3.safetensors" <<<"$err"; then
    pass "qsr upscale without --model uses the shipped x3 model"
  else
    fail "qsr upscale falls back to models/pretrained/espcn_x3.safetensors"
  fi
  run -- eval --data "$tmp/data" --scale 2
  if [ $rc -ne 0 ] && grep -q "only x3" <<<"$err"; then pass "no shipped model for x2: --model is asked for"; else fail "eval --scale 2 without --model"; fi
  run -- train --data "$tmp/data" "${small[@]}" --lr-schedule step --out "$tmp/run_bad"
  if [ $rc -ne 0 ] && grep -q "lr-schedule" <<<"$err"; then pass "an unknown --lr-schedule is refused"; else fail "--lr-schedule step is refused"; fi
  run -- quantize --model "$tmp/run/best.safetensors" --mode int8 --calib "$tmp/data" --out "$tmp/q8.safetensors"
  if [ $rc -eq 0 ] && [ -s "$tmp/q8.safetensors" ] && grep -q "integer" <<<"$out"; then pass "qsr quantize --mode int8"; else fail "qsr quantize --mode int8 writes a model"; fi
  run -- eval --model "$tmp/q8.safetensors" --data "$tmp/data" --json
  if [ $rc -eq 0 ] && grep -q '"mean_psnr_model"' <<<"$out"; then pass "qsr eval runs a quantised model"; else fail "qsr eval on an int8 model"; fi
  # QSR_CONV is read once by the program and reaches every float conv it runs (not the integer ones).
  conv_eval() { run QSR_CONV="$1" -- eval --model "$2" --data "$3" --json --threads 1; sed -E 's/"[a-z_]*(seconds|ms)": *[-0-9.e+]+,?//g' "$tmp/out"; }
  # The float check needs the shipped model (a tiny model trained for two epochs may output zeros)
  # and images large enough that some 8-bit output pixel rounds differently: Set5 when present.
  here_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  set5="$here_dir/../../shared/data/Set5"
  if [ -d "$set5" ]; then
    fw=$(conv_eval winograd "$here_dir/../models/pretrained/espcn_x3.safetensors" "$set5")
    fd=$(conv_eval direct "$here_dir/../models/pretrained/espcn_x3.safetensors" "$set5")
  else
    echo "SKIP: QSR_CONV on a float model (no ../shared/data/Set5)"
    fw=x fd=y
  fi
  qw=$(conv_eval winograd "$tmp/q8.safetensors" "$tmp/data") qd=$(conv_eval direct "$tmp/q8.safetensors" "$tmp/data")
  if grep -q '"mean_psnr_model"' <<<"$qw" && [ "$fw" != "$fd" ] && [ "$qw" = "$qd" ]; then
    pass "QSR_CONV=winograd|direct steers the float model's convs in qsr eval, not the integer engine's numbers"
  else
    fail "QSR_CONV=winograd and direct give different float results and the same int8 results"
  fi
  run QSR_CONV=fft -- eval --model "$tmp/q8.safetensors" --data "$tmp/data"
  if [ $rc -ne 0 ] && grep -q "QSR_CONV=fft" <<<"$err"; then pass "a bad QSR_CONV is refused"; else fail "QSR_CONV=fft qsr eval fails naming QSR_CONV"; fi
  run -- info "$tmp/q8.safetensors"
  if [ $rc -eq 0 ] && grep -q "conv1" <<<"$out" && grep -q "bytes packed" <<<"$out"; then pass "qsr info MODEL"; else fail "qsr info prints a quantised model's layers and size"; fi
  run -- quantize --model "$tmp/run/best.safetensors" --mode w1a8 --out "$tmp/bad.safetensors"
  if [ $rc -ne 0 ] && grep -q "2..16" <<<"$err" && [ ! -e "$tmp/bad.safetensors" ]; then pass "an impossible word length is refused"; else fail "quantize --mode w1a8 is refused"; fi
  run -- quantize --model "$tmp/run/best.safetensors" --mode int8 --out "$tmp/nocal.safetensors"
  if [ $rc -eq 0 ] && grep -q "calibrated on .* of $tmp/data" <<<"$err"; then
    pass "quantize without --calib calibrates on the model's training data"
  else
    fail "quantize int8 without --calib uses the training folder from the checkpoint"
  fi
  if grep -q "gptq conv1: output MSE" <<<"$err"; then pass "quantize rounds weights with GPTQ by default"; else fail "quantize reports GPTQ rounding"; fi
  run -- quantize --model "$tmp/run/best.safetensors" --mode w6 --weight-rounding nearest --out "$tmp/w6n.safetensors"
  if [ $rc -eq 0 ] && [ -s "$tmp/w6n.safetensors" ] && ! grep -q "gptq" <<<"$err"; then
    pass "quantize --weight-rounding nearest needs no calibration"
  else
    fail "quantize --mode w6 --weight-rounding nearest"
  fi
  run -- quantize --model "$tmp/run/best.safetensors" --mode w6 --weight-rounding best --out "$tmp/bad.safetensors"
  if [ $rc -ne 0 ] && grep -q "weight-rounding" <<<"$err" && [ ! -e "$tmp/bad.safetensors" ]; then
    pass "an unknown --weight-rounding is refused"
  else
    fail "quantize --weight-rounding best is refused"
  fi
  # QAT from a quantised model: its rounded weights and calibrated activation grids.
  # (--qat-freeze-after 0: the run itself never freezes, the imported grids stay frozen.)
  run -- train --data "$tmp/data" "${small[@]}" --epochs 2 --from "$tmp/q8.safetensors" --qat int8 --qat-freeze-after 0 --out "$tmp/qat_q"
  if [ $rc -eq 0 ] && [ -s "$tmp/qat_q/quant.safetensors" ]; then pass "qsr train --qat int8 --from a quantised model"; else fail "QAT from a quantised checkpoint"; fi
  # (--data names no folder: the format is checked before any data is read.)
  run -- train --data "$tmp/no_such_data" "${small[@]}" --epochs 1 --from "$tmp/q8.safetensors" --qat int16x8 --out "$tmp/qat_bad"
  if [ $rc -ne 0 ] && [ "$(nonempty_lines "$err")" -eq 1 ] && grep -q "same mode" <<<"$err"; then
    pass "QAT from a quantised model in another activation format is refused before the data is read"
  else
    fail "qsr train --qat int16x8 --from an int8 model is a one-line error"
  fi
  rm -rf "$tmp/qat_bad"
  # Quantisation-aware training: fine-tune the small model in int8, export, evaluate, resume.
  run -- train --data "$tmp/data" "${small[@]}" --epochs 2 --from "$tmp/run/best.safetensors" --qat int8 --out "$tmp/qat"
  if [ $rc -eq 0 ] && [ -s "$tmp/qat/quant.safetensors" ] && grep -q "$tmp/qat/quant.safetensors" <<<"$out"; then
    pass "qsr train --qat int8 --from M writes OUT/quant.safetensors and prints its path"
  else
    fail "qsr train --qat int8 --from M"
  fi
  run -- eval --model "$tmp/qat/quant.safetensors" --data "$tmp/data" --json
  if [ $rc -eq 0 ] && grep -q '"mean_psnr_model"' <<<"$out"; then pass "qsr eval runs the QAT-exported model"; else fail "qsr eval on OUT/quant.safetensors"; fi
  run -- info "$tmp/qat/quant.safetensors"
  if [ $rc -eq 0 ] && grep -q "path: integer" <<<"$out"; then pass "the QAT export runs the integer path"; else fail "qsr info on the QAT export shows integer layers"; fi
  run -- train --data "$tmp/data" "${small[@]}" --epochs 3 --from "$tmp/run/best.safetensors" --qat int8 --out "$tmp/qat" --resume
  if [ $rc -eq 0 ] && [ "$(wc -l < "$tmp/qat/log.jsonl")" -eq 3 ]; then pass "qsr train --qat --resume continues"; else fail "qsr train --qat --resume"; fi
  run -- train --data "$tmp/data" "${small[@]}" --epochs 4 --qat w4a8 --out "$tmp/qat" --resume
  if [ $rc -ne 0 ] && [ "$(nonempty_lines "$err")" -eq 1 ] && grep -q "same QAT options" <<<"$err"; then
    pass "resuming a QAT run with another mode is refused"
  else
    fail "qsr train --resume with another --qat mode is a one-line error"
  fi
  run -- train --data "$tmp/data" "${small[@]}" --epochs 4 --out "$tmp/qat" --resume
  if [ $rc -ne 0 ] && [ "$(nonempty_lines "$err")" -eq 1 ] && grep -q -- "--qat int8" <<<"$err"; then
    pass "resuming a QAT run without --qat is refused"
  else
    fail "qsr train --resume of a QAT run without --qat is a one-line error"
  fi
  run -- train --data "$tmp/data" "${small[@]}" --epochs 1 --qat w4a8 --qat-layers conv2 --qat-freeze-after 2 --out "$tmp/qat_sub"
  if [ $rc -eq 0 ] && [ -s "$tmp/qat_sub/quant.safetensors" ]; then pass "qsr train --qat w4a8 --qat-layers conv2 from scratch"; else fail "QAT of one layer from scratch"; fi
  for bad in "--qat int9x:int9x" "--qat int8 --qat-layers conv9:conv9" "--qat float16:post-training" \
             "--qat-layers conv2:--qat" "--from $tmp/missing_model.safetensors:missing_model.safetensors" \
             "--from $tmp/run/best.safetensors --activation tanh:architecture"; do
    args=${bad%%:*}
    want=${bad##*:}
    # shellcheck disable=SC2086
    run -- train --data "$tmp/data" "${small[@]}" --epochs 1 $args --out "$tmp/qat_bad"
    if [ $rc -ne 0 ] && [ "$(nonempty_lines "$err")" -eq 1 ] && grep -q -- "$want" <<<"$err" && [ ! -e "$tmp/qat_bad" ]; then
      pass "qsr train $args is a one-line error"
    else
      fail "qsr train $args exits non-zero with one line naming '$want'"
    fi
  done
  head -c 100 "$tmp/run/best.safetensors" > "$tmp/cut.safetensors"
  run -- eval --model "$tmp/cut.safetensors" --data "$tmp/data"
  if [ $rc -ne 0 ] && [ "$(nonempty_lines "$err")" -eq 1 ] && grep -q "cut.safetensors" <<<"$err"; then
    pass "a truncated checkpoint is refused with one line naming it"
  else
    fail "a truncated checkpoint gives a one-line error naming the file"
  fi
  run -- train --data "$tmp/nonexistent" "${small[@]}"
  if [ $rc -ne 0 ] && grep -q "nonexistent" <<<"$err"; then pass "qsr train on a missing folder"; else fail "qsr train names a missing folder"; fi

  # The integer engine (quant/lower/int_engine.h): quantised models of the shipped x3 model (1-channel
  # first conv, 9-channel last conv), nearest weight rounding, calibrated on two fixture images.
  SHIPPED="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/models/pretrained/espcn_x3.safetensors"
  if [ -f "$SHIPPED" ] && command -v python3 >/dev/null; then
    # json_check FILE PYTHON-EXPRESSION: the expression over j (the parsed file) is true.
    json_check() { python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' "$1" "$2" 2>/dev/null; }
    for m in int8 w4a4 dynamic-range; do
      q="$tmp/x3_$m.safetensors"
      run -- quantize --model "$SHIPPED" --mode "$m" --weight-rounding nearest --calib "$tmp/data" --calib-images 2 --out "$q"
      if [ $rc -eq 0 ] && [ -s "$q" ] && ! grep -q "gptq" <<<"$err"; then
        pass "qsr quantize --mode $m --weight-rounding nearest of the shipped model"
      else
        fail "qsr quantize --mode $m --weight-rounding nearest --calib (2 images) of the shipped model"
        continue
      fi
      path=integer
      [ "$m" = dynamic-range ] && path=dynamic-range
      run -- verify "$q" --random 2
      if [ $rc -eq 0 ] && grep -q "bit for bit" <<<"$out" && [ "$(grep -c "conv[1-4]: $path " <<<"$out")" -eq 4 ]; then
        pass "qsr verify ($m): every conv on the $path path, bit for bit"
      else
        fail "qsr verify $m --random 2 exits 0, lowers conv1..conv4 to '$path' and prints 'bit for bit'"
      fi
      run -- upscale --model "$q" "$FIX/grey_31x20.png" "$tmp/up_$m.png"
      rc1=$rc
      run -- upscale --model "$q" "$FIX/grey_31x20.png" "$tmp/up_${m}_sim.png" --simulate
      if [ $rc1 -eq 0 ] && [ $rc -eq 0 ] && [ -s "$tmp/up_$m.png" ] && cmp -s "$tmp/up_$m.png" "$tmp/up_${m}_sim.png"; then
        pass "qsr upscale ($m): the integer engine and --simulate write the same PNG bytes"
      else
        fail "qsr upscale of a $m model gives the same PNG with and without --simulate"
      fi
    done
    q8="$tmp/x3_int8.safetensors"
    run QSR_ISA=scalar -- verify "$q8" --random 2 --data "$tmp/data" --images 1 --json
    printf '%s\n' "$out" > "$tmp/verify.json"
    if [ $rc -eq 0 ] && [ "$(nonempty_lines "$out")" -eq 1 ] &&
       json_check "$tmp/verify.json" 'j["exact"] is True and j["mismatches"] == 0 and j["kernels"] == "scalar" and len(j["inputs"]) == 3 and j["values"] > 0'; then
      pass "QSR_ISA=scalar qsr verify --json: one object, exact, 3 inputs"
    else
      fail "qsr verify int8 --json prints one JSON object with \"exact\": true (scalar kernels, 2 random + 1 image)"
    fi
    run -- verify "$SHIPPED"
    if [ $rc -ne 0 ] && [ "$(nonempty_lines "$err")" -eq 1 ] && grep -q "float model" <<<"$err"; then
      pass "qsr verify of a float model is a one-line error"
    else
      fail "qsr verify FLOAT_MODEL exits non-zero with one line saying it is a float model"
    fi
    macs=$((59488 * 32 * 24))
    for v in "integer:$q8" "simulation:$q8:--simulate" "f32:$SHIPPED"; do
      IFS=: read -r engine model flag <<<"$v"
      # shellcheck disable=SC2086
      run -- bench --model "$model" --size 32x24 --runs 2 --warmup 0 --json $flag
      printf '%s\n' "$out" > "$tmp/bench.json"
      if [ $rc -eq 0 ] && [ "$(nonempty_lines "$out")" -eq 1 ] &&
         json_check "$tmp/bench.json" "j['engine'] == '$engine' and j['median_ms'] > 0 and j['min_ms'] > 0 and j['gmacs'] > 0 and j['isa'] != '' and j['size'] == '32x24' and j['runs'] == 2 and j['macs'] == $macs"; then
        pass "qsr bench --json $flag: one object, engine '$engine', median_ms, gmacs"
      else
        fail "qsr bench --model $(basename "$model") --size 32x24 --runs 2 --warmup 0 --json $flag: one JSON object, engine == '$engine', median_ms > 0, gmacs > 0, macs == $macs"
      fi
    done
    for bad in 0x5 abc; do
      run -- bench --model "$q8" --size "$bad" --runs 1 --warmup 0
      if [ $rc -ne 0 ] && [ "$(nonempty_lines "$err")" -eq 1 ] && grep -q -- "--size '$bad'" <<<"$err" && [ -z "$out" ]; then
        pass "qsr bench --size $bad is a one-line error"
      else
        fail "qsr bench --size $bad exits non-zero with one line naming the size"
      fi
    done
    run -- bench --model "$q8" --size 8x8 --runs 1 --warmup 0 --layers --simulate
    if [ $rc -ne 0 ] && [ "$(nonempty_lines "$err")" -eq 1 ] && grep -q -- "--layers" <<<"$err"; then
      pass "qsr bench --layers --simulate is refused"
    else
      fail "qsr bench --layers --simulate exits non-zero with one line naming --layers"
    fi
    run -- bench --model "$q8" --size 8x8 --runs 1 --warmup 0 --layers --json
    printf '%s\n' "$out" > "$tmp/bench.json"
    if [ $rc -eq 0 ] && json_check "$tmp/bench.json" '[l["path"] for l in j["layers"]] == ["integer"] * 4 and all(l["median_ms"] >= 0 for l in j["layers"])'; then
      pass "qsr bench --layers --json times the four integer convs"
    else
      fail "qsr bench --layers --json lists conv1..conv4 on the integer path"
    fi
    # eval: the engine's PSNR/SSIM equal the reference execution's exactly (every image and the means).
    mkdir -p "$tmp/evdata"
    cp "$FIX/pil_bicubic_grey_31x20_93x60.png" "$FIX/pil_bicubic_rgb_23x17_69x51.png" "$tmp/evdata/"
    for m in int8 dynamic-range; do
      run -- eval --model "$tmp/x3_$m.safetensors" --data "$tmp/evdata" --json
      printf '%s\n' "$out" > "$tmp/eval_engine.json"
      rc1=$rc
      run -- eval --model "$tmp/x3_$m.safetensors" --data "$tmp/evdata" --json --simulate
      printf '%s\n' "$out" > "$tmp/eval_sim.json"
      if [ $rc1 -eq 0 ] && [ $rc -eq 0 ] &&
         python3 - "$tmp/eval_engine.json" "$tmp/eval_sim.json" <<'EOF'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
keys = ("psnr_model", "ssim_model")
per = lambda j: [[im[k] for k in keys] for im in j["images"]]
ok = (len(a["images"]) == 2 and per(a) == per(b) and a["mean_psnr_model"] == b["mean_psnr_model"]
      and a["mean_ssim_model"] == b["mean_ssim_model"] and a["mean_psnr_model"] > a["mean_psnr_bicubic"] - 3)
sys.exit(0 if ok else 1)
EOF
      then
        pass "qsr eval ($m): the integer engine's PSNR/SSIM equal --simulate's exactly"
      else
        fail "qsr eval --json of a $m model gives exactly the --simulate PSNR and SSIM"
      fi
    done
    # qsr export --format c: the export compiles as plain C99 (warnings are errors; also -m32 where the
    # compiler has it) and its forward gives exactly the integer engine's codes on the golden vectors.
    if command -v cc >/dev/null; then
      m32=""
      echo 'int main(void) { return 0; }' | cc -m32 -x c - -o "$tmp/m32" 2>/dev/null && m32="-m32"
      run -- quantize --model "$SHIPPED" --mode int16x8 --weight-rounding nearest --calib "$tmp/data" --calib-images 2 --out "$tmp/x3_int16x8.safetensors"
      for m in int8 int16x8 w4a4; do
        run -- export --format c --model "$tmp/x3_$m.safetensors" --out "$tmp/cx_$m" --golden 19x13
        ok=0
        [ $rc -eq 0 ] && grep -q "bytes of arena for 640-pixel-wide rows" <<<"$out" && grep -q "flash:" <<<"$out" &&
          json_check "$tmp/cx_$m/espcn.json" 'len(j["convs"]) == 4 and all(c["accumulator_bits"] <= 32 for c in j["convs"]) and len(j["tensors"]) == 5 and j["arena_bytes"] > 0' || ok=1
        # 4-bit weights: two per byte (half the flash of int8's), or one per int8_t on request.
        if [ $m = w4a4 ]; then
          json_check "$tmp/cx_$m/espcn.json" 'all(c["weights"]["c_type"].startswith("uint8_t, two codes per byte") for c in j["convs"]) and j["weight_bytes"] < 32000' || ok=1
          run -- export --format c --weight-storage bytes --model "$tmp/x3_$m.safetensors" --out "$tmp/cx_${m}_bytes" --golden 19x13
          [ $rc -eq 0 ] && json_check "$tmp/cx_${m}_bytes/espcn.json" 'all(c["weights"]["c_type"] == "int8_t" for c in j["convs"]) and j["weight_bytes"] > 60000' &&
            cc -std=c99 -pedantic -Wall -Wextra -Werror -O2 "$tmp/cx_${m}_bytes/espcn.c" "$tmp/cx_${m}_bytes/espcn_check.c" -o "$tmp/cx_${m}_bytes/check" &&
            "$tmp/cx_${m}_bytes/check" | grep -q -E "espcn: 0 of [0-9]+ output codes differ" || ok=1
        fi
        for flags in "" $m32; do
          if ! cc -std=c99 -pedantic -Wall -Wextra -Werror -O2 $flags "$tmp/cx_$m/espcn.c" "$tmp/cx_$m/espcn_check.c" -o "$tmp/cx_$m/check$flags" ||
             ! "$tmp/cx_$m/check$flags" | grep -q -E "espcn: 0 of [0-9]+ output codes differ"; then
            ok=1
          fi
        done
        ! grep -q -E "float|double|malloc|#include <(stdlib|string|math|stdio)" "$tmp/cx_$m/espcn.c" "$tmp/cx_$m/espcn.h" || ok=1
        if [ $ok -eq 0 ]; then
          pass "qsr export --format c ($m): C99 -Werror${m32:+ and $m32}, bit-exact with the engine on the golden vectors, integer only$([ $m = w4a4 ] && echo ", 4-bit weights two per byte (or one with --weight-storage bytes)")"
        else
          fail "qsr export --format c of the $m model compiles with cc -std=c99 -Wall -Wextra -Werror${m32:+ ($m32 too)} and its check prints 0 differing codes"
        fi
      done
      run -- export --format c --model "$tmp/x3_dynamic-range.safetensors" --out "$tmp/cx_bad"
      if [ $rc -ne 0 ] && grep -q "integer path" <<<"$err" && [ "$(nonempty_lines "$err")" -eq 1 ]; then
        pass "qsr export of a dynamic-range model fails with one line naming the conv"
      else
        fail "qsr export --format c of a dynamic-range model exits non-zero with one line (not the integer path)"
      fi
    else
      echo "SKIP: C export checks (no cc)"
    fi
    # qsr export --format engine: the inference-only library's model file. Its example program
    # upscales the golden 8-bit luma exactly as the integer engine does, on several bands, on the
    # SIMD and the scalar kernels, for models lowered for avx2 and for scalar layouts.
    if [ -n "$EXAMPLE" ]; then
      for m in int8 int16x8 w4a4; do
        ok=0
        for isa in avx2 scalar; do
          d="$tmp/ex_${m}_$isa"
          run -- export --format engine --isa $isa --model "$tmp/x3_$m.safetensors" --out "$d/espcn.qsri" --golden 19x13
          [ $rc -eq 0 ] && grep -q "arena for 640-pixel-wide rows, band 8:" <<<"$out" && [ -s "$d/espcn.qsri.golden_out.raw" ] || ok=1
          for opts in "" "--band 1" "--band 5 --scalar"; do
            "$EXAMPLE" "$d/espcn.qsri" "$d/espcn.qsri.golden_in.raw" 19 13 "$d/out.raw" $opts >"$tmp/out" 2>"$tmp/err" &&
              grep -q "lowered for $isa" "$tmp/out" && cmp -s "$d/out.raw" "$d/espcn.qsri.golden_out.raw" || ok=1
          done
        done
        if [ $ok -eq 0 ]; then
          pass "qsr export --format engine ($m, avx2 and scalar layouts): the library's example gives the engine's golden output on every band"
        else
          fail "qsr export --format engine of the $m model and qsr_infer_example reproduce the golden output exactly"
        fi
      done
      d="$tmp/ex_int8_avx2"
      "$EXAMPLE" "$tmp/x3_int8.safetensors" "$d/espcn.qsri.golden_in.raw" 19 13 "$tmp/o.raw" >"$tmp/out" 2>"$tmp/err"
      rc=$?
      err=$(cat "$tmp/err")
      if [ $rc -ne 0 ] && grep -q "not a qsr inference model" <<<"$err" && [ "$(nonempty_lines "$err")" -eq 1 ] && [ ! -e "$tmp/o.raw" ]; then
        pass "qsr_infer_example refuses a checkpoint that is not an engine model, in one line"
      else
        fail "qsr_infer_example on a .safetensors checkpoint exits non-zero with one line"
      fi
      "$EXAMPLE" "$d/espcn.qsri" "$d/espcn.qsri.golden_in.raw" 19 14 "$tmp/o.raw" >"$tmp/out" 2>"$tmp/err"
      rc=$?
      err=$(cat "$tmp/err")
      if [ $rc -ne 0 ] && grep -q "not WIDTH x HEIGHT" <<<"$err" && [ "$(nonempty_lines "$err")" -eq 1 ]; then
        pass "qsr_infer_example refuses a raw image of the wrong size, in one line"
      else
        fail "qsr_infer_example with a raw file of the wrong size exits non-zero with one line"
      fi
      run -- export --format engine --model "$tmp/x3_dynamic-range.safetensors" --out "$tmp/bad.qsri"
      if [ $rc -ne 0 ] && grep -q "integer convs only" <<<"$err" && [ "$(nonempty_lines "$err")" -eq 1 ] && [ ! -e "$tmp/bad.qsri" ]; then
        pass "qsr export --format engine of a dynamic-range model fails with one line naming the conv"
      else
        fail "qsr export --format engine of a dynamic-range model exits non-zero with one line"
      fi
    fi
  else
    echo "SKIP: integer engine checks (no shipped model at $SHIPPED, or no python3)"
  fi
  # qsr study --quick on a data root made of the fixture images, with the tiny trained model
  # (3 convs: 14 rows + one sensitivity row per conv + float fine-tuning, QAT int8, QAT w4a4, mixed precision).
  if [ -f "$tmp/run/best.safetensors" ]; then
    mkdir -p "$tmp/sroot/Set5" "$tmp/sroot/BSDS500"
    cp "$tmp/data/"* "$tmp/sroot/Set5/"
    cp "$tmp/data/"* "$tmp/sroot/BSDS500/"
    sargs=(--data "$tmp/sroot" --from "$tmp/run/best.safetensors" --quick --calib-images 2 --qat-crop 12 --qat-batch 4)
    run -- study "${sargs[@]}" --out "$tmp/study"
    if [ $rc -eq 0 ] && [ "$(wc -l < "$tmp/study/results.csv")" -eq 22 ] && [ "$(ls "$tmp/study/rows" | wc -l)" -eq 21 ] &&
       grep -q "| ptq-int8-all | int8 | all |" "$tmp/study/README.md" && grep -q "| sweep-w4a4 | w4a4 | all |" "$tmp/study/README.md" &&
       grep -q "^## Summary" "$tmp/study/README.md" && grep -q "Sensitivity at 4 bits" "$tmp/study/README.md" &&
       grep -q "| qat-int8-all | int8 | all |" "$tmp/study/README.md" && grep -q "### QAT against post-training" "$tmp/study/README.md" &&
       grep -q "Automatic mixed precision within 0.1 dB" "$tmp/study/README.md" && [ -s "$tmp/study/plots/comparison.png" ] &&
       { ! command -v gnuplot >/dev/null || { [ -s "$tmp/study/plots/psnr_vs_bits.png" ] && [ -s "$tmp/study/plots/psnr_vs_time.png" ] &&
         [ -s "$tmp/study/plots/sensitivity.png" ] && [ -s "$tmp/study/plots/training_curves.png" ] &&
         grep -q "plots/psnr_vs_time.png" "$tmp/study/README.md"; }; } &&
       python3 - "$tmp/study/results.json" <<'EOF'
import json, re, sys
j = json.load(open(sys.argv[1]))
r = {x["id"]: x for x in j["rows"]}
f, i8, q, m = r["float"], r["ptq-int8-all"], r["qat-int8-all"], r["mixed"]
ok = (f["psnr"]["set5"] > 0 and i8["frame_ms"] > 0 and i8["weight_bytes"] < f["weight_bytes"] and q["curve"]["epoch"] == [0, 1, 2]
      and len(q["curve"]["val_psnr"]) == 3 and q["train_s"] > 0 and "error" not in q and "example_ms" in q
      and re.fullmatch(r"w\d+\.\d+\.\d+a\d+\.\d+\.\d+\.\d+", m["mode"]) is not None
      and f["psnr"]["set5"] - m["psnr"]["set5"] <= 0.1 and m["evaluations"] > 0)
sys.exit(0 if ok else 1)
EOF
    then
      pass "qsr study --quick writes a row per comparison and the report"
    else
      fail "qsr study --quick writes 21 rows (QAT with curves, mixed precision within 0.1 dB), README.md, plots, the comparison, results.csv and results.json"
    fi
    before=$(stat -c %Y "$tmp/study/rows/ptq-int8-all.json")
    rm "$tmp/study/rows/sweep-a8.json"
    sleep 1
    run -- study "${sargs[@]}" --out "$tmp/study"
    if [ $rc -eq 0 ] && grep -q "20 rows already" <<<"$err" && [ -f "$tmp/study/rows/sweep-a8.json" ] &&
       [ "$(stat -c %Y "$tmp/study/rows/ptq-int8-all.json")" = "$before" ]; then
      pass "qsr study resumes: rows already done are kept, a missing one is run"
    else
      fail "qsr study rerun keeps the 20 rows done and runs the missing one"
    fi
    run -- study "${sargs[@]}" --out "$tmp/sh1" --shard 1/2 && run -- study "${sargs[@]}" --out "$tmp/sh2" --shard 2/2
    n1=$(ls "$tmp/sh1/rows" | wc -l); n2=$(ls "$tmp/sh2/rows" | wc -l)
    run -- study merge "$tmp/sh1" "$tmp/sh2"
    if [ $rc -eq 0 ] && [ "$n1" -eq 11 ] && [ "$n2" -eq 10 ] && [ -s "$tmp/sh1/plots/comparison.png" ] &&
       diff <(cut -d, -f1-7 "$tmp/sh1/results.csv") <(cut -d, -f1-7 "$tmp/study/results.csv") >/dev/null; then
      pass "qsr study --shard 1/2 and 2/2, merged, give the single run's rows"
    else
      fail "qsr study shards (11 + 10 rows) merged equal the single run"
    fi
    # --train-float: the float baseline trained first (Keras recipe, here 1 epoch), then the rows on it.
    run -- study "${sargs[@]}" --out "$tmp/study_tf" --train-float 1 --no-qat --no-mixed
    if [ $rc -eq 0 ] && [ -f "$tmp/study_tf/train/float-baseline/done.json" ] && [ -f "$tmp/study_tf/train/float-baseline/best.safetensors" ] &&
       grep -q "float-baseline/best.safetensors" "$tmp/study_tf/study.json" && [ "$(ls "$tmp/study_tf/rows" | wc -l)" -eq 17 ] &&
       ! ls "$tmp/study_tf/rows" | grep -q -e qat -e mixed; then
      pass "qsr study --train-float trains the float baseline, then runs the rows on it (--no-qat, --no-mixed)"
    else
      fail "qsr study --train-float 1 --no-qat --no-mixed writes train/float-baseline/ and 17 rows on that model"
    fi
    run -- study "${sargs[@]}" --out "$tmp/study3" --qat-layers all,14
    if [ $rc -ne 0 ] && grep -q "'14' is not a layer set" <<<"$err" && [ "$(nonempty_lines "$err")" -eq 1 ]; then
      pass "qsr study --qat-layers naming a conv the model lacks fails with one line"
    else
      fail "qsr study --qat-layers all,14 on a 3-conv model exits non-zero with one line"
    fi
    run -- study "${sargs[@]}" --out "$tmp/study" --weight-rounding gptq
    if [ $rc -ne 0 ] && grep -q "other settings" <<<"$err"; then
      pass "qsr study refuses to mix settings in one folder"
    else
      fail "qsr study --out of a study with other settings fails"
    fi
    run -- study --data "$tmp/data" --out "$tmp/study2" --from "$tmp/run/best.safetensors" --quick
    if [ $rc -ne 0 ] && grep -q "no Set5/" <<<"$err" && [ "$(nonempty_lines "$err")" -eq 1 ]; then
      pass "qsr study on a folder without Set5/ fails with one line"
    else
      fail "qsr study --data without Set5/ exits non-zero with one line naming Set5/"
    fi
  fi
else
  echo "SKIP: train/eval/upscale checks (no fixtures folder given)"
fi

if [ $failures -ne 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all CLI checks passed"
