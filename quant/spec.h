// The quantisation specification: the one definition of every integer format,
// rounding rule and requantisation step in qsr. Fake-quant layers (training),
// the post-training passes, the scalar integer reference and the SIMD integer
// kernels all call or reproduce these functions; docs/QUANT.md explains them.
//
// Formats
//   A QFormat is an integer grid of `bits` (2..16) bits, signed or unsigned:
//     signed   [-2^(b-1), 2^(b-1) - 1]   unsigned [0, 2^b - 1]
//   `narrow` drops the lowest code (signed int8: [-127, 127]) so a symmetric
//   grid is symmetric. A real value x maps to the code
//     q = clamp(round(x / scale) + zero_point, qmin, qmax)
//   and back to (q - zero_point) * scale. Schemes:
//     symmetric   zero_point = 0;
//     affine      zero_point an integer in [qmin, qmax] (so real 0 is exactly a code);
//     fixed_point Qm.n: scale = 2^-n, zero_point = 0 (an FPGA datapath's format);
//                 m = bits - n integer bits including the sign bit when signed.
//   Per-tensor formats have one (scale, zero_point); per-channel ones one per
//   index of the last axis (the output channel of HWIO weights).
//
// Rounding (the same rule everywhere a real becomes an integer):
//   half_even  round half to even (the default; what SIMD rounding instructions do);
//   half_away  round half away from zero (C's round());
//   stochastic floor(v + u), u uniform in [0, 1): training-time fake quant only;
//              every inference path treats it as half_even.
//   Division x / scale is IEEE single precision; the clamp to [qmin, qmax] saturates.
//
// Requantisation (integer inference): an int32/int64 accumulator `acc` with real
// scale s_acc = s_in * s_w becomes an output code with scale s_out through the
// real multiplier m = s_acc / s_out, represented as m = M0 * 2^-shift with M0 an
// integer in [2^30, 2^31) (Q31 mantissa; computed by `quantize_multiplier`):
//   y = round(acc * M0 / 2^shift)     exact: acc * M0 in 128-bit integers, then a
//                                     rounding right shift with the format's rounding rule
//   q = clamp(y + zero_point_out, lo, hi)
// where [lo, hi] = [qmin, qmax], or [max(qmin, zero_point_out), qmax] when a ReLU
// is fused. Biases are stored as int32 codes of scale s_in * s_w[c]
// (round(b / (s_in * s_w[c])), half_even, saturating). |acc| < 2^31 is required of
// the int32 kernels (wider accumulators are int64); `accumulator_bits` gives the
// worst case of a layer.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/random.h"
#include "engine/tensor.h"
#include "quant/spec_int.h"

namespace qsr::quant {

enum class Scheme { symmetric, affine, fixed_point };

std::string rounding_name(Rounding r);
Rounding parse_rounding(const std::string& s);  // half_even | half_away | stochastic
std::string scheme_name(Scheme s);
Scheme parse_scheme(const std::string& s);  // symmetric | affine | fixed_point

struct QFormat {
  int bits = 8;               // 2..16
  bool is_signed = true;
  Scheme scheme = Scheme::symmetric;
  bool narrow = false;        // drop the lowest code
  bool per_channel = false;   // one scale per index of the last axis
  Rounding rounding = Rounding::half_even;
  int frac_bits = 0;          // fixed_point only: n of Qm.n (may be negative or exceed bits)

  int32_t qmin() const;
  int32_t qmax() const;
  void validate() const;        // qsr::Error naming the bad field
  std::string describe() const;  // e.g. "s8 sym per-channel", "u8 affine", "s16 Q4.12"
  bool operator==(const QFormat&) const = default;
};

// Scales and zero points of one tensor: size 1 (per tensor) or the channel count.
struct QParams {
  std::vector<float> scale;
  std::vector<int32_t> zero_point;
  size_t size() const { return scale.size(); }
};

// Rounds v with rule r (stochastic needs rng; half_even is used when rng is null).
// |v| is first clamped to 2^30 so the result always fits an int64 without overflow.
int64_t round_value(float v, Rounding r, Rng* rng = nullptr);

// Quantisation parameters for the real range [lo, hi] (widened to contain 0).
// symmetric: scale = max(|lo|, |hi|) / qmax (unsigned: hi / qmax), zero point 0;
// affine: scale = (hi - lo) / (qmax - qmin), zero_point = clamp(round_half_even(qmin - lo / scale));
// fixed_point: scale = 2^-frac_bits (the range is ignored; see fixed_point_frac_bits).
// An all-zero range gives scale 1. Non-finite bounds are errors.
void choose_params(const QFormat& f, float lo, float hi, float& scale, int32_t& zero_point);
QParams params_from_ranges(const QFormat& f, const std::vector<float>& lo, const std::vector<float>& hi);

// The largest n such that the signed/unsigned Qm.n grid of `bits` covers [-amax, amax]
// (or [0, amax]) without clipping; the precision-maximising choice for a range.
int fixed_point_frac_bits(int bits, bool is_signed, float amax);

// Element-wise maps. The last dimension indexes channels when p has more than one entry.
int32_t quantize_value(float x, float scale, int32_t zero_point, const QFormat& f, Rng* rng = nullptr);
// Codes as i8/u8 (bits <= 8) or i16 (bits <= 16; u16 grids are stored in i32), see storage_dtype.
Tensor quantize(const Tensor& x, const QFormat& f, const QParams& p, Rng* rng = nullptr);
Tensor dequantize(const Tensor& q, const QParams& p);  // f32
// quantize then dequantize, in f32 (what a fake-quant layer computes forward).
Tensor fake_quantize(const Tensor& x, const QFormat& f, const QParams& p, Rng* rng = nullptr);
// The smallest native type holding every code of f: i8 / u8 up to 8 bits, i16 for
// signed up to 16 and unsigned up to 15 bits, i32 for u16.
DType storage_dtype(const QFormat& f);

// Requantisation (Multiplier: quant/spec_int.h).
Multiplier quantize_multiplier(double m);  // m >= 0 and finite, else qsr::Error
double multiplier_value(const Multiplier& m);
// round(acc * m0 / 2^shift) with rule r (stochastic: half_even); |acc| < 2^62.
int64_t rounding_mul_shift(int64_t acc, const Multiplier& m, Rounding r);
// The whole output stage for one value: requantise, add the zero point, clamp to [lo, hi].
int32_t requantize(int64_t acc, const Multiplier& m, int32_t zero_point, int32_t lo, int32_t hi, Rounding r);
// int32 bias code of scale s_acc (half_even, saturating to int32).
int32_t quantize_bias(float b, double s_acc);

// Worst-case magnitude bits (sign included) of a conv accumulator: k*k*cin products of
// |input code - zero point| <= in_span by |weight code| <= w_max, plus |bias| <= bias_max.
int accumulator_bits(int64_t k, int64_t cin, int64_t in_span, int64_t w_max, int64_t bias_max);

// Float storage types for weights.
uint16_t f32_to_bf16(float x);  // round to nearest even; NaN stays NaN
float bf16_to_f32(uint16_t h);
Tensor round_to_f16(const Tensor& x);   // f32 values exactly representable in f16 (RNE)
Tensor round_to_bf16(const Tensor& x);  // likewise bf16

}  // namespace qsr::quant
