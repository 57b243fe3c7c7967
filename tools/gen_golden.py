#!/usr/bin/python3
"""Generates the golden files of tests/test_image.cpp into tests/fixtures/.

Run with Debian's Python (NumPy 1.24, Pillow 9.4):  /usr/bin/python3 tools/gen_golden.py
Everything is synthetic and deterministic (fixed NumPy seed); nothing is taken
from ../shared/data.

Reference outputs:
  * Pillow 9.4: image decoding (PNG variants, JPEG), convert("YCbCr") and back,
    resize(..., Image.BICUBIC).
  * NumPy transcriptions of published definitions (TensorFlow and MATLAB are
    not installable here): MATLAB rgb2ycbcr (BT.601 studio range), MATLAB
    imresize bicubic (contributions() with antialiasing, symmetric padding),
    TensorFlow resize area and bilinear (half-pixel centres), with float32
    sample positions as TensorFlow computes them.

Formats: 8-bit images as PNG; float planes as "<name>.f32": an ASCII line
"QSRF <width> <height>\n" followed by width*height little-endian float32.
"""
import io
import os
import struct
import sys
import zlib

import warnings

import numpy as np
from PIL import Image

# Pillow warns about palette PNGs with tRNS bytes; decoding them is the point.
warnings.filterwarnings("ignore", message="Palette images with Transparency")

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")
rng = np.random.default_rng(20240611)


def path(name):
    return os.path.join(OUT, name)


def save_png(arr, name):
    arr = np.asarray(arr, dtype=np.uint8)
    Image.fromarray(arr, "L" if arr.ndim == 2 else "RGB").save(path(name), optimize=True)


def save_f32(arr, name):
    arr = np.asarray(arr, dtype=np.float64)
    h, w = arr.shape
    with open(path(name), "wb") as f:
        f.write(b"QSRF %d %d\n" % (w, h))
        f.write(arr.astype("<f4").tobytes())


def synthetic_rgb(w, h):
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 255 * x / max(w - 1, 1)
    g = 255 * y / max(h - 1, 1)
    b = 127.5 + 127.5 * np.sin(x * 0.7 + y * 0.3)
    img = np.stack([r, g, b], -1) + rng.normal(0, 25, (h, w, 3))
    img[0, 0] = [0, 0, 0]
    img[-1, -1] = [255, 255, 255]
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def synthetic_grey(w, h):
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = 128 + 100 * np.cos(x * 0.5) * np.sin(y * 0.4) + rng.normal(0, 20, (h, w))
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


# ---- minimal PNG writer for the variants Pillow cannot save -------------------

def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bytes(w, h, colortype, depth, rows, plte=None, trns=None):
    raw = b"".join(b"\x00" + r for r in rows)
    out = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, colortype, 0, 0, 0))
    if plte is not None:
        out += png_chunk(b"PLTE", plte)
    if trns is not None:
        out += png_chunk(b"tRNS", trns)
    return out + png_chunk(b"IDAT", zlib.compress(raw, 9)) + png_chunk(b"IEND", b"")


def pack_bits(vals, depth):
    """Packs a row of small integers (depth 1, 2, 4) big-endian into bytes."""
    per = 8 // depth
    vals = list(vals) + [0] * (-len(vals) % per)
    out = bytearray()
    for i in range(0, len(vals), per):
        b = 0
        for v in vals[i:i + per]:
            b = (b << depth) | int(v)
        out.append(b)
    return bytes(out)


def png_variants():
    w, h = 13, 9
    g16 = rng.integers(0, 65536, (h, w), dtype=np.uint32)
    rgb16 = rng.integers(0, 65536, (h, w, 3), dtype=np.uint32)
    a16 = rng.integers(0, 65536, (h, w), dtype=np.uint32)
    g8 = (g16 >> 8).astype(np.uint8)
    rgb8 = (rgb16 >> 8).astype(np.uint8)
    a8 = (a16 >> 8).astype(np.uint8)
    be16 = lambda a: a.astype(">u2").tobytes()
    v = {}
    for depth in (1, 2, 4):
        vals = rng.integers(0, 1 << depth, (h, w))
        v["grey%d" % depth] = png_bytes(w, h, 0, depth, [pack_bits(r, depth) for r in vals])
    v["grey8"] = png_bytes(w, h, 0, 8, [r.tobytes() for r in g8])
    v["grey8_trns"] = png_bytes(w, h, 0, 8, [r.tobytes() for r in g8], trns=struct.pack(">H", int(g8[0, 0])))
    v["grey16"] = png_bytes(w, h, 0, 16, [be16(r) for r in g16])
    v["la8"] = png_bytes(w, h, 4, 8, [np.stack([g8[i], a8[i]], -1).tobytes() for i in range(h)])
    v["la16"] = png_bytes(w, h, 4, 16, [be16(np.stack([g16[i], a16[i]], -1)) for i in range(h)])
    v["rgb8"] = png_bytes(w, h, 2, 8, [r.tobytes() for r in rgb8])
    v["rgb8_trns"] = png_bytes(w, h, 2, 8, [r.tobytes() for r in rgb8], trns=struct.pack(">HHH", *map(int, rgb8[0, 0])))
    v["rgb16"] = png_bytes(w, h, 2, 16, [be16(r) for r in rgb16])
    v["rgba8"] = png_bytes(w, h, 6, 8, [np.concatenate([rgb8[i], a8[i][:, None]], -1).tobytes() for i in range(h)])
    v["rgba16"] = png_bytes(w, h, 6, 16, [be16(np.concatenate([rgb16[i], a16[i][:, None]], -1)) for i in range(h)])
    for depth in (1, 2, 4, 8):
        n = 1 << depth
        pal = rng.integers(0, 256, (n, 3), dtype=np.uint8)
        idx = rng.integers(0, n, (h, w))
        rows = [pack_bits(r, depth) if depth < 8 else r.astype(np.uint8).tobytes() for r in idx]
        trns = bytes(rng.integers(0, 256, n // 2 + 1, dtype=np.uint8)) if depth >= 2 else None
        v["pal%d" % depth] = png_bytes(w, h, 3, depth, rows, plte=pal.tobytes(), trns=trns)
    for name, data in v.items():
        with open(path("png_%s.png" % name), "wb") as f:
            f.write(data)
        im = Image.open(io.BytesIO(data))
        grey = name.startswith(("grey", "la"))
        if name == "grey16":
            # Pillow opens 16-bit grey as mode "I" and convert("L") clips values
            # above 255; we keep the high byte instead (as Pillow does for
            # 16-bit RGB, RGBA and LA), so this one golden is not Pillow's.
            ref = g8
        else:
            ref = np.array(im.convert("L" if grey else "RGB"))
        save_png(ref, "png_%s.ref.png" % name)


# ---- MATLAB imresize (bicubic) ------------------------------------------------

def matlab_cubic(x):
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    return (1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1) + (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((1 < ax) & (ax <= 2))


def contributions(in_len, out_len, scale):
    kw = 4.0
    if scale < 1:
        h = lambda x: scale * matlab_cubic(scale * x)
        kw = kw / scale
    else:
        h = matlab_cubic
    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - kw / 2)
    p = int(np.ceil(kw)) + 2
    ind = left[:, None] + np.arange(p)[None, :]
    w = h(u[:, None] - ind)
    w = w / w.sum(1, keepdims=True)
    aux = np.concatenate([np.arange(in_len), np.arange(in_len)[::-1]])
    idx = aux[np.mod(ind.astype(np.int64) - 1, 2 * in_len)]
    return w, idx


def imresize(a, scale=None, size=None, round8=False):
    a = np.asarray(a, dtype=np.float64)
    h, w = a.shape
    if size is not None:
        ow, oh = size
        sx, sy = ow / w, oh / h
    else:
        sx = sy = scale
        ow, oh = int(np.ceil(w * scale - 1e-9)), int(np.ceil(h * scale - 1e-9))
    rnd = (lambda v: np.clip(np.floor(v + 0.5), 0, 255)) if round8 else (lambda v: v)

    def rows(a):
        wv, iv = contributions(a.shape[0], oh, sy)
        return rnd((a[iv, :] * wv[:, :, None]).sum(1))

    def cols(a):
        wh, ih = contributions(a.shape[1], ow, sx)
        return rnd((a[:, ih] * wh[None, :, :]).sum(2))

    return cols(rows(a)) if sy <= sx else rows(cols(a))


# ---- TensorFlow resize --------------------------------------------------------

def tf_area(a, ow, oh):
    a = np.asarray(a, dtype=np.float64)
    h, w = a.shape
    if h % oh == 0 and w % ow == 0:  # integer factors: plain box average
        return a.reshape(oh, h // oh, ow, w // ow).mean(axis=(1, 3))

    def matrix(out, n):
        s = np.float32(n) / np.float32(out)
        m = np.zeros((out, n))
        for i in range(out):
            lo, hi = np.float32(i) * s, np.float32(i + 1) * s
            for j in range(int(np.floor(lo)), int(np.ceil(hi))):
                m[i, min(j, n - 1)] += float(min(hi, np.float32(j + 1))) - float(max(lo, np.float32(j)))
        return m / float(s)

    return matrix(oh, h) @ a @ matrix(ow, w).T


def tf_bilinear(a, ow, oh):
    a = np.asarray(a, dtype=np.float64)
    h, w = a.shape

    def lerp(out, n):
        s = np.float32(n) / np.float32(out)
        src = (np.arange(out, dtype=np.float32) + np.float32(0.5)) * s - np.float32(0.5)
        f = np.floor(src)
        lo = np.maximum(f, 0).astype(np.int64)
        hi = np.minimum(np.ceil(src), n - 1).astype(np.int64)
        return lo, hi, (src - f).astype(np.float64)

    ylo, yhi, yt = lerp(oh, h)
    xlo, xhi, xt = lerp(ow, w)
    top = a[ylo][:, xlo] + (a[ylo][:, xhi] - a[ylo][:, xlo]) * xt[None, :]
    bot = a[yhi][:, xlo] + (a[yhi][:, xhi] - a[yhi][:, xlo]) * xt[None, :]
    return top + (bot - top) * yt[:, None]


# ---- main ---------------------------------------------------------------------

def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        os.remove(path(f))
    inputs = {
        "rgb_48x36": synthetic_rgb(48, 36),
        "rgb_23x17": synthetic_rgb(23, 17),
        "grey_31x20": synthetic_grey(31, 20),
    }
    for name, arr in inputs.items():
        save_png(arr, name + ".png")

    # JPEG, encoded and decoded by Pillow.
    jpegs = {
        "rgb_48x36_q90": (inputs["rgb_48x36"], dict(quality=90)),  # 4:2:0
        "rgb_48x36_prog": (inputs["rgb_48x36"], dict(quality=75, progressive=True)),
        "rgb_23x17_444": (inputs["rgb_23x17"], dict(quality=95, subsampling=0)),
        "rgb_23x17_422": (inputs["rgb_23x17"], dict(quality=80, subsampling=1)),
        "rgb_23x17_420": (inputs["rgb_23x17"], dict(quality=70, subsampling=2)),
        "grey_31x20": (inputs["grey_31x20"], dict(quality=85)),
    }
    for name, (arr, kw) in jpegs.items():
        Image.fromarray(arr).save(path(name + ".jpg"), **kw)
        dec = Image.open(path(name + ".jpg"))
        assert dec.mode in ("L", "RGB")
        save_png(np.array(dec), name + ".jpg.ref.png")

    png_variants()

    # Pillow YCbCr: random triples plus every grey level, and back.
    trip = rng.integers(0, 256, (2048, 3), dtype=np.uint8)
    grey = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, 1)
    ycc_in = np.concatenate([trip, grey]).reshape(36, 64, 3)
    save_png(ycc_in, "ycc_in.png")
    save_png(np.array(Image.fromarray(ycc_in, "RGB").convert("YCbCr")), "ycc_fwd.ref.png")
    save_png(np.array(Image.frombytes("YCbCr", (64, 36), ycc_in.tobytes()).convert("RGB")), "ycc_inv.ref.png")

    # MATLAB rgb2ycbcr, BT.601 studio range.
    rgb = inputs["rgb_23x17"].astype(np.float64)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
    cb = 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255
    cr = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255
    save_f32(y, "bt601_y.f32")
    save_f32(cb, "bt601_cb.f32")
    save_f32(cr, "bt601_cr.f32")
    save_png(np.clip(np.floor(np.stack([y, cb, cr], -1) + 0.5), 0, 255), "bt601_u8.ref.png")

    # Pillow BICUBIC.
    targets = {
        "rgb_48x36": [(24, 18), (16, 12), (12, 9), (29, 11), (7, 40), (48, 13), (1, 1)],
        "rgb_23x17": [(11, 8), (7, 5), (5, 4), (46, 34), (69, 51), (30, 10)],
        "grey_31x20": [(15, 10), (10, 6), (7, 5), (62, 40), (93, 60), (40, 20), (31, 7)],
    }
    for name, sizes in targets.items():
        im = Image.fromarray(inputs[name])
        for (w, h) in sizes:
            save_png(np.array(im.resize((w, h), Image.BICUBIC)), "pil_bicubic_%s_%dx%d.png" % (name, w, h))

    # Planes for the float resizers: channel 1 of rgb_48x36, the grey image.
    planes = {"p48": inputs["rgb_48x36"][..., 1].astype(np.float64), "p31": inputs["grey_31x20"].astype(np.float64),
              "p23": inputs["rgb_23x17"][..., 0].astype(np.float64)}
    for (w, h) in [(24, 18), (16, 12), (12, 9), (17, 13), (10, 7), (40, 26)]:
        save_f32(tf_area(planes["p48"], w, h), "tf_area_p48_%dx%d.f32" % (w, h))
    for (w, h) in [(13, 7), (40, 26), (10, 10)]:
        save_f32(tf_area(planes["p31"], w, h), "tf_area_p31_%dx%d.f32" % (w, h))
    for (w, h) in [(17, 13), (24, 18), (50, 40), (100, 11)]:
        save_f32(tf_bilinear(planes["p48"], w, h), "tf_bilinear_p48_%dx%d.f32" % (w, h))
    for (w, h) in [(13, 7), (45, 31)]:
        save_f32(tf_bilinear(planes["p31"], w, h), "tf_bilinear_p31_%dx%d.f32" % (w, h))
    for name, scales in [("p48", ["d2", "d3", "d4"]), ("p31", ["d2", "d3", "u2"]), ("p23", ["d3", "u2", "u3"])]:
        for tag in scales:
            s = {"d2": 1 / 2, "d3": 1 / 3, "d4": 1 / 4, "u2": 2, "u3": 3}[tag]
            save_f32(imresize(planes[name], scale=s), "matlab_%s_%s.f32" % (name, tag))
    save_f32(imresize(planes["p48"], size=(29, 11)), "matlab_p48_29x11.f32")
    save_f32(imresize(planes["p31"], size=(40, 9)), "matlab_p31_40x9.f32")
    # uint8 variant (rounding after each pass), every channel.
    for name, s, tag in [("rgb_48x36", 1 / 3, "d3"), ("rgb_23x17", 3, "u3"), ("grey_31x20", 1 / 2, "d2")]:
        arr = inputs[name]
        chans = [arr] if arr.ndim == 2 else [arr[..., c] for c in range(3)]
        out = [imresize(c.astype(np.float64), scale=s, round8=True) for c in chans]
        save_png(out[0] if arr.ndim == 2 else np.stack(out, -1), "matlab_u8_%s_%s.png" % (name, tag))

    total = sum(os.path.getsize(path(f)) for f in os.listdir(OUT))
    print("wrote %d files, %d bytes, to %s" % (len(os.listdir(OUT)), total, os.path.normpath(OUT)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
