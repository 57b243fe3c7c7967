#!/usr/bin/python3
"""qsr peer benchmark: the ESPCN network in PyTorch (Debian python3-torch 1.13).

Run it with the system interpreter, /usr/bin/python3 (the pyenv python on the
dev machines has no torch), preferably with
GLIBC_TUNABLES=glibc.malloc.mmap_max=0 in the environment (compare.py sets
it; see the comment there).

Modes (common qsr bench contract: --size WxH --threads T --runs N --warmup N
--mode forward|train --batch N --json):
  forward  batch 1 (default), torch.no_grad(), model.eval().
  train    batch 8 (default) of 100x100 (default size in this mode) inputs,
           300x300 targets; one step = forward + MSE loss + backward +
           Adam(lr=1e-3, betas=(0.9, 0.999), eps=1e-7).

--dtype f32|int8 (default f32). int8 (forward only; --mode train with int8 is
a one-line error, exit 2) is eager-mode post-training static quantisation:
QuantStub -> (conv+ReLU fused, x4) -> DeQuantStub -> PixelShuffle(3) in f32,
fuse_modules + prepare + calibration on 4 random inputs + convert, with
torch.backends.quantized.engine = 'onednn' if this torch has it, else 'x86',
else 'fbgemm', else 'qnnpack' (JSON "qengine"). The timed forward includes the
input quantisation (QuantStub) and the dequantisation before PixelShuffle.

Memory format: --memory-format channels_last|contiguous. The default,
FORWARD_FORMAT / TRAIN_FORMAT below, is whichever was faster on the 2-core
AVX2 dev box with Debian's torch 1.13 (oneDNN/mkldnn backend): contiguous
(NCHW) in both modes; see the numbers next to the constants.

Depth-to-space: nn.PixelShuffle uses the CRD channel order
(in channel c*r*r + i*r + j), TensorFlow's depth_to_space uses DCR
((i*r + j)*C + c). With C = 1, as here, the two coincide; in any case the
order is irrelevant for timing (it is a pure permutation).
"""

import json
import math
import os
import statistics
import sys
import time

MAC_PER_PIXEL = 59488  # 5*5*1*64 + 3*3*64*64 + 3*3*64*32 + 3*3*32*9

# Measured on the dev box (2-core AMD EPYC, AVX2 only; Debian torch 1.13.1 whose
# convolutions go through its bundled oneDNN/mkldnn 2.6), 1 thread, with
# GLIBC_TUNABLES=glibc.malloc.mmap_max=0, two alternating runs each:
#   forward 640x360:  contiguous (NCHW) ~550-570 ms vs channels_last ~710-720 ms
#   train b8 100x100: contiguous ~720-740 ms       vs channels_last ~820-1060 ms
# so the default is contiguous (NCHW) for both modes. Noisy shared machine;
# re-check with --memory-format on other hardware.
FORWARD_FORMAT = "contiguous"
TRAIN_FORMAT = "contiguous"
# int8 (onednn qengine, same box, 1 thread, 640x360): contiguous ~300-320 ms vs
# channels_last ~250-325 ms on a loaded machine, no clear winner (quantised convs
# run NHWC internally either way); contiguous, as for f32.
INT8_FORMAT = "contiguous"
QENGINE_PREFERENCE = ("onednn", "x86", "fbgemm", "qnnpack")


def die(msg):
    sys.stderr.write("error: %s\n" % msg)
    sys.exit(2)


def parse_int(opt, value, min_value):
    try:
        v = int(value)
    except ValueError:
        die("invalid value for %s: '%s'" % (opt, value))
    if v < min_value or v > 1000000:
        die("invalid value for %s: '%s'" % (opt, value))
    return v


def parse_args(argv):
    o = {"size": None, "threads": 1, "runs": 10, "warmup": 2, "mode": "forward",
         "batch": None, "json": False, "memory_format": None, "dtype": "f32"}
    i = 0
    while i < len(argv):
        a = argv[i]

        def value():
            if i + 1 >= len(argv):
                die("missing value for %s" % a)
            return argv[i + 1]

        if a == "--json":
            o["json"] = True
            i += 1
            continue
        if a in ("-h", "--help"):
            sys.stdout.write(__doc__)
            sys.exit(0)
        if a == "--size":
            s = value()
            parts = s.lower().split("x")
            if len(parts) != 2:
                die("invalid --size '%s' (expected WxH)" % s)
            o["size"] = (parse_int("--size", parts[0], 1), parse_int("--size", parts[1], 1))
        elif a == "--threads":
            o["threads"] = parse_int(a, value(), 1)
        elif a == "--runs":
            o["runs"] = parse_int(a, value(), 1)
        elif a == "--warmup":
            o["warmup"] = parse_int(a, value(), 0)
        elif a == "--batch":
            o["batch"] = parse_int(a, value(), 1)
        elif a == "--mode":
            o["mode"] = value()
            if o["mode"] not in ("forward", "train"):
                die("invalid --mode '%s' (expected forward|train)" % o["mode"])
        elif a == "--dtype":
            o["dtype"] = value()
            if o["dtype"] not in ("f32", "int8"):
                die("invalid --dtype '%s' (expected f32|int8)" % o["dtype"])
        elif a == "--memory-format":
            o["memory_format"] = value()
            if o["memory_format"] not in ("channels_last", "contiguous"):
                die("invalid --memory-format '%s' (expected channels_last|contiguous)"
                    % o["memory_format"])
        else:
            die("unknown option '%s'" % a)
        i += 2
    train = o["mode"] == "train"
    if train and o["dtype"] == "int8":
        die("torch --dtype int8 supports only --mode forward")
    if o["size"] is None:
        o["size"] = (100, 100) if train else (640, 360)
    if o["batch"] is None:
        o["batch"] = 8 if train else 1
    if o["memory_format"] is None:
        o["memory_format"] = (TRAIN_FORMAT if train else
                              INT8_FORMAT if o["dtype"] == "int8" else FORWARD_FORMAT)
    return o


def main():
    o = parse_args(sys.argv[1:])
    try:
        import torch
        from torch import nn
    except ImportError as e:  # pragma: no cover - depends on the machine
        sys.stderr.write("error: cannot import torch (%s); run with /usr/bin/python3\n" % e)
        sys.exit(2)

    torch.set_num_threads(o["threads"])
    torch.manual_seed(1234)
    mf = torch.channels_last if o["memory_format"] == "channels_last" \
        else torch.contiguous_format

    def body():
        return nn.Sequential(
            nn.Conv2d(1, 64, 5, padding=2), nn.ReLU(inplace=True),
            nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(64, 32, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(32, 9, 3, padding=1), nn.ReLU(inplace=True))

    w, h = o["size"]
    n = o["batch"]
    qengine = None
    if o["dtype"] == "int8":
        model, qengine = quantized_model(torch, nn, body(), mf)
    else:
        model = nn.Sequential(
            *body(),
            nn.PixelShuffle(3),  # CRD order; equal to TF's DCR for C = 1 (see top)
        ).to(memory_format=mf)

    x = torch.rand(n, 1, h, w).contiguous(memory_format=mf)

    if o["dtype"] == "int8":
        def step():
            return model(x)

        with torch.no_grad():
            times, out = run_timed(step, o)
        finite = bool(torch.isfinite(out).all())
        if finite and not bool((out != 0).any()):
            sys.stderr.write("error: torch int8 produced an all-zero output\n")
            sys.exit(1)
    elif o["mode"] == "forward":
        model.eval()

        def step():
            return model(x)

        with torch.no_grad():
            times, out = run_timed(step, o)
        finite = bool(torch.isfinite(out).all())
    else:
        model.train()
        target = torch.rand(n, 1, 3 * h, 3 * w).contiguous(memory_format=mf)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
        loss_fn = nn.MSELoss()

        def step():
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), target)
            loss.backward()
            opt.step()
            return loss

        times, loss = run_timed(step, o)
        finite = math.isfinite(float(loss.detach()))

    if not finite:
        sys.stderr.write("error: torch produced non-finite output\n")
        sys.exit(1)
    report(o, times, torch.__version__, qengine)


def quantized_model(torch, nn, body, mf):
    """Eager-mode post-training static quantisation of the ESPCN body."""
    from torch.ao import quantization as tq

    engines = torch.backends.quantized.supported_engines
    qengine = next((e for e in QENGINE_PREFERENCE if e in engines), None)
    if qengine is None:
        sys.stderr.write("error: no quantized engine in this torch (%s)\n" % engines)
        sys.exit(2)
    torch.backends.quantized.engine = qengine

    class QESPCN(nn.Module):
        def __init__(self):
            super().__init__()
            self.quant = tq.QuantStub()
            self.body = body
            self.dequant = tq.DeQuantStub()
            self.shuffle = nn.PixelShuffle(3)  # in f32, after dequantisation

        def forward(self, x):
            return self.shuffle(self.dequant(self.body(self.quant(x))))

    model = QESPCN().eval()
    tq.fuse_modules(model.body, [["0", "1"], ["2", "3"], ["4", "5"], ["6", "7"]], inplace=True)
    model.qconfig = tq.get_default_qconfig(qengine)
    tq.prepare(model, inplace=True)
    with torch.no_grad():
        for _ in range(4):  # calibration: a few random images in [0, 1]
            model(torch.rand(1, 1, 96, 96).contiguous(memory_format=mf))
    tq.convert(model, inplace=True)
    return model, qengine


def run_timed(step, o):
    out = None
    for _ in range(o["warmup"]):
        out = step()
    times = []
    for _ in range(o["runs"]):
        t0 = time.perf_counter()
        out = step()
        times.append((time.perf_counter() - t0) * 1e3)
    return times, out


def report(o, times, torch_version, qengine=None):
    w, h = o["size"]
    med = statistics.median(times)
    macs = MAC_PER_PIXEL * w * h * o["batch"] * (3 if o["mode"] == "train" else 1)
    gmacs = macs / (med * 1e-3) / 1e9
    if o["json"]:
        print(json.dumps({
            "program": "torch-int8" if o["dtype"] == "int8" else "torch", "mode": o["mode"], "size": "%dx%d" % (w, h),
            "threads": o["threads"], "batch": o["batch"],
            "median_ms": round(med, 4), "min_ms": round(min(times), 4),
            "runs_ms": [round(t, 4) for t in times], "gmacs": round(gmacs, 3),
            "memory_format": o["memory_format"], "torch": torch_version,
            "glibc_tunables": os.environ.get("GLIBC_TUNABLES", ""),
            "dtype": o["dtype"], "qengine": qengine,
        }))
    else:
        print("torch %s %dx%d batch=%d threads=%d: median %.3f ms, min %.3f ms, %.2f GMAC/s [%s, %s%s]"
              % (o["mode"], w, h, o["batch"], o["threads"], med, min(times), gmacs,
                 o["memory_format"], o["dtype"],
                 ", qengine " + qengine if qengine else ""))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
