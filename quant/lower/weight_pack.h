// Weight codes into the layouts of the integer kernels (engine/kernels/int/int_kernels.h).
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "quant/lower/engine_impl.h"

namespace qsr::quant::lowering {

// The weight that window-row element j of kernel row ky multiplies for channel c, for pixels
// `cs` elements apart (column j / cs, input channel j % cs; 0 past the kernel, cin or cout).
struct WindowWeights {
  const std::vector<int32_t>& w;  // HWIO codes
  int k, cin, cout, cs;
  int32_t operator()(int ky, int j, int c) const {
    const int kx = j / cs, ci = j % cs;
    if (kx >= k || ci >= cin || c >= cout) return 0;
    return w[((size_t(ky) * k + kx) * cin + ci) * cout + c];
  }
};

// Window weights of every channel as one array: [c][ky][j] for j < len (k*cs rounded up),
// the layout the u8 path's pairs (j, j + 1), j even, run over.
struct WindowArray {
  std::vector<int32_t> v;
  int k = 1, cout = 1, cs = 1, len = 0;
  WindowArray(const WindowWeights& W, int len_) : v(size_t(W.cout) * W.k * len_, 0), k(W.k), cout(W.cout), cs(W.cs), len(len_) {
    for (int c = 0; c < cout; ++c)
      for (int ky = 0; ky < k; ++ky)
        for (int j = 0; j < len; ++j) at(ky, j, c) = W(ky, j, c);
  }
  int32_t& at(int ky, int j, int c) { return v[(size_t(c) * k + ky) * len + j]; }
  int32_t operator()(int ky, int j, int c) const { return j < len ? v[(size_t(c) * k + ky) * len + j] : 0; }
};

// Packs weights into one layout of int_kernels.h: E elements per step (2: int16 pairs, 4: u8
// quads), `steps` steps per kernel row, blocks [block][ky][step][lanes][E] of 16 channels
// (nvec of them) then one of 8 (tail); the last ndot channels as dot-product rows of dotlen
// (k*cs rounded up to dot_align) elements.
template <class T, class Window>
void pack_blocks(const Window& W, int E, int steps, int nvec, int tail, int ndot, PackVec<T>& pack,
                 int dot_align, PackVec<T>& dot, int& dotlen) {
  const int k = W.k;
  pack.assign(size_t(nvec) * k * steps * 16 * E + size_t(tail) * k * steps * E, 0);
  T* p = pack.data();
  auto block = [&](int c0, int lanes) {
    for (int ky = 0; ky < k; ++ky)
      for (int t = 0; t < steps; ++t)
        for (int l = 0; l < lanes; ++l)
          for (int e = 0; e < E; ++e) *p++ = static_cast<T>(c0 + l < W.cout - ndot ? W(ky, E * t + e, c0 + l) : 0);
  };
  for (int cb = 0; cb < nvec; ++cb) block(cb * 16, 16);
  if (tail) block(nvec * 16, 8);
  dotlen = (k * W.cs + dot_align - 1) / dot_align * dot_align;
  dot.assign(size_t(ndot) * k * dotlen, 0);
  for (int d = 0; d < ndot; ++d)
    for (int ky = 0; ky < k; ++ky)
      for (int j = 0; j < k * W.cs; ++j) dot[(size_t(d) * k + ky) * dotlen + j] = static_cast<T>(W(ky, j, W.cout - ndot + d));
}

// The largest value of one sign a vpmaddubsw pair (a, b) times u8 codes in [0, umax] can take.
inline int64_t pair_reach(int64_t umax, int32_t a, int32_t b) {
  return umax * std::max(std::max(a, 0) + std::max(b, 0), -(std::min(a, 0) + std::min(b, 0)));
}

// Whether a u8 conv could take these codes: input codes spanning at most 256 values (umax =
// qmax - qmin) and weights in int8.
inline bool u8_codes(int64_t umax, const std::vector<int32_t>& w) {
  return umax <= 255 && std::none_of(w.begin(), w.end(), [](int32_t v) { return v < -128 || v > 127; });
}

}  // namespace qsr::quant::lowering
