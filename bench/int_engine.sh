#!/usr/bin/env bash
# The native integer engine against the f32 engine and the machine's peak:
#   bench/int_engine.sh [OUT_DIR]            (default OUT_DIR: runs/int_engine)
#
# 1. builds (once; cached) the quantised models float16, dynamic-range, int8, int16x8 and
#    w4a4 of the shipped x3 model, calibrated on 8 BSDS500 training images;
# 2. measures the arithmetic peak with qsr_peak (FMA f32, vpmaddwd, vpmaddubsw, VNNI);
# 3. times `qsr --threads T bench --json [--layers]` for f32 and every mode, per size and
#    thread count, in ROUNDS alternating rounds (every model once per round) to spread
#    machine noise; a row's time is the median over rounds of each run's median;
# 4. writes OUT_DIR/int_engine.json (every raw result) and OUT_DIR/int_engine.md (printed too):
#    a table per size/threads and a per-layer table at 640x360;
# 5. with bench/peers/compare.py supporting --qsr-model and --dtype int8 (and PEERS != 0),
#    times the int8 model against the peers' int8 engines and appends that output.
#
# Environment (defaults):
#   QSR      build/tools/qsr                    the qsr tool
#   PEAK     <QSR's build dir>/bench/qsr_peak   the peak microbenchmark
#   DATA     ../shared/data                     holding BSDS500/ (calibration)
#   MODELS   runs/bench_models                  cache of the quantised models
#   FLOAT_MODEL models/pretrained/espcn_x3.safetensors
#   ROUNDS   3        alternating rounds
#   RUNS     (unset)  timed runs per invocation for every size; unset: 10 at 100x100, 5 otherwise
#   WARMUP   2        warm-up runs per invocation
#   SIZES    "100x100 640x360"   THREADS "1 2"
#   MODES    "float16 dynamic-range int8 int16x8 w7a8 w4a4"
#   PEERS    1        0 skips the peer comparison; PEERS_TIMEOUT 1800 (seconds)
# Relative paths above are taken from the repository root when defaulted, else from the
# current directory.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/runs/int_engine}
QSR=${QSR:-$root/build/tools/qsr}
PEAK=${PEAK:-$(dirname "$QSR")/../bench/qsr_peak}
DATA=${DATA:-$root/../shared/data}
MODELS=${MODELS:-$root/runs/bench_models}
FLOAT_MODEL=${FLOAT_MODEL:-$root/models/pretrained/espcn_x3.safetensors}
ROUNDS=${ROUNDS:-3}
WARMUP=${WARMUP:-2}
SIZES=${SIZES:-100x100 640x360}
THREADS=${THREADS:-1 2}
MODES=${MODES:-float16 dynamic-range int8 int16x8 w7a8 w4a4}
PEERS=${PEERS:-1}
PEERS_TIMEOUT=${PEERS_TIMEOUT:-1800}
PY=$(command -v python3 || echo /usr/bin/python3)

die() { echo "int_engine.sh: $*" >&2; exit 1; }
[ -x "$QSR" ] || die "no qsr tool at $QSR (build it: cmake --build BUILD --target qsr, or set QSR)"
[ -x "$PEAK" ] || die "no qsr_peak at $PEAK (cmake --build BUILD --target qsr_peak, or set PEAK)"
[ -f "$FLOAT_MODEL" ] || die "no float model $FLOAT_MODEL"
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer"
mkdir -p "$out" "$MODELS"
raw="$out/int_engine.raw.jsonl"
: > "$raw"
log="$out/int_engine.log"
: > "$log"

# 1. quantised models ---------------------------------------------------------------
model_of() { [ "$1" = f32 ] && echo "$FLOAT_MODEL" || echo "$MODELS/espcn_x3_$1.safetensors"; }
for m in $MODES; do
  f=$(model_of "$m")
  [ -s "$f" ] && continue
  [ -d "$DATA/BSDS500" ] || die "no $DATA/BSDS500 for calibration (set DATA)"
  echo "int_engine.sh: quantising $m -> $f" >&2
  "$QSR" quantize --model "$FLOAT_MODEL" --mode "$m" --calib "$DATA/BSDS500" --calib-images 8 \
    --out "$f.tmp.safetensors" >> "$log" 2>&1 || { tail -20 "$log" >&2; die "quantize --mode $m failed"; }
  mv "$f.tmp.safetensors" "$f"
done

# 2. peak: measured before every round and once at the end; the report takes each
#    variant's best (max) of these medians, since contention from other work only lowers it.
measure_peak() {
  local line peak_json
  echo "int_engine.sh: measuring the peak (qsr_peak --threads ${THREADS// /,})" >&2
  peak_json=$("$PEAK" --threads "${THREADS// /,}" --json 2>> "$log") || die "qsr_peak failed"
  while IFS= read -r line; do
    [ -n "$line" ] && printf '{"kind": "peak", "when": "%s", "result": %s}\n' "$1" "$line" >> "$raw"
  done <<< "$peak_json"
}

# 3. timings, alternating rounds ------------------------------------------------------
runs_for() {
  if [ -n "${RUNS:-}" ]; then echo "$RUNS"; elif [ "$1" = 100x100 ]; then echo 10; else echo 5; fi
}
for ((r = 1; r <= ROUNDS; r++)); do
  measure_peak "before round $r"
  for size in $SIZES; do
    for t in $THREADS; do
      for m in f32 $MODES; do
        f=$(model_of "$m")
        layers=(--layers)
        [ "$m" = f32 ] && layers=()
        echo "int_engine.sh: round $r/$ROUNDS $size T=$t $m" >&2
        if res=$("$QSR" --threads "$t" bench --model "$f" --size "$size" --runs "$(runs_for "$size")" \
                   --warmup "$WARMUP" --json "${layers[@]}" 2>> "$log") && [ -n "$res" ]; then
          printf '{"kind": "bench", "round": %d, "label": "%s", "size": "%s", "threads": %d, "result": %s}\n' \
            "$r" "$m" "$size" "$t" "$res" >> "$raw"
        else
          echo "int_engine.sh: bench failed for $m $size T=$t (see $log)" >&2
          printf '{"kind": "bench", "round": %d, "label": "%s", "size": "%s", "threads": %d, "error": true}\n' \
            "$r" "$m" "$size" "$t" >> "$raw"
        fi
      done
    done
  done
done

measure_peak "end"

# 5. peers (before the report, so that it lands in the same Markdown file) ------------
peers_md="$out/int_engine.peers.md"
cmp="$root/bench/peers/compare.py"
bindir=$(dirname "$QSR")/..
if [ "$PEERS" = 0 ]; then
  echo "_Peer comparison skipped (PEERS=0)._" > "$peers_md"
elif [ ! -f "$cmp" ]; then
  echo "_Peer comparison skipped: no bench/peers/compare.py._" > "$peers_md"
elif ! help=$("$PY" "$cmp" --help 2>&1) || ! grep -q -- '--qsr-model' <<< "$help" ||
     ! grep -q 'int8' <<< "$help"; then
  echo "_Peer comparison skipped: compare.py does not support --qsr-model and --dtype int8._" > "$peers_md"
else
  echo "int_engine.sh: peers (compare.py --dtype int8)" >&2
  peer_runs=${RUNS:-5}
  # Ours: int8, and w7a8 (7-bit weights: the exact vpmaddubsw path) when it is among the modes.
  qmodels=("$(model_of int8)")
  [[ " $MODES " == *" w7a8 "* ]] && qmodels+=("$(model_of w7a8)")
  if peer_out=$(timeout "$PEERS_TIMEOUT" "$PY" "$cmp" --dtype int8 --qsr-model "${qmodels[@]}" \
                  --qsr-tool "$QSR" --ours "$bindir/bench/qsr_bench" --peers-dir "$bindir/bench/peers" \
                  --size 640x360 100x100 --threads 1 2 --rounds "$ROUNDS" --runs "$peer_runs" \
                  2>> "$log"); then
    { echo "Command: \`compare.py --dtype int8 --qsr-model ${qmodels[*]##*/} --size 640x360 100x100 --threads 1 2 --rounds $ROUNDS --runs $peer_runs\`"
      echo
      echo "$peer_out"; } > "$peers_md"
  else
    { echo "_Peer comparison failed (status $?); its last output:_"; echo; echo '```'
      tail -15 "$log"; echo '```'; } > "$peers_md"
  fi
fi

# 4. report ---------------------------------------------------------------------------
"$PY" - "$raw" "$out/int_engine.json" "$out/int_engine.md" "$peers_md" "$SIZES" "$THREADS" "f32 $MODES" <<'EOF'
import json, re, statistics, sys, datetime
raw_path, json_path, md_path, peers_path, sizes, threads, labels = sys.argv[1:8]
sizes, threads, labels = sizes.split(), [int(t) for t in threads.split()], labels.split()
recs = [json.loads(l) for l in open(raw_path) if l.strip()]
peak_runs = [r["result"] for r in recs if r["kind"] == "peak"]
peaks = {}  # per thread count: each variant's max over the qsr_peak runs
for p in peak_runs:
    q = peaks.setdefault(p["threads"], {"threads": p["threads"], "cpu": p.get("cpu"), "runs": 0})
    q["runs"] += 1
    for k, v in p.items():
        if k.endswith("_gmacs"):
            q[k] = v if q.get(k) is None else max(q[k], v) if v is not None else q[k]
bench = [r for r in recs if r["kind"] == "bench"]
INT_PATHS = {"integer", "dynamic-range"}
# The peak of the instruction a layer's kernel runs on: int16 pairs -> vpmaddwd (+vpaddd);
# u8 quads widened every step -> vpmaddubsw + vpmaddwd(1) + vpaddd; u8 quads summed in int16
# over several steps -> vpmaddubsw (+vpaddw); float paths -> FMA.
PEAK_KEYS = {"vpmaddwd": "vpmaddwd_gmacs", "vpmaddwd, Winograd": "vpmaddwd_gmacs",
             "vpmaddubsw+vpmaddwd": "vpmaddubsw_i32_gmacs",
             "vpmaddubsw": "vpmaddubsw_gmacs", "FMA": "fma_f32_gmacs"}

def kind_of(layer):
    if layer.get("path") not in INT_PATHS:
        return "FMA"
    k = layer.get("kernel") or ""
    if "Winograd" in k:
        return "vpmaddwd, Winograd"
    if "u8 quads" not in k:
        return "vpmaddwd"
    return "vpmaddubsw+vpmaddwd" if re.search(r"sums of 1 step[);]", k) else "vpmaddubsw"

def med(v):
    return statistics.median(v) if v else None

def peak_ref(kind, t):
    return kind, peaks.get(t, {}).get(PEAK_KEYS[kind])

def fmt(x, spec=".2f", none="-"):
    return none if x is None else format(x, spec)

summary, lines = [], []
cpu = next(iter(peaks.values()), {}).get("cpu", "?")
lines.append(f"# Integer engine benchmark\n")
lines.append(f"{datetime.datetime.now().isoformat(timespec='seconds')}, CPU: {cpu}. "
             f"Times: median over {max((r['round'] for r in bench), default=0)} alternating round(s) "
             f"of each invocation's median.\n")
nruns = max((q["runs"] for q in peaks.values()), default=0)
lines.append("## Peak (qsr_peak, register-only; GMAC/s, 1 MAC = 1 multiply-add)\n")
lines.append(f"Best of {nruns} qsr_peak run(s) (one before each round, one at the end), each the "
             "median of 5 measurements of ~0.2 s; 12 independent accumulator chains.\n")
keys = ["fma_f32", "vpmaddwd", "vpmaddubsw", "vpmaddubsw_i32", "vnni_vpdpwssd", "vnni_vpdpbusd"]
lines.append("| threads | " + " | ".join(keys) + " |")
lines.append("|---|" + "---|" * len(keys))
for t in sorted(peaks):
    lines.append(f"| {t} | " + " | ".join(fmt(peaks[t].get(k + "_gmacs"), ".1f", "n/a") for k in keys) + " |")
lines.append("")
lines.append("fma_f32: vfmadd ymm, 8 MAC; vpmaddwd: +vpaddd, 16 MAC; vpmaddubsw: +vpaddw (int16 "
             "accumulators), 32 MAC; vpmaddubsw_i32: +vpmaddwd(ones)+vpaddd, 32 MAC; vnni_*: AVX512-VNNI zmm.\n")

for size in sizes:
    for t in threads:
        rows = {}
        for lab in labels:
            rs = [r for r in bench if r["label"] == lab and r["size"] == size and r["threads"] == t]
            ok = [r["result"] for r in rs if "result" in r]
            row = {"label": lab, "size": size, "threads": t, "rounds": len(ok), "failed": len(rs) - len(ok)}
            if ok:
                ms = med([x["median_ms"] for x in ok])
                macs = ok[0]["macs"]
                row.update(median_ms=ms, min_ms=min(x["min_ms"] for x in ok), macs=macs,
                           gmacs=macs / (ms * 1e-3) * 1e-9, isa=ok[0].get("isa"),
                           engine=ok[0].get("engine"), mode=ok[0].get("mode"))
                # Which peak: the MAC-weighted majority of the layers' paths (f32 model: FMA).
                ls = ok[0].get("layers") or []
                by_kind = {}
                for l in ls:
                    by_kind[kind_of(l)] = by_kind.get(kind_of(l), 0) + l["macs"]
                ref, pk = peak_ref(max(by_kind, key=by_kind.get) if by_kind else "FMA", t)
                row.update(peak_ref=ref, peak_gmacs=pk,
                           pct_peak=None if not pk else 100 * row["gmacs"] / pk)
                if ls:
                    lrows = []
                    for i, l in enumerate(ls):
                        lms = med([x["layers"][i]["median_ms"] for x in ok])
                        lref, lpk = peak_ref(kind_of(l), t)
                        lg = l["macs"] / (lms * 1e-3) * 1e-9
                        lrows.append({"name": l["name"], "path": l.get("path"), "kernel": l.get("kernel"),
                                      "median_ms": lms, "macs": l["macs"], "gmacs": lg, "peak_ref": lref,
                                      "pct_peak": None if not lpk else 100 * lg / lpk})
                    row["layers"] = lrows
            rows[lab] = row
            summary.append(row)
        f32 = rows.get("f32", {}).get("median_ms")
        for row in rows.values():
            row["speedup_vs_f32"] = (f32 / row["median_ms"]) if f32 and row.get("median_ms") else None
        lines.append(f"## {size} low-res, {t} thread(s)\n")
        lines.append("% of peak: against the peak of the instruction most of the model's MACs run on "
                     "(FMA for the float paths; vpmaddwd for int16 pairs and for Winograd F(2x2,3x3), whose "
                     "GMAC/s count the direct conv's MACs while it multiplies 2.25x fewer, so it can pass 100%; "
                     "vpmaddubsw+vpmaddwd for u8 quads widened every step; vpmaddubsw for u8 quads summed in "
                     "int16, as `qsr info` prints each conv's kernel); the reference is named per row. Peaks at "
                     f"{t} thread(s). Speed-up = f32 ms / mode ms.\n")
        lines.append("| mode | median ms | GMAC/s | % of peak | speed-up vs our f32 |")
        lines.append("|---|---:|---:|---:|---:|")
        for lab in labels:
            row = rows[lab]
            if "median_ms" not in row:
                lines.append(f"| {lab} | failed | - | - | - |")
                continue
            pct = "-" if row["pct_peak"] is None else f"{row['pct_peak']:.1f}% ({row['peak_ref']})"
            lines.append(f"| {lab} | {row['median_ms']:.2f} | {row['gmacs']:.2f} | {pct} | "
                         f"{fmt(row['speedup_vs_f32'])}x |")
        lines.append("")

for t in threads:
    size = "640x360" if "640x360" in sizes else sizes[-1]
    rows = [r for r in summary if r["size"] == size and r["threads"] == t and r.get("layers")]
    if not rows:
        continue
    lines.append(f"## Per layer, {size}, {t} thread(s)\n")
    lines.append("| mode | conv | path | ms | GMAC/s | % of peak | kernel |")
    lines.append("|---|---|---|---:|---:|---:|---|")
    for r in rows:
        for l in r["layers"]:
            pct = "-" if l["pct_peak"] is None else f"{l['pct_peak']:.1f}% ({l['peak_ref']})"
            lines.append(f"| {r['label']} | {l['name']} | {l['path']} | {l['median_ms']:.2f} | "
                         f"{l['gmacs']:.2f} | {pct} | {l['kernel']} |")
    lines.append("")

lines.append("## Peers (int8)\n")
try:
    lines.append(open(peers_path).read().rstrip() + "\n")
except OSError:
    lines.append("_No peer comparison._\n")

md = "\n".join(lines)
open(md_path, "w").write(md)
json.dump({"peak": [peaks[t] for t in sorted(peaks)], "summary": summary, "raw": recs},
          open(json_path, "w"), indent=1)
print(md)
EOF
echo "int_engine.sh: wrote $out/int_engine.json and $out/int_engine.md" >&2
