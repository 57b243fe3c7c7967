// Colour conversions.
//
// 1. Pillow's full-range JPEG/JFIF YCbCr (`Image.convert("YCbCr")` and back
//    with `convert("RGB")`), bit-exact: Pillow (libImaging/ConvertYCbCr.c)
//    uses 6-bit fixed point, one table per coefficient:
//      T_c[i] = (int)(i * c * 64 + 0.5)           (C truncation toward zero)
//      Y  = (Y_R[r] + Y_G[g] + Y_B[b]) >> 6        c = 0.299, 0.587, 0.114
//      Cb = ((...) >> 6) + 128                     c = -0.16874, -0.33126, 0.5
//      Cr = ((...) >> 6) + 128                     c = 0.5, -0.41869, -0.08131
//    and back, with tables over (v - 128):
//      R = Y + (R_Cr[cr] >> 6)                     1.402
//      G = Y + ((G_Cb[cb] + G_Cr[cr]) >> 6)        -0.34414, -0.71414
//      B = Y + (B_Cb[cb] >> 6)                     1.772,   clamped to 0..255.
//    (>> is an arithmetic shift: a floor.) Checked on all 2^24 inputs in both
//    directions against Pillow 9.4.
//
//    TensorFlow's tf.image.rgb_to_yuv luma, 0.299 R + 0.587 G + 0.114 B on
//    [0, 1] floats, is the same weighting as Pillow's Y before rounding. The
//    differences: TF keeps the float (no rounding; values in [0, 1]); Pillow
//    rounds each table entry to 1/64 and then floors (not rounds) the sum, so
//    Pillow's Y is floor(255 * tf_y + e) with |e| <= 1.5/64: over all 2^24
//    colours it equals floor(255 * tf_y) for 99.2% (round() only for 50.8%),
//    and Y - 255 * tf_y lies in [-1.007, 0.023], mean -0.49. TF's
//    chroma (U, V in [-0.5, 0.5], coefficients -0.14714119, -0.28886916,
//    0.43601035 / 0.61497538, -0.51496512, -0.10001026) is a different
//    (analog YUV) scaling from YCbCr and is not provided here.
//
// 2. BT.601 studio range as MATLAB rgb2ycbcr (R, G, B in 0..255):
//      Y  = 16  + ( 65.481 R + 128.553 G +  24.966 B) / 255
//      Cb = 128 + (-37.797 R -  74.203 G + 112.0   B) / 255
//      Cr = 128 + (112.0   R -  93.786 G -  18.214 B) / 255
//    computed in double; the 8-bit variant rounds half away from zero like
//    MATLAB's uint8(). Grey images are treated as R = G = B.
#pragma once
#include <cstddef>
#include <cstdint>

#include "models/image/image.h"

namespace qsr {

// Pillow full-range YCbCr, interleaved triples (in and out may alias).
void pillow_rgb_to_ycbcr(const uint8_t* rgb, uint8_t* ycc, size_t pixels);
void pillow_ycbcr_to_rgb(const uint8_t* ycc, uint8_t* rgb, size_t pixels);
// Whole images: RGB (or grey, as R = G = B) -> 3-channel Y, Cb, Cr; and back.
Image pillow_rgb_to_ycbcr(const Image& rgb);
Image pillow_ycbcr_to_rgb(const Image& ycc);

// MATLAB rgb2ycbcr on one pixel (0..255 inputs), double results.
void bt601_rgb_to_ycbcr(double r, double g, double b, double& y, double& cb, double& cr);
// Planes Y, Cb, Cr (floats, not rounded) of an RGB or grey image.
void bt601_planes(const Image& im, Plane* y, Plane* cb, Plane* cr);
// Luma only, float (not rounded).
Plane bt601_luma(const Image& im);
// 8-bit variants, rounded half away from zero: Y only (1 channel) or Y, Cb, Cr.
Image bt601_luma_u8(const Image& im);
Image bt601_ycbcr_u8(const Image& im);

}  // namespace qsr
