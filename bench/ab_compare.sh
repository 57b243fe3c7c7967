#!/usr/bin/env bash
# Two qsr binaries timed against each other on the same model, in alternating rounds (A, B, A,
# B, ...), so that both see the same minutes of a machine whose speed drifts; reports the median
# and interquartile range of the per-round ratios B / A (below 1: B is faster).
#   bench/ab_compare.sh QSR_A QSR_B MODEL [ROUNDS] [RUNS] [SIZE] [THREADS]
# e.g. bench/ab_compare.sh /tmp/old/qsr build/tools/qsr models/pretrained/espcn_x3.safetensors 7 10 640x360 1
# Each round runs `qsr bench --model MODEL --size SIZE --runs RUNS --json` once per binary and
# takes its median_ms.
set -euo pipefail
A=${1:?usage: ab_compare.sh QSR_A QSR_B MODEL [ROUNDS] [RUNS] [SIZE] [THREADS]}
B=${2:?usage: ab_compare.sh QSR_A QSR_B MODEL [ROUNDS] [RUNS] [SIZE] [THREADS]}
MODEL=${3:?usage: ab_compare.sh QSR_A QSR_B MODEL [ROUNDS] [RUNS] [SIZE] [THREADS]}
ROUNDS=${4:-7}
RUNS=${5:-10}
SIZE=${6:-640x360}
THREADS=${7:-1}
for q in "$A" "$B"; do [ -x "$q" ] || { echo "ab_compare: $q is not an executable" >&2; exit 2; }; done
[ -f "$MODEL" ] || { echo "ab_compare: $MODEL: no such file" >&2; exit 2; }
echo "ab_compare: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); $ROUNDS rounds of $RUNS runs, $SIZE, $THREADS thread(s)"
median_ms() { "$1" --threads "$THREADS" bench --model "$MODEL" --size "$SIZE" --runs "$RUNS" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["median_ms"])'; }
ratios=()
for ((r = 1; r <= ROUNDS; ++r)); do
  a=$(median_ms "$A")
  b=$(median_ms "$B")
  ratio=$(python3 -c "print(f'{$b / $a:.4f}')")
  ratios+=("$ratio")
  echo "round $r: A $a ms, B $b ms, B/A $ratio"
done
python3 - "${ratios[@]}" <<'EOF'
import statistics, sys
r = sorted(float(v) for v in sys.argv[1:])
q = statistics.quantiles(r, n=4) if len(r) >= 2 else [r[0], r[0], r[0]]
print(f"B/A: median {statistics.median(r):.3f}, interquartile range {q[0]:.3f} .. {q[2]:.3f}, min {r[0]:.3f}, max {r[-1]:.3f} ({len(r)} rounds)")
EOF
