#include "engine/f32_drivers.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "engine/parallel.h"
#include "engine/tensor.h"

namespace qsr {

namespace {
// Per-thread scratch that keeps its size between calls, so repeated
// inference does not page-fault fresh buffers on every layer.
struct Scratch {
  AlignedBuffer<float> pad, wpack, bias, gw;
};
Scratch& scratch() {
  static thread_local Scratch s;
  return s;
}
void ensure(AlignedBuffer<float>& b, size_t n) {
  if (b.size() < n) b.resize(n);
}

// Zero-padded copy of NHWC x into n x hp x wp x c.
void pad_input(const ConvGeom& g, const float* x, float* xp) {
  const int p = g.pad(), hp = g.hp(), wp = g.wp(), c = g.cin;
  const int64_t prow = int64_t(wp) * c;
  parallel_for(int64_t(g.n) * hp, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      int n = static_cast<int>(r / hp), y = static_cast<int>(r % hp) - p;
      float* dst = xp + r * prow;
      if (y < 0 || y >= g.h) {
        std::memset(dst, 0, prow * sizeof(float));
        continue;
      }
      std::memset(dst, 0, int64_t(p) * c * sizeof(float));
      std::memcpy(dst + int64_t(p) * c, x + (int64_t(n) * g.h + y) * g.w * c, int64_t(g.w) * c * sizeof(float));
      std::memset(dst + int64_t(p + g.w) * c, 0, int64_t(p) * c * sizeof(float));
    }
  }, prow);
}

// The forward conv of packed weights (float or half) with one row kernel per output row,
// rows split across threads.
template <class WT>
using FwdRowKernel = void (*)(const ConvGeom&, const float*, int, const WT*, const float*, float*, bool);
template <class WT>
void run_forward(FwdRowKernel<WT> row, const ConvGeom& g, const float* x, const WT* wpack, const float* bias, float* y,
                 bool relu) {
  // The kernel reads the unpadded input directly (borders are skipped inside it).
  const int64_t img = int64_t(g.h) * g.w * g.cin;
  parallel_for(int64_t(g.n) * g.h, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      int64_t n = r / g.h, oy = r % g.h;
      row(g, x + n * img, static_cast<int>(oy), wpack, bias, y + r * g.w * g.cout, relu);
    }
  }, int64_t(g.w) * g.rows() * g.cout);
}

// The bias as the kernels read it: g.cout_pad() values, zero beyond cout (and all zero when b is null).
const float* padded_bias(const ConvGeom& g, const float* b) {
  Scratch& s = scratch();
  ensure(s.bias, g.cout_pad());
  std::fill_n(s.bias.data(), g.cout_pad(), 0.f);
  if (b) std::copy_n(b, g.cout, s.bias.data());
  return s.bias.data();
}

void check_conv_kernel_size(const ConvGeom& g) {
  QSR_CHECK(g.k % 2 == 1 && g.k >= 1, "conv2d: kernel size must be odd (got " + std::to_string(g.k) + ")");
}

// [cb][ky][kx*cin+ci][16] blocks of HWIO weights of any element type, zero beyond cout.
template <class T>
void pack_blocks(const ConvGeom& g, const T* w, T* wpack) {
  const int64_t R = g.rows();
  for (int cb = 0; cb < g.ncb(); ++cb)
    for (int64_t r = 0; r < R; ++r)
      for (int j = 0; j < kConvNR; ++j) {
        int co = cb * kConvNR + j;
        wpack[(cb * R + r) * kConvNR + j] = co < g.cout ? w[r * g.cout + co] : T(0);  // T(0): +0 as float or half
      }
}
}  // namespace

void pack_conv_weights(const ConvGeom& g, const float* w, float* wpack) { pack_blocks(g, w, wpack); }

void pack_conv_weights_transposed(const ConvGeom& g, const float* w, float* wpack) {
  // The data-gradient conv has cin' = cout, cout' = cin and w'[ky][kx][co][ci] = w[k-1-ky][k-1-kx][ci][co].
  const int k = g.k, ncb = (g.cin + kConvNR - 1) / kConvNR;
  const int64_t R = int64_t(k) * k * g.cout;
  for (int cb = 0; cb < ncb; ++cb)
    for (int ky = 0; ky < k; ++ky)
      for (int kx = 0; kx < k; ++kx)
        for (int co = 0; co < g.cout; ++co) {
          int64_t r = (int64_t(ky) * k + kx) * g.cout + co;
          const float* src = w + ((int64_t(k - 1 - ky) * k + (k - 1 - kx)) * g.cin) * g.cout + co;
          for (int j = 0; j < kConvNR; ++j) {
            int ci = cb * kConvNR + j;
            wpack[(cb * R + r) * kConvNR + j] = ci < g.cin ? src[int64_t(ci) * g.cout] : 0.f;
          }
        }
}

namespace {
// Floats of a packed weight buffer: the [cb][ky][kx*cin+ci][16] blocks, then the last
// block's 16 channels again as columns [c][ky][kx*cin+ci], which conv_fwd_row reads for
// the one or two channels it computes as dot products (cout 9 on AVX2).
size_t packed_size(const ConvGeom& g) { return size_t(g.ncb() + 1) * g.rows() * kConvNR; }
template <class T>
void pack_conv_tail_columns(const ConvGeom& g, T* wpack) {
  const int64_t R = g.rows();
  const T* last = wpack + int64_t(g.ncb() - 1) * R * kConvNR;
  T* cols = wpack + int64_t(g.ncb()) * R * kConvNR;
  for (int c = 0; c < kConvNR; ++c)
    for (int64_t r = 0; r < R; ++r) cols[c * R + r] = last[r * kConvNR + c];
}
}  // namespace

size_t packed_conv_weights_size(const ConvGeom& g) { return packed_size(g); }

void pack_conv_weights_for_fwd(const ConvGeom& g, const float* w, float* wpack) {
  pack_blocks(g, w, wpack);
  pack_conv_tail_columns(g, wpack);
}

void pack_conv_weights_for_fwd_f16(const ConvGeom& g, const uint16_t* w, uint16_t* wpack) {
  pack_blocks(g, w, wpack);
  pack_conv_tail_columns(g, wpack);
}

void conv2d_forward(const F32Kernels& K, const ConvGeom& g, const float* x, const float* w, const float* b, float* y,
                    bool relu) {
  check_conv_kernel_size(g);
  Scratch& s = scratch();
  ensure(s.wpack, packed_size(g));
  pack_conv_weights_for_fwd(g, w, s.wpack.data());
  run_forward(K.conv_fwd_row, g, x, s.wpack.data(), padded_bias(g, b), y, relu);
}

void conv2d_forward_f16w(const F32Kernels& K, const ConvGeom& g, const float* x, const uint16_t* wpack_f16,
                         const float* b, float* y, bool relu) {
  check_conv_kernel_size(g);
  run_forward(K.conv_fwd_row_f16w, g, x, wpack_f16, padded_bias(g, b), y, relu);
}

void conv2d_backward_data(const F32Kernels& K, const ConvGeom& g, const float* gy, const float* w, float* gx) {
  ConvGeom t = g;
  t.cin = g.cout;
  t.cout = g.cin;
  Scratch& s = scratch();
  ensure(s.wpack, packed_size(t));
  pack_conv_weights_transposed(g, w, s.wpack.data());
  pack_conv_tail_columns(t, s.wpack.data());
  run_forward(K.conv_fwd_row, t, gy, s.wpack.data(), padded_bias(t, nullptr), gx, false);
}

void conv2d_backward_weights(const F32Kernels& K, const ConvGeom& g, const float* x, const float* gy, float* gw,
                             float* gb) {
  Scratch& s = scratch();
  const int64_t R = g.rows(), ldw = g.cout_pad();
  const int64_t npix_total = int64_t(g.n) * g.h * g.w;
  ensure(s.pad, size_t(g.n) * g.hp() * g.wp() * g.cin);
  pad_input(g, x, s.pad.data());
  ensure(s.gw, size_t(R) * ldw);
  float* acc = s.gw.data();
  std::fill_n(acc, R * ldw, 0.f);
  std::vector<int64_t> roff(R);
  const int64_t prow = int64_t(g.wp()) * g.cin;
  for (int ky = 0; ky < g.k; ++ky)
    for (int kx = 0; kx < g.k; ++kx)
      for (int ci = 0; ci < g.cin; ++ci) roff[(ky * g.k + kx) * g.cin + ci] = ky * prow + int64_t(kx) * g.cin + ci;
  // Each thread owns whole tiles of gw and walks every pixel chunk in the same
  // order, so the sums are identical for any thread count. Chunks are short row
  // pieces so their input and gradient stay in cache across the thread's tiles.
  // Equal pieces of at most kConvBwdwPix pixels (100 -> 50 + 50, not 64 + 36).
  const int nchunk = (g.w + kConvBwdwPix - 1) / kConvBwdwPix;
  const int chunk = (g.w + nchunk - 1) / nchunk;
  const int64_t ntiles = ((R + kConvMR - 1) / kConvMR) * g.ncb();
  const float* xp = s.pad.data();
  parallel_for(ntiles, [&](int64_t t0, int64_t t1) {
    for (int n = 0; n < g.n; ++n)
      for (int oy = 0; oy < g.h; ++oy)
        for (int x0 = 0; x0 < g.w; x0 += chunk) {
          int np = std::min(chunk, g.w - x0);
          const float* in = xp + (int64_t(n) * g.hp() + oy) * prow + int64_t(x0) * g.cin;
          const float* gyc = gy + ((int64_t(n) * g.h + oy) * g.w + x0) * g.cout;
          K.conv_bwdw_tiles(g, in, roff.data(), gyc, g.cout, np, t0, t1, acc);
        }
  }, npix_total * kConvMR * kConvNR);
  for (int64_t r = 0; r < R; ++r) std::copy_n(acc + r * ldw, g.cout, gw + r * g.cout);
  if (gb) {
    std::vector<double> sum(g.cout, 0.0);
    for (int64_t i = 0; i < npix_total; ++i)
      for (int co = 0; co < g.cout; ++co) sum[co] += gy[i * g.cout + co];
    for (int co = 0; co < g.cout; ++co) gb[co] = static_cast<float>(sum[co]);
  }
}

void depth_to_space(const F32Kernels& K, int n, int h, int w, int c, int r, const float* in, float* out) {
  const int64_t in_row = int64_t(w) * r * r * c, out_row = int64_t(w) * r * c;
  parallel_for(int64_t(n) * h, [&](int64_t b, int64_t e) {
    for (int64_t row = b; row < e; ++row) K.depth_to_space_row(w, c, r, in + row * in_row, out + row * r * out_row, out_row);
  }, in_row);
}

void space_to_depth(const F32Kernels& K, int n, int h, int w, int c, int r, const float* in, float* out) {
  const int64_t out_row = int64_t(w) * r * r * c, in_row = int64_t(w) * r * c;
  parallel_for(int64_t(n) * h, [&](int64_t b, int64_t e) {
    for (int64_t row = b; row < e; ++row) K.space_to_depth_row(w, c, r, in + row * r * in_row, in_row, out + row * out_row);
  }, out_row);
}

void relu_forward(const F32Kernels& K, int64_t n, const float* x, float* y) {
  const int64_t block = 1 << 16;
  parallel_for((n + block - 1) / block, [&](int64_t b, int64_t e) {
    int64_t lo = b * block, hi = std::min(n, e * block);
    K.relu_fwd(hi - lo, x + lo, y + lo);
  }, std::min(n, block));
}

void relu_backward(const F32Kernels& K, int64_t n, const float* y, const float* gy, float* gx) {
  const int64_t block = 1 << 16;
  parallel_for((n + block - 1) / block, [&](int64_t b, int64_t e) {
    int64_t lo = b * block, hi = std::min(n, e * block);
    K.relu_bwd(hi - lo, y + lo, gy + lo, gx + lo);
  }, std::min(n, block));
}

}  // namespace qsr
