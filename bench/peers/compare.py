#!/usr/bin/env python3
"""Time qsr's ESPCN engine against peer implementations of the same network.

Runs our bench binary (build/bench/qsr_bench) and every available peer
(oneDNN direct and winograd, XNNPACK, PyTorch) in alternating rounds, each
with the common bench command line (--size --threads --runs --warmup --mode
--batch --json), and prints for every program the median over rounds of its
per-round median time, GMAC/s, and the ratio

    ours/peer = (qsr median ms) / (peer median ms)
    paired    = median over rounds of (qsr round median / peer round median)

so 0.50 means qsr takes half the peer's time (2x faster) and 2.00 means qsr
is 2x slower. Programs that are missing (not built, no torch) or that reject
the configuration (e.g. oneDNN winograd without AVX-512, forward-only peers in
--mode train) are skipped with a note.

--dtype int8 runs the quantised peers instead (onednn --dtype int8, xnnpack
--dtype qs8 and qc8, torch --dtype int8). --qsr-model PATH (repeatable) times
ours with `build/tools/qsr bench --model PATH ...` (one row per model, labelled
qsr:<file name>) instead of qsr_bench; with several models every one of them
gets its own ratio column.

Python 3 standard library only.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

MAC_PER_PIXEL = 59488
HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's python3-torch lives here, not in pyenv


def parse_list(values, what):
    """Flattens repeated / comma-separated / space-separated option values."""
    out = []
    flat = []
    for v in values:
        flat.extend(v if isinstance(v, list) else [v])
    for v in flat:
        for part in v.replace(",", " ").split():
            if part not in out:
                out.append(part)
    if not out:
        raise SystemExit("error: empty %s list" % what)
    return out


def parse_size(s):
    parts = s.lower().split("x")
    try:
        w, h = int(parts[0]), int(parts[1])
        if len(parts) != 2 or w <= 0 or h <= 0:
            raise ValueError
    except (ValueError, IndexError):
        die("invalid size '%s' (expected WxH)" % s)
    return "%dx%d" % (w, h), w, h


def die(msg):
    sys.stderr.write("error: %s\n" % msg)
    sys.exit(2)


def resolve(path_str):
    """A relative path is taken from the current directory, else the repo root."""
    p = Path(path_str)
    if p.is_absolute() or p.exists():
        return p
    alt = REPO_ROOT / p
    return alt if alt.exists() else p


class Program:
    # style "bench": the common bench contract (--size --threads --runs --warmup
    # --mode [--batch] --json); "qsr-tool": `qsr bench --model M`, which takes
    # only --size --threads --runs --warmup --json.
    def __init__(self, name, argv, env=None, modes=("forward", "train"), is_ours=False,
                 style="bench"):
        self.name = name
        self.argv = argv
        self.env = env
        self.modes = modes
        self.is_ours = is_ours
        self.style = style


def torch_available():
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        return False, "%s not found" % SYSTEM_PYTHON
    r = subprocess.run([SYSTEM_PYTHON, "-c", "import torch"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        last = (r.stderr.strip().splitlines() or ["import failed"])[-1]
        return False, "cannot import torch with %s (%s)" % (SYSTEM_PYTHON, last)
    return True, ""


def ours_programs(args, notes):
    """qsr_bench, or one `qsr bench --model M` program per --qsr-model."""
    if not args.qsr_model:
        ours = resolve(args.ours)
        if ours.is_file() and os.access(ours, os.X_OK):
            if args.dtype != "f32":
                notes.append("ours: %s is timed as is (no --qsr-model given), against %s peers"
                             % (args.ours, args.dtype))
            return [Program("qsr", [str(ours)], is_ours=True)]
        notes.append("ours: %s not found or not executable; showing peers only, no ratios"
                     % args.ours)
        return []
    models = parse_list(args.qsr_model, "--qsr-model")
    tool = resolve(args.qsr_tool)
    if not (tool.is_file() and os.access(tool, os.X_OK)):
        notes.append("ours: could not run `%s bench` (not found or not executable; not built "
                     "yet?); showing peers only, no ratios" % args.qsr_tool)
        return []
    progs = []
    names = set()
    for m in models:
        path = resolve(m)
        if not path.is_file():
            notes.append("ours: model %s not found; skipped" % m)
            continue
        name = "qsr:" + path.name
        k = 2
        while name in names:  # same file name in two folders
            name = "qsr:%s#%d" % (path.name, k)
            k += 1
        names.add(name)
        progs.append(Program(name, [str(tool), "bench", "--model", str(path)],
                             modes=("forward",), is_ours=True, style="qsr-tool"))
    return progs


def build_programs(args, notes):
    progs = ours_programs(args, notes)
    int8 = args.dtype == "int8"

    peers_dir = resolve(args.peers_dir)
    onednn = peers_dir / "qsr_peer_onednn"
    if onednn.is_file() and os.access(onednn, os.X_OK):
        if int8:
            progs.append(Program("onednn-direct-int8",
                                 [str(onednn), "--algo", "direct", "--dtype", "int8"],
                                 modes=("forward",)))
        else:
            for algo in ("direct", "winograd"):
                progs.append(Program("onednn-" + algo, [str(onednn), "--algo", algo],
                                     modes=("forward",)))
    else:
        notes.append("onednn: %s not found (not built? needs libdnnl-dev)" % onednn)

    xnn = peers_dir / "qsr_peer_xnnpack"
    if xnn.is_file() and os.access(xnn, os.X_OK):
        if int8:
            for q in ("qs8", "qc8"):
                progs.append(Program("xnnpack-" + q, [str(xnn), "--dtype", q],
                                     modes=("forward",)))
        else:
            progs.append(Program("xnnpack", [str(xnn)], modes=("forward",)))
    else:
        notes.append("xnnpack: %s not found (not built? needs libxnnpack-dev, "
                     "libpthreadpool-dev)" % xnn)

    script = HERE / "torch_espcn.py"
    ok, why = torch_available()
    if ok and script.is_file():
        env = dict(os.environ)
        # glibc's malloc serves PyTorch's large activation buffers with mmap and
        # returns them to the OS with munmap on free, so every forward call
        # page-faults all its activations in again (zeroed pages from the kernel).
        # That makes PyTorch look 2-10x slower than it is in a long-running
        # process that keeps its heap; mmap_max=0 makes malloc keep the memory
        # in the heap and reuse it, which is what we want to compare against.
        env["GLIBC_TUNABLES"] = "glibc.malloc.mmap_max=0"
        if int8:
            progs.append(Program("torch-int8", [SYSTEM_PYTHON, str(script), "--dtype", "int8"],
                                 env=env, modes=("forward",)))
        else:
            progs.append(Program("torch", [SYSTEM_PYTHON, str(script)], env=env))
    else:
        notes.append("torch: skipped (%s)" % (why or "%s missing" % script))

    if args.only:
        wanted = set(parse_list(args.only, "--only"))
        progs = [p for p in progs if p.name in wanted or
                 any(p.name.startswith(w + "-") or p.name.startswith(w + ":")
                     for w in wanted)]

    kept = []
    for p in progs:
        if args.mode not in p.modes:
            notes.append("%s: skipped (supports only --mode %s)" % (p.name, "|".join(p.modes)))
        else:
            kept.append(p)
    return kept


def run_once(prog, args, size, threads):
    cmd = prog.argv + ["--size", size, "--threads", str(threads), "--runs", str(args.runs),
                       "--warmup", str(args.warmup)]
    if prog.style == "bench":
        cmd += ["--mode", args.mode]
        if args.batch:
            cmd += ["--batch", str(args.batch)]
    cmd += ["--json"]
    try:
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=prog.env, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return None, "timed out after %d s" % args.timeout
    except OSError as e:
        return None, "could not start (%s)" % e
    if r.returncode != 0:
        lines = [l.strip() for l in r.stderr.strip().splitlines() if l.strip()] or ["(no message)"]
        msg = lines[-1]
        if prog.style == "qsr-tool" and len(lines) > 1:
            msg = lines[0] + " / " + lines[-1]  # CLI parsers put the reason first
        return None, "exit %d: %s" % (r.returncode, msg)
    for line in reversed(r.stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                res = json.loads(line)
            except json.JSONDecodeError:
                break
            if not isinstance(res, dict) or "median_ms" not in res:
                return None, "JSON without median_ms"
            return res, None
    return None, "no JSON object on stdout"


def info_of(res):
    """Short description of what ran, from a program's JSON extras."""
    parts = []
    if res.get("dtype") and res.get("dtype") != "f32":
        parts.append(str(res["dtype"]))
    if res.get("conv2_impl"):
        parts.append(str(res["conv2_impl"]))
    if res.get("qengine"):
        parts.append("qengine " + str(res["qengine"]))
    if res.get("isa"):
        parts.append("isa " + str(res["isa"]))
    return ", ".join(parts)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ours", default="build/bench/qsr_bench", help="our bench binary")
    ap.add_argument("--peers-dir", default="build/bench/peers",
                    help="folder with qsr_peer_onednn and qsr_peer_xnnpack")
    ap.add_argument("--dtype", choices=("f32", "int8"), default="f32",
                    help="peer data type: f32, or int8 (onednn int8, xnnpack qs8 + qc8, "
                         "torch int8)")
    ap.add_argument("--qsr-model", action="append", nargs="+", metavar="PATH",
                    help="time ours with `QSR_TOOL bench --model PATH` instead of --ours; "
                         "repeatable / comma list, one row per model")
    ap.add_argument("--qsr-tool", default="build/tools/qsr",
                    help="the qsr command-line tool (for --qsr-model)")
    ap.add_argument("--size", action="append", nargs="+", metavar="WxH",
                    help="low-res input size(s); repeatable or comma list "
                         "(default 640x360 for forward, 100x100 for train)")
    ap.add_argument("--threads", action="append", nargs="+", metavar="T",
                    help="thread count(s); repeatable or comma list (default 2)")
    ap.add_argument("--mode", choices=("forward", "train"), default="forward")
    ap.add_argument("--runs", type=int, default=10, help="timed runs per invocation")
    ap.add_argument("--warmup", type=int, default=2, help="warm-up runs per invocation")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds")
    ap.add_argument("--batch", type=int, default=0,
                    help="batch (default: each program's own, 1 forward / 8 train)")
    ap.add_argument("--only", action="append", nargs="+", metavar="NAME",
                    help="run only these programs (qsr, onednn, onednn-direct, "
                         "onednn-winograd, xnnpack, torch; qsr:<model file name>)")
    ap.add_argument("--timeout", type=int, default=900, help="seconds per invocation")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    # Bad options: one line on stderr, exit 2 (argparse prints usage too).
    ap.error = lambda msg: die(msg)
    args = ap.parse_args()
    if args.runs < 1 or args.rounds < 1 or args.warmup < 0 or args.batch < 0:
        die("--runs and --rounds must be >= 1, --warmup and --batch >= 0")

    default_size = "100x100" if args.mode == "train" else "640x360"
    sizes = [parse_size(s) for s in
             parse_list(args.size or [default_size], "--size")]
    threads = []
    for t in parse_list(args.threads or ["2"], "--threads"):
        if not t.isdigit() or int(t) < 1:
            die("invalid thread count '%s'" % t)
        threads.append(int(t))

    notes = []
    progs = build_programs(args, notes)
    log = sys.stderr if args.json else sys.stdout
    for n in notes:
        print("note: " + n, file=log)
    if not progs:
        die("nothing to run")

    results = []
    dropped = set()  # (program, size, threads) that failed once
    for size, w, h in sizes:
        for t in threads:
            per_round = {p.name: [] for p in progs}
            by_round = {p.name: {} for p in progs}  # round -> median ms (for paired ratios)
            mins = {p.name: [] for p in progs}
            last = {}
            for rnd in range(args.rounds):
                # Rotate the order each round so no program always runs first
                # (thermal / frequency / cache state drift).
                k = rnd % len(progs)
                for p in progs[k:] + progs[:k]:
                    key = (p.name, size, t)
                    if key in dropped:
                        continue
                    print("[round %d/%d] %s %s threads=%d ..." % (rnd + 1, args.rounds, p.name,
                                                                size, t),
                          file=sys.stderr, flush=True)
                    res, err = run_once(p, args, size, t)
                    if err is not None:
                        dropped.add(key)
                        if p.style == "qsr-tool":
                            msg = ("ours (%s) could not be run at %s threads=%d (%s); "
                                   "continuing with the peers"
                                   % (" ".join([Path(p.argv[0]).name] + p.argv[1:]), size,
                                      t, err))
                        else:
                            msg = "%s %s threads=%d: skipped (%s)" % (p.name, size, t, err)
                        notes.append(msg)
                        print("note: " + msg, file=log, flush=True)
                        continue
                    try:
                        per_round[p.name].append(float(res["median_ms"]))
                        by_round[p.name][rnd] = float(res["median_ms"])
                    except (TypeError, ValueError):
                        dropped.add(key)
                        msg = "%s %s threads=%d: skipped (bad median_ms)" % (p.name, size, t)
                        notes.append(msg)
                        print("note: " + msg, file=log, flush=True)
                        continue
                    mins[p.name].append(float(res.get("min_ms", res["median_ms"])))
                    last[p.name] = res
            ours_ms = {}  # ours program name -> median ms
            rows = []
            for p in progs:
                meds = per_round[p.name]
                if (p.name, size, t) in dropped or not meds:
                    continue
                med = statistics.median(meds)
                batch = int(last[p.name].get("batch", args.batch or
                                             (8 if args.mode == "train" else 1)))
                macs = MAC_PER_PIXEL * w * h * batch * (3 if args.mode == "train" else 1)
                row = {
                    "program": p.name, "mode": args.mode, "size": size, "threads": t,
                    "batch": batch, "median_ms": round(med, 4),
                    "round_medians_ms": [round(m, 4) for m in meds],
                    "min_ms": round(min(mins[p.name]), 4),
                    "gmacs": round(macs / (med * 1e-3) / 1e9, 3),
                    "dtype": last[p.name].get("dtype", "f32"),
                    "info": info_of(last[p.name]),
                }
                for k in ("conv2_impl", "impl", "qengine", "isa", "d2s", "quant_io"):
                    if k in last[p.name]:
                        row[k] = last[p.name][k]
                if p.is_ours:
                    ours_ms[p.name] = med
                rows.append(row)
            for row in rows:
                # ours_over_peer: relative to the first ours row; "ratios": one
                # entry per ours program (several with more than one --qsr-model).
                row["ratios"] = {o: round(m / row["median_ms"], 4) for o, m in ours_ms.items()}
                first = next(iter(ours_ms.values()), None)
                row["ours_over_peer"] = (round(first / row["median_ms"], 4)
                                         if first is not None else None)
                # Paired: the median over rounds of that round's ours / peer (both measured
                # minutes apart at most, so drifts of the machine's speed cancel).
                row["paired_ratios"] = {}
                for o in ours_ms:
                    pr = [by_round[o][k] / by_round[row["program"]][k] for k in by_round[o]
                          if k in by_round[row["program"]]]
                    if pr:
                        row["paired_ratios"][o] = round(statistics.median(pr), 4)
            results.extend(rows)

    if args.json:
        print(json.dumps({"mode": args.mode, "dtype": args.dtype, "runs": args.runs,
                          "rounds": args.rounds,
                          "ratio": "ours_over_peer = qsr median ms / program median ms",
                          "results": results, "notes": notes}))
        return 0

    print()
    ours_names = [p.name for p in progs if p.is_ours]
    if len(ours_names) > 1:
        ratio_hdr = tuple("%s/peer" % o for o in ours_names) + tuple("paired" for o in ours_names)
    else:
        ratio_hdr = ("ours/peer", "paired")
    hdr = ("program", "size", "threads", "median ms", "GMAC/s") + ratio_hdr + ("info",)
    table = [hdr]
    for r in results:
        paired = tuple("-" if o not in r["paired_ratios"] else "%.2f" % r["paired_ratios"][o]
                       for o in ours_names)
        if len(ours_names) > 1:
            ratios = tuple("-" if o not in r["ratios"] else "%.2f" % r["ratios"][o]
                           for o in ours_names) + paired
        else:
            ratios = ("-" if r["ours_over_peer"] is None else "%.2f" % r["ours_over_peer"],) + (paired or ("-",))
        table.append((r["program"], r["size"], str(r["threads"]), "%.2f" % r["median_ms"],
                      "%.2f" % r["gmacs"]) + ratios + (r["info"],))
    widths = [max(len(row[i]) for row in table) for i in range(len(hdr))]
    for i, row in enumerate(table):
        cells = ([row[0].ljust(widths[0])] +
                 [c.rjust(wd) for c, wd in zip(row[1:-1], widths[1:-1])] + [row[-1]])
        print("  ".join(cells).rstrip())
        if i == 0:
            print("  ".join("-" * wd for wd in widths))
    print("\nmode=%s, dtype=%s, batch=%s, %d rounds x %d runs; median ms = median over rounds "
          "of each round's median.\nours/peer = qsr time / peer time (< 1 means qsr is faster); paired = "
          "the median over rounds of each round's ours / peer (in the order of the ours/peer columns)."
          % (args.mode, args.dtype, args.batch or "default", args.rounds, args.runs))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
