// Image resizing that reproduces the reference implementations used by the
// super-resolution protocols:
//
//  - resize_pillow_bicubic: Pillow 9.4 `Image.resize((w, h), Image.BICUBIC)`
//    on 8-bit images, bit-exact. Pillow (libImaging/Resample.c): cubic kernel
//    a = -0.5, support 2 * max(1, in/out), centre (i + 0.5) * in/out, taps
//    from (int)(centre - support + 0.5) to (int)(centre + support + 0.5)
//    clipped to the image (no padding: the weights of the taps inside are
//    renormalised), weights in double, normalised, then converted to 22-bit
//    fixed point ((int)(w * 2^22 +- 0.5)); horizontal pass first (only on the
//    rows the vertical pass needs), 8-bit rounding ((acc + 2^21) >> 22,
//    clamped) after each pass; a pass whose size does not change is skipped.
//  - resize_tf_area: TensorFlow `tf.image.resize(method="area")`
//    (ResizeArea, align_corners=False): output cell [x*s, (x+1)*s) with
//    s = in/out (float); each input pixel weighted by its overlap with the
//    cell, divided by the cell area. Integer factors: plain box average.
//  - resize_tf_bilinear: TensorFlow `tf.image.resize(method="bilinear",
//    antialias=False)` (half-pixel centres): src = (i + 0.5) * in/out - 0.5,
//    lower = max(floor(src), 0), upper = min(ceil(src), in - 1),
//    lerp = src - floor(src).
//  - imresize_bicubic: MATLAB `imresize(I, scale, 'bicubic')` on double
//    data: output size ceil(scale * in); Keys cubic a = -0.5, width 4; when
//    downscaling the kernel is stretched by 1/scale (antialiasing,
//    h(x) = scale * cubic(scale * x)); u = x/scale + 0.5 * (1 - 1/scale)
//    (x 1-based); taps floor(u - width/2) + 0 .. ceil(width) + 1; weights
//    normalised to sum 1; symmetric padding (edge pixel repeated, mirrored).
//    Dimensions are processed smallest scale first, rows first on ties.
//    imresize_bicubic_u8 follows MATLAB on uint8 input: each pass rounds to
//    uint8 (half away from zero, saturating).
//
// TensorFlow and MATLAB are not available here: those two are implemented
// from their published definitions (and checked against NumPy versions of
// the same definitions and, for MATLAB, against the published Set5/Set14
// bicubic PSNR).
#pragma once
#include "models/image/image.h"

namespace qsr {

// Pillow BICUBIC resize of every channel of an 8-bit image to w x h.
Image resize_pillow_bicubic(const Image& im, int w, int h);

// TensorFlow area and bilinear resize of a float plane to w x h.
Plane resize_tf_area(const Plane& p, int w, int h);
Plane resize_tf_bilinear(const Plane& p, int w, int h);

// MATLAB imresize bicubic by one scale for both dimensions.
Plane imresize_bicubic(const Plane& p, double scale);
// ... to an explicit size (scale = out/in per dimension, as MATLAB does for
// an output size).
Plane imresize_bicubic(const Plane& p, int w, int h);
// On 8-bit data (every channel), rounding to 8 bits after each pass like MATLAB on uint8.
Image imresize_bicubic_u8(const Image& im, double scale);

// Batches of one-channel images, NHWC [n, h, w, 1] f32, by an integer factor r:
// area (box) downscale, each output the mean of its r x r cell (summed in double, then divided
// by r * r; rows and columns beyond a multiple of r are dropped), and nearest-neighbour upscale.
Tensor area_downscale(const Tensor& hr, int r);
Tensor nearest_upscale(const Tensor& lr, int r);

}  // namespace qsr
