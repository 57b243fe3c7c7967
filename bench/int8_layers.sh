#!/usr/bin/env bash
# Per-layer time of a quantised model on the integer engine against oneDNN's int8 convolutions,
# in alternating rounds, with the median of each round's ratio (ours / oneDNN) per layer:
#   bench/int8_layers.sh MODEL [THREADS] [ROUNDS]      (defaults: 1 thread, 7 rounds)
# oneDNN's per-layer times come from its own verbose log (DNNL_VERBOSE=1: each primitive's
# execution time), of the peer program bench/peers/onednn_espcn.cpp (random int8 weights of
# the same network; only the timing compares). Ours: `qsr bench --layers --json`, whose conv1
# includes the input quantisation and conv4 the output's dequantisation and depth-to-space
# (oneDNN's reorders before and after are not counted on its side).
# Environment: QSR (build/tools/qsr), ONEDNN (<QSR's build dir>/bench/peers/qsr_peer_onednn),
# SIZE (640x360), RUNS (5 timed runs per invocation, after 1 warm-up).
set -euo pipefail
usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; }
[ $# -ge 1 ] && [ "$1" != "-h" ] && [ "$1" != "--help" ] || { usage; [ $# -ge 1 ]; exit; }
model=$1 threads=${2:-1} rounds=${3:-7}
root=$(cd "$(dirname "$0")/.." && pwd)
QSR=${QSR:-$root/build/tools/qsr}
ONEDNN=${ONEDNN:-$(dirname "$QSR")/../bench/peers/qsr_peer_onednn}
SIZE=${SIZE:-640x360} RUNS=${RUNS:-5}
[ -f "$model" ] || { echo "int8_layers.sh: no model file '$model'" >&2; exit 1; }
[ -x "$QSR" ] || { echo "int8_layers.sh: no qsr tool at $QSR (set QSR)" >&2; exit 1; }
[ -x "$ONEDNN" ] || { echo "int8_layers.sh: no oneDNN peer at $ONEDNN (build it: scripts/deps.sh --peers; set ONEDNN)" >&2; exit 1; }
[[ "$threads" =~ ^[1-9][0-9]*$ && "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "int8_layers.sh: THREADS and ROUNDS must be positive integers" >&2; exit 1; }
raw=$(mktemp)
trap 'rm -f "$raw"' EXIT
for r in $(seq "$rounds"); do
  echo "int8_layers.sh: round $r/$rounds" >&2
  "$QSR" --threads "$threads" bench --model "$model" --size "$SIZE" --runs "$RUNS" --warmup 1 --layers --json |
    python3 -c "import json,sys; d=json.load(sys.stdin); print('qsr', $r, ' '.join(str(l['median_ms']) for l in d['layers']))" >> "$raw"
  DNNL_VERBOSE=1 OMP_NUM_THREADS=$threads "$ONEDNN" --dtype int8 --algo direct --size "$SIZE" --threads "$threads" \
      --runs "$RUNS" --warmup 1 2>&1 |
    python3 -c "
import statistics, sys
t = [float(l.strip().split(',')[-1]) for l in sys.stdin if l.startswith('onednn_verbose,exec') and ',convolution,' in l]
n = len(t) // 4  # runs (warm-up first), four convs each
print('onednn', $r, ' '.join(str(statistics.median(t[4 + i::4])) for i in range(4)))" >> "$raw"
done
python3 - "$raw" "$model" "$threads" "$SIZE" <<'EOF'
import collections, statistics, sys
raw, model, threads, size = sys.argv[1:5]
d = collections.defaultdict(dict)
for line in open(raw):
    p = line.split()
    d[p[0]][p[1]] = [float(x) for x in p[2:]]
rounds = sorted(set(d["qsr"]) & set(d["onednn"]))
print(f"{model}, {size}, {threads} thread(s), {len(rounds)} alternating rounds (ms: median over rounds; ratio: median of the rounds' ours/oneDNN)")
print("| conv | qsr ms | oneDNN int8 ms | qsr / oneDNN |")
print("|---|---:|---:|---:|")
tq, to, tr = [], [], []
for i in range(4):
    q = [d["qsr"][r][i] for r in rounds]
    o = [d["onednn"][r][i] for r in rounds]
    print(f"| conv{i + 1} | {statistics.median(q):.2f} | {statistics.median(o):.2f} | {statistics.median([a / b for a, b in zip(q, o)]):.3f} |")
sq = [sum(d["qsr"][r]) for r in rounds]
so = [sum(d["onednn"][r]) for r in rounds]
print(f"| all four | {statistics.median(sq):.2f} | {statistics.median(so):.2f} | {statistics.median([a / b for a, b in zip(sq, so)]):.3f} |")
EOF
