// The scalar integer kernels: plain C++ over the layouts of int_kernels.h, the output stage
// through the specification's own functions (quant/spec.h). Every SIMD table is tested
// against these bit for bit; the wide (int64) convolutions of every table run here.
#include <algorithm>
#include <cstring>

#include "quant/kernels/int_kernels.h"
#include "quant/spec.h"

namespace qsr::quant::int_scalar {

namespace {

// One output pixel's accumulators for the channels of a block of `lanes` channels.
template <class Acc>
void block_pixel(const IntConvArgs& a, const int16_t* win, const int16_t* wb, int lanes, Acc* acc) {
  std::fill(acc, acc + lanes, Acc(0));
  for (int ky = 0; ky < a.k; ++ky) {
    const int16_t* r = win + ky * a.in_row;
    const int16_t* w = wb + int64_t(ky) * a.T * lanes * 2;
    if constexpr (sizeof(Acc) == 8) {
      // wide: int32 chunks of a.chunk steps, summed in int64 (each chunk fits int32 by lowering's bound)
      for (int t0 = 0; t0 < a.T; t0 += a.chunk) {
        const int t1 = std::min(a.T, t0 + a.chunk);
        int32_t part[kIntNR] = {};
        for (int t = t0; t < t1; ++t) {
          const int32_t x0 = r[2 * t], x1 = r[2 * t + 1];
          const int16_t* wt = w + int64_t(t) * lanes * 2;
          for (int l = 0; l < lanes; ++l) part[l] += x0 * wt[2 * l] + x1 * wt[2 * l + 1];
        }
        for (int l = 0; l < lanes; ++l) acc[l] += part[l];
      }
    } else {
      for (int t = 0; t < a.T; ++t) {
        const int32_t x0 = r[2 * t], x1 = r[2 * t + 1];
        const int16_t* wt = w + int64_t(t) * lanes * 2;
        for (int l = 0; l < lanes; ++l) acc[l] += x0 * wt[2 * l] + x1 * wt[2 * l + 1];
      }
    }
  }
}

template <class Acc>
Acc dot_pixel(const IntConvArgs& a, const int16_t* win, const int16_t* wd) {
  Acc acc = 0;
  for (int ky = 0; ky < a.k; ++ky) {
    const int16_t* r = win + ky * a.in_row;
    const int16_t* w = wd + int64_t(ky) * a.dotlen;
    if constexpr (sizeof(Acc) == 8) {
      for (int j0 = 0; j0 < a.dotlen; j0 += 2 * a.chunk) {
        int32_t part = 0;
        for (int j = j0; j < std::min(a.dotlen, j0 + 2 * a.chunk); ++j) part += int32_t(r[j]) * w[j];
        acc += part;
      }
    } else {
      for (int j = 0; j < a.dotlen; ++j) acc += int32_t(r[j]) * w[j];
    }
  }
  return acc;
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
  const int32_t q = requantize(acc, m, a.zo, a.lo, a.hi, a.away ? Rounding::half_away : Rounding::half_even);
  if (a.out8) a.out8[y * a.out_row + int64_t(x) * a.out_cs + c] = static_cast<uint8_t>(q - a.out_off);
  else a.out[y * a.out_row + int64_t(x) * a.out_cs + c] = static_cast<int16_t>(q);
}

// The u8 path: bytes times int8 weight quads, plain int32 sums (int_kernels.h).
void block_pixel8(const IntConvArgs& a, const uint8_t* win, const int8_t* wb, int lanes, int32_t* acc) {
  std::fill(acc, acc + lanes, 0);
  for (int ky = 0; ky < a.k; ++ky) {
    const uint8_t* r = win + ky * a.in_row;
    const int8_t* w = wb + int64_t(ky) * a.T4 * lanes * 4;
    for (int t = 0; t < a.T4; ++t) {
      const int8_t* wt = w + int64_t(t) * lanes * 4;
      for (int l = 0; l < lanes; ++l)
        for (int e = 0; e < 4; ++e) acc[l] += int32_t(r[4 * t + e]) * wt[4 * l + e];
    }
  }
}

void conv_rows8(const IntConvArgs& a, int y0, int y1) {
  const int64_t blk16 = int64_t(a.k) * a.T4 * kIntNR * 4;
  int32_t acc[kIntNR];
  for (int y = y0; y < y1; ++y) {
    for (int x = 0; x < a.w; ++x) {
      const uint8_t* win = a.in8 + int64_t(y) * a.in_row + int64_t(x) * a.cs;
      for (int cb = 0; cb < a.nvec_blocks; ++cb) {
        block_pixel8(a, win, a.wpack8 + cb * blk16, kIntNR, acc);
        for (int l = 0; l < kIntNR; ++l)
          if (cb * kIntNR + l < a.cout - a.ndot) store(a, y, x, cb * kIntNR + l, acc[l]);
      }
      const int c8 = a.nvec_blocks * kIntNR;
      if (a.tail_vec) {
        block_pixel8(a, win, a.wpack8 + a.nvec_blocks * blk16, a.tail_vec, acc);
        for (int l = 0; l < a.tail_vec; ++l)
          if (c8 + l < a.cout - a.ndot) store(a, y, x, c8 + l, acc[l]);
      }
      for (int d = 0; d < a.ndot; ++d) {
        int32_t v = 0;
        const int8_t* wd = a.wdot8 + int64_t(d) * a.k * a.dotlen8;
        for (int ky = 0; ky < a.k; ++ky)
          for (int j = 0; j < a.dotlen8; ++j) v += int32_t(win[ky * a.in_row + j]) * wd[ky * a.dotlen8 + j];
        store(a, y, x, a.cout - a.ndot + d, v);
      }
    }
  }
}

template <class Acc>
void conv_rows_t(const IntConvArgs& a, int y0, int y1) {
  const int64_t blk16 = int64_t(a.k) * a.T * kIntNR * 2;
  Acc acc[kIntNR];
  for (int y = y0; y < y1; ++y) {
    for (int x = 0; x < a.w; ++x) {
      const int16_t* win = a.in + int64_t(y) * a.in_row + int64_t(x) * a.cs;
      for (int cb = 0; cb < a.nvec_blocks; ++cb) {
        block_pixel(a, win, a.wpack + cb * blk16, kIntNR, acc);
        for (int l = 0; l < kIntNR; ++l)
          if (cb * kIntNR + l < a.cout - a.ndot) store(a, y, x, cb * kIntNR + l, acc[l]);
      }
      const int c8 = a.nvec_blocks * kIntNR;
      if (a.tail_vec) {
        block_pixel(a, win, a.wpack + a.nvec_blocks * blk16, a.tail_vec, acc);
        for (int l = 0; l < a.tail_vec; ++l)
          if (c8 + l < a.cout - a.ndot) store(a, y, x, c8 + l, acc[l]);
      }
      for (int d = 0; d < a.ndot; ++d)
        store(a, y, x, a.cout - a.ndot + d, dot_pixel<Acc>(a, win, a.wdot + int64_t(d) * a.k * a.dotlen));
    }
  }
}

}  // namespace

void conv_rows(const IntConvArgs& a, int y0, int y1) {
  if (a.u8) return conv_rows8(a, y0, y1);
  if (a.wide) conv_rows_t<int64_t>(a, y0, y1);
  else conv_rows_t<int32_t>(a, y0, y1);
}

void quantize_rows(const IntQuantArgs& a, int y0, int y1) {
  const Rounding r = a.away ? Rounding::half_away : Rounding::half_even;
  for (int y = y0; y < y1; ++y)
    for (int x = 0; x < a.w; ++x)
      for (int ch = 0; ch < a.c; ++ch) {
        const int64_t q = round_value(a.x[(int64_t(y) * a.w + x) * a.c + ch] / a.scale, r) + a.zp;
        const int64_t c = std::clamp<int64_t>(q, a.qmin, a.qmax);
        if (a.out8) a.out8[y * a.out_row + int64_t(x) * a.out_cs + ch] = static_cast<uint8_t>(c - a.off);
        else a.out[y * a.out_row + int64_t(x) * a.out_cs + ch] = static_cast<int16_t>(c);
      }
}

}  // namespace qsr::quant::int_scalar
