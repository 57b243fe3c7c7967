// The scalar specification of every f32 op: plain loops over unpadded NHWC
// data and HWIO weights, accumulating in double. Optimised drivers and every
// ISA's kernels are tested against these.
#pragma once
#include <cstdint>

#include "engine/kernels/f32/f32_kernels.h"

namespace qsr::ref {

// y[n,y,x,co] = b[co] + sum_{ky,kx,ci} x[n, y+ky-p, x+kx-p, ci] * w[ky,kx,ci,co] (zero outside), then relu.
void conv2d_forward(const ConvGeom& g, const float* x, const float* w, const float* b, float* y, bool relu);
// gx = d(sum y*gy)/dx for the conv above without relu.
void conv2d_backward_data(const ConvGeom& g, const float* gy, const float* w, float* gx);
// gw (and gb when not null) = gradients for the conv above without relu (overwritten).
void conv2d_backward_weights(const ConvGeom& g, const float* x, const float* gy, float* gw, float* gb);
// in: n x h x w x (r*r*c); out: n x (h*r) x (w*r) x c, TensorFlow depth_to_space ordering.
void depth_to_space(int n, int h, int w, int c, int r, const float* in, float* out);
void space_to_depth(int n, int h, int w, int c, int r, const float* in, float* out);  // exact inverse
void relu_fwd(int64_t n, const float* x, float* y);
void relu_bwd(int64_t n, const float* y, const float* gy, float* gx);

}  // namespace qsr::ref
