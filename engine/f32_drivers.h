// Whole-op f32 drivers: padding, weight packing, splitting work across
// threads (parallel_for) and calling one kernel table's kernels. Tests run
// them with every runnable table against the reference specification.
#pragma once
#include <cstddef>
#include <cstdint>

#include "engine/kernels/f32/f32_kernels.h"

namespace qsr {

// Packs HWIO weights into [cb][ky][kx*cin+ci][16] blocks, zero beyond cout.
void pack_conv_weights(const ConvGeom& g, const float* w_hwio, float* wpack);
// Floats of the complete buffer conv_fwd_row reads, and that buffer: the blocks of
// pack_conv_weights followed by the last block's channels as columns.
size_t packed_conv_weights_size(const ConvGeom& g);
void pack_conv_weights_for_fwd(const ConvGeom& g, const float* w_hwio, float* wpack);
// The same buffer of IEEE half weights (bit patterns), packed_conv_weights_size(g) halves,
// for conv2d_forward_f16w: float16 models pack once at load time and keep half weights.
void pack_conv_weights_for_fwd_f16(const ConvGeom& g, const uint16_t* w_hwio_f16, uint16_t* wpack);
// Same for the data-gradient conv: kernel flipped in space, cin and cout swapped.
void pack_conv_weights_transposed(const ConvGeom& g, const float* w_hwio, float* wpack);

// y = conv(x, w) + b, optionally followed by relu. b may be null.
void conv2d_forward(const F32Kernels& K, const ConvGeom& g, const float* x, const float* w, const float* b, float* y,
                    bool relu = false);
// conv2d_forward (the direct algorithm) with half weights already packed by
// pack_conv_weights_for_fwd_f16, widened to float in the kernel (conv_fwd_row_f16w): the
// same bits as conv2d_forward on the weights f16_to_f32(w). b may be null.
void conv2d_forward_f16w(const F32Kernels& K, const ConvGeom& g, const float* x, const uint16_t* wpack_f16,
                         const float* b, float* y, bool relu = false);
void conv2d_backward_data(const F32Kernels& K, const ConvGeom& g, const float* gy, const float* w, float* gx);
// Overwrites gw (HWIO) and, when not null, gb.
void conv2d_backward_weights(const F32Kernels& K, const ConvGeom& g, const float* x, const float* gy, float* gw,
                             float* gb);

void depth_to_space(const F32Kernels& K, int n, int h, int w, int c, int r, const float* in, float* out);
void space_to_depth(const F32Kernels& K, int n, int h, int w, int c, int r, const float* in, float* out);
void relu_forward(const F32Kernels& K, int64_t n, const float* x, float* y);
void relu_backward(const F32Kernels& K, int64_t n, const float* y, const float* gy, float* gx);

}  // namespace qsr
