// The scalar variant of the fake-quantisation kernels (one float per "vector"; baseline
// x86-64 flags): the path of -DQSR_SIMD=OFF builds and of QSR_ISA=scalar.
#include <algorithm>
#include <cmath>

#include "engine/kernels/fq/fq_kernels.h"

namespace qsr::quant::fq_scalar {

struct V {
  using F = float;
  using M = bool;
  static constexpr int W = 1;
  static F load(const float* p) { return *p; }
  static void store(float* p, F v) { *p = v; }
  static F set1(float s) { return s; }
  static F div(F a, F b) { return a / b; }
  static F mul(F a, F b) { return a * b; }
  static F sub(F a, F b) { return a - b; }
  // |v| < 2^23: adding 2^23 leaves no fraction bits, so the addition rounds |v| to an integer
  // half to even (2^23 is even) and the subtraction is exact. Larger |v|, inf and NaN are
  // already integral (or left alone).
  static F round_even(F v) {
    const float a = std::fabs(v);
    if (!(a < 8388608.f)) return v;
    return std::copysign((a + 8388608.f) - 8388608.f, v);
  }
  // Half away on the magnitude: a = |v| < 2^23 converts exactly, d = a - trunc(a) is exact,
  // up where d >= 1/2, then v's sign back (the result equals round_value's).
  static F round_away(F v) {
    const float a = std::fabs(v);
    if (!(a < 8388608.f)) return v;  // integral, inf or NaN
    const int32_t t = int32_t(a);
    return std::copysign(float(t + int32_t(a - float(t) >= 0.5f)), v);
  }
  static F clamp_code(F r) {
    constexpr float kLim = 1073741824.f;  // 2^30
    if (std::isnan(r)) return 0.f;
    return std::clamp(r, -kLim, kLim) + 0.f;  // + 0: -0 -> +0
  }
  static M lt(F a, F b) { return a < b; }
  static M gt(F a, F b) { return a > b; }
  static M neither(M a, M b) { return !(a || b); }
  static F select(M m, F a, F b) { return m ? a : b; }
  static uint32_t bits(M m) { return m ? 1u : 0u; }
  static F keep(uint32_t b, F g) { return (b & 1) ? g : 0.f; }
};

#include "engine/kernels/fq/fq_impl.inc"

}  // namespace qsr::quant::fq_scalar
