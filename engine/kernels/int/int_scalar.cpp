// The scalar integer kernels: plain C++ over the layouts of int_kernels.h, the output stage
// through the specification's own functions (quant/spec.h). Every SIMD table is tested
// against these bit for bit; the wide (int64) convolutions of every table run here.
#include <algorithm>
#include <cstring>
#include <type_traits>

#include "engine/kernels/int/int_kernels.h"
#include "quant/spec_int.h"

namespace qsr::quant::int_scalar {

namespace {

// The layouts of one path: int16 codes with int16 weight pairs (E = 2 elements per step),
// or u8 bytes with int8 weight quads (E = 4).
template <class X, class Wt, int E>
struct Layout {
  const X* in;
  const Wt* wpack;
  const Wt* wdot;
  int steps, dotlen;
};

// One output pixel's accumulators for the channels of a block of `lanes` channels. Wide
// (Acc = int64): int32 chunks of a.chunk steps summed in int64 (each chunk fits int32 by
// lowering's bound).
template <class Acc, class X, class Wt, int E>
void block_pixel(const IntConvArgs& a, const Layout<X, Wt, E>& L, const X* win, const Wt* wb, int lanes, Acc* acc) {
  std::fill(acc, acc + lanes, Acc(0));
  const int chunk = sizeof(Acc) == 8 ? a.chunk : L.steps;
  for (int ky = 0; ky < a.k; ++ky) {
    const X* r = win + ky * a.in_row;
    const Wt* w = wb + int64_t(ky) * L.steps * lanes * E;
    for (int t0 = 0; t0 < L.steps; t0 += chunk) {
      const int t1 = std::min(L.steps, t0 + chunk);
      int32_t part[kIntNR] = {};
      for (int t = t0; t < t1; ++t) {
        const Wt* wt = w + int64_t(t) * lanes * E;
        for (int l = 0; l < lanes; ++l)
          for (int e = 0; e < E; ++e) part[l] += int32_t(r[E * t + e]) * wt[E * l + e];
      }
      for (int l = 0; l < lanes; ++l) acc[l] += part[l];
    }
  }
}

template <class Acc, class X, class Wt, int E>
Acc dot_pixel(const IntConvArgs& a, const Layout<X, Wt, E>& L, const X* win, const Wt* wd) {
  Acc acc = 0;
  const int chunk = sizeof(Acc) == 8 ? 2 * a.chunk : L.dotlen;
  for (int ky = 0; ky < a.k; ++ky) {
    const X* r = win + ky * a.in_row;
    const Wt* w = wd + int64_t(ky) * L.dotlen;
    for (int j0 = 0; j0 < L.dotlen; j0 += chunk) {
      int32_t part = 0;
      for (int j = j0; j < std::min(L.dotlen, j0 + chunk); ++j) part += int32_t(r[j]) * w[j];
      acc += part;
    }
  }
  return acc;
}

// Split pairs (u8 path, int_kernels.h): half-block hb's residual steps, added to its
// kIntHalf channels' accumulators.
void add_split(const IntConvArgs& a, const uint8_t* win, int hb, int32_t* acc) {
  for (int e = a.xbeg[hb]; e < a.xbeg[hb + 1]; ++e) {
    const uint8_t* r = win + a.xky[e] * a.in_row + 4 * a.xt[e];
    const int8_t* w = a.xw + int64_t(e) * kIntHalf * 4;
    for (int l = 0; l < kIntHalf; ++l)
      for (int q = 0; q < 4; ++q) acc[l] += int32_t(r[q]) * w[4 * l + q];
  }
}

template <class Acc>
void store(const IntConvArgs& a, int y, int x, int c, Acc raw) {
  const int64_t acc = int64_t(raw) + (a.wide ? a.beff64[c] : a.beff[c]);
  if (a.float_out) {
    float v = static_cast<float>(double(acc) * a.fscale[c]) + a.fbias[c];
    if (a.relu) v = std::max(v, 0.f);
    a.outf[(int64_t(y) * a.w + x) * a.cout + c] = v;
    return;
  }
  const Multiplier m{a.m0_32[c], int(a.shift[c])};
  const int32_t q = requantize_code(acc, m, a.zo, a.lo, a.hi, a.away ? Rounding::half_away : Rounding::half_even);
  if (a.out8) a.out8[y * a.out_row + int64_t(x) * a.out_cs + c] = static_cast<uint8_t>(q - a.out_off);
  else a.out[y * a.out_row + int64_t(x) * a.out_cs + c] = static_cast<int16_t>(q);
}

template <class Acc, class X, class Wt, int E>
void conv_rows_t(const IntConvArgs& a, const Layout<X, Wt, E>& L, int y0, int y1) {
  const int64_t blk16 = int64_t(a.k) * L.steps * kIntNR * E;
  Acc acc[kIntNR];
  for (int y = y0; y < y1; ++y) {
    for (int x = 0; x < a.w; ++x) {
      const X* win = L.in + int64_t(y) * a.in_row + int64_t(x) * a.cs;
      constexpr bool u8 = std::is_same_v<X, uint8_t>;
      for (int cb = 0; cb < a.nvec_blocks; ++cb) {
        block_pixel(a, L, win, L.wpack + cb * blk16, kIntNR, acc);
        if constexpr (u8)
          if (a.xbeg) add_split(a, win, 2 * cb, acc), add_split(a, win, 2 * cb + 1, acc + kIntHalf);
        for (int l = 0; l < kIntNR; ++l)
          if (cb * kIntNR + l < a.cout - a.ndot) store(a, y, x, cb * kIntNR + l, acc[l]);
      }
      const int c8 = a.nvec_blocks * kIntNR;
      if (a.tail_vec) {
        block_pixel(a, L, win, L.wpack + a.nvec_blocks * blk16, a.tail_vec, acc);
        if constexpr (u8)
          if (a.xbeg) add_split(a, win, 2 * a.nvec_blocks, acc);
        for (int l = 0; l < a.tail_vec; ++l)
          if (c8 + l < a.cout - a.ndot) store(a, y, x, c8 + l, acc[l]);
      }
      for (int d = 0; d < a.ndot; ++d) {
        Acc v = dot_pixel<Acc>(a, L, win, L.wdot + int64_t(d) * a.k * L.dotlen);
        if constexpr (u8)
          if (a.wdot8x) v += dot_pixel<Acc>(a, L, win, a.wdot8x + int64_t(d) * a.k * L.dotlen);
        store(a, y, x, a.cout - a.ndot + d, v);
      }
    }
  }
}

}  // namespace

void conv_rows(const IntConvArgs& a, int y0, int y1) {
  if (a.u8) return conv_rows_t<int32_t>(a, Layout<uint8_t, int8_t, 4>{a.in8, a.wpack8, a.wdot8, a.T4, a.dotlen8}, y0, y1);
  const Layout<int16_t, int16_t, 2> L{a.in, a.wpack, a.wdot, a.T, a.dotlen};
  if (a.wide) conv_rows_t<int64_t>(a, L, y0, y1);
  else conv_rows_t<int32_t>(a, L, y0, y1);
}

void quantize_rows(const IntQuantArgs& a, int y0, int y1) {
  const Rounding r = a.away ? Rounding::half_away : Rounding::half_even;
  for (int y = y0; y < y1; ++y)
    for (int x = 0; x < a.w; ++x)
      for (int ch = 0; ch < a.c; ++ch) {
        const int64_t q = round_value_det(a.x[(int64_t(y) * a.w + x) * a.c + ch] / a.scale, r) + a.zp;
        const int64_t c = std::clamp<int64_t>(q, a.qmin, a.qmax);
        if (a.out8) a.out8[y * a.out_row + int64_t(x) * a.out_cs + ch] = static_cast<uint8_t>(c - a.off);
        else a.out[y * a.out_row + int64_t(x) * a.out_cs + ch] = static_cast<int16_t>(c);
      }
}

}  // namespace qsr::quant::int_scalar
