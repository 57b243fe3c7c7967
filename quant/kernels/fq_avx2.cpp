// The AVX2 variant of the fake-quantisation kernels (compiled with -mavx2 -mfma -mf16c).
#include <immintrin.h>

#include <algorithm>

#include "quant/kernels/fq_kernels.h"

namespace qsr::quant::fq_avx2 {

struct V {
  using F = __m256;
  using M = __m256;
  static constexpr int W = 8;
  static F load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, F v) { _mm256_storeu_ps(p, v); }
  static F set1(float s) { return _mm256_set1_ps(s); }
  static F div(F a, F b) { return _mm256_div_ps(a, b); }
  static F mul(F a, F b) { return _mm256_mul_ps(a, b); }
  static F sub(F a, F b) { return _mm256_sub_ps(a, b); }
  // vroundps with the nearest mode is round half to even.
  static F round_even(F v) { return _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  // Round half away on the magnitude: a = |v|, t = floor(a), d = a - t (exact: a >= 0), up
  // where d >= 1/2, then v's sign back (the result equals round_value's). For |v| >= 2^23 and
  // inf, d is 0 and a is returned; NaN stays NaN.
  static F round_away(F v) {
    const F sign = _mm256_set1_ps(-0.f);
    const F a = _mm256_andnot_ps(sign, v);
    const F t = _mm256_round_ps(a, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    const F up = _mm256_cmp_ps(_mm256_sub_ps(a, t), _mm256_set1_ps(0.5f), _CMP_GE_OQ);
    const F r = _mm256_add_ps(t, _mm256_and_ps(up, _mm256_set1_ps(1.f)));
    return _mm256_or_ps(r, _mm256_and_ps(sign, v));
  }
  // vmaxps / vminps return the second operand for NaN: NaN becomes -2^30, then the
  // ordered mask makes it +0; adding +0 turns -0 into +0.
  static F clamp_code(F r) {
    const F lim = _mm256_set1_ps(1073741824.f);
    const F ord = _mm256_cmp_ps(r, r, _CMP_ORD_Q);
    const F c = _mm256_min_ps(_mm256_max_ps(r, _mm256_sub_ps(_mm256_setzero_ps(), lim)), lim);
    return _mm256_add_ps(_mm256_and_ps(c, ord), _mm256_setzero_ps());
  }
  static M lt(F a, F b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
  static M gt(F a, F b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
  static M neither(M a, M b) { return _mm256_xor_ps(_mm256_or_ps(a, b), _mm256_castsi256_ps(_mm256_set1_epi32(-1))); }
  static F select(M m, F a, F b) { return _mm256_blendv_ps(b, a, m); }
  static uint32_t bits(M m) { return uint32_t(_mm256_movemask_ps(m)); }
  static F keep(uint32_t b, F g) {
    const __m256i lanes = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    const __m256i m = _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32(int(b)), lanes), lanes);
    return _mm256_and_ps(_mm256_castsi256_ps(m), g);
  }
};

#include "quant/kernels/fq_impl.inc"

}  // namespace qsr::quant::fq_avx2
