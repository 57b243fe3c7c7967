// The integer core of the quantisation specification (quant/spec.h): the rounding rules and
// the requantisation step, header-only and free of the engine's tensors, strings and
// exceptions, so that the integer kernels and the inference-only library (quant/infer) use
// the one definition. quant/spec.h documents the rules; its checked entry points
// (round_value with stochastic rounding, rounding_mul_shift, requantize) call these.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

namespace qsr::quant {

enum class Rounding { half_even, half_away, stochastic };

// Requantisation multiplier m = m0 * 2^-shift.
struct Multiplier {
  int32_t m0 = 0;  // in [2^30, 2^31), or 0 for a zero multiplier
  int shift = 0;   // m = m0 * 2^-shift; shift in [1, 100]
};

// round(v) with a deterministic rule (stochastic counts as half_even), v clamped to
// [-2^30, 2^30] first, NaN -> 0: floor(v) and the decision on the exact fraction
// v - floor(v) (exact in double; in single precision it rounds for v in (-1, 0)).
inline int64_t round_value_det(float v, Rounding r) {
  constexpr float kLim = 1073741824.f;  // 2^30
  if (std::isnan(v)) return 0;
  v = std::clamp(v, -kLim, kLim);
  const float f = std::floor(v);
  const double d = double(v) - double(f);
  const int64_t fi = static_cast<int64_t>(f);
  if (d > 0.5) return fi + 1;
  if (d < 0.5) return fi;
  if (r == Rounding::half_away) return v > 0 ? fi + 1 : fi;
  return (fi & 1) ? fi + 1 : fi;  // half_even (and stochastic at inference)
}

// round(acc * m0 / 2^shift) with rule r, exact in 128 bits; |acc| < 2^62 (not checked here).
inline int64_t mul_shift_round(int64_t acc, const Multiplier& m, Rounding r) {
  if (m.m0 == 0 || m.shift > 100) return 0;  // shift > 100: |p| / 2^shift < 1/2
  using i128 = __int128;
  const i128 p = i128(acc) * m.m0;      // |p| < 2^93
  const i128 q = p >> m.shift;          // floor
  const i128 rem = p - (q << m.shift);  // in [0, 2^shift)
  const i128 half = i128(1) << (m.shift - 1);
  i128 y = q;
  if (rem > half) {
    y = q + 1;
  } else if (rem == half) {
    if (r == Rounding::half_away) y = p > 0 ? q + 1 : q;
    else y = (q & 1) ? q + 1 : q;  // half_even (also for stochastic at inference)
  }
  return static_cast<int64_t>(y);  // |y| <= 2^62
}

// The whole output stage for one value: requantise, add the zero point, clamp to [lo, hi].
inline int32_t requantize_code(int64_t acc, const Multiplier& m, int32_t zero_point, int32_t lo, int32_t hi, Rounding r) {
  const int64_t y = mul_shift_round(acc, m, r) + zero_point;
  return static_cast<int32_t>(std::clamp<int64_t>(y, lo, hi));
}

// (q - zero_point) * scale, the one dequantisation.
inline float dequantize_value(int32_t q, float scale, int32_t zero_point) {
  return static_cast<float>(q - zero_point) * scale;
}

}  // namespace qsr::quant
