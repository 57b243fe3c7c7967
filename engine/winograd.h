// Winograd F(4x4, 3x3) convolution drivers: the same contracts as the direct drivers
// of f32_drivers.h (stride 1, 'same' zero padding, NHWC, HWIO weights), for k == 3
// only. Results differ from the direct path by rounding (see docs/ENGINE.md for the
// measured error); they are bitwise identical for any thread count.
#pragma once
#include "engine/kernels/f32/f32_kernels.h"

namespace qsr {

// y = conv(x, w) + b, optionally followed by relu. b may be null.
void winograd_conv2d_forward(const F32Kernels& K, const ConvGeom& g, const float* x, const float* w, const float* b,
                             float* y, bool relu = false);
// gx = the data gradient: the forward algorithm with the flipped kernel, cin and cout swapped.
void winograd_conv2d_backward_data(const F32Kernels& K, const ConvGeom& g, const float* gy, const float* w, float* gx);
// Overwrites gw (HWIO) and, when not null, gb.
void winograd_conv2d_backward_weights(const F32Kernels& K, const ConvGeom& g, const float* x, const float* gy, float* gw,
                                      float* gb);

}  // namespace qsr
