// The AVX2 variant of the fake-quantisation kernels (compiled with -mavx2 -mfma -mf16c).
#include <immintrin.h>

#include <algorithm>

#include "engine/kernels/fq/fq_kernels.h"
#include "engine/kernels/round_simd.h"

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
  static F round_even(F v) { return simd::round_even(v); }
  static F round_away(F v) { return simd::round_away(v); }
  static F clamp_code(F r) { return simd::clamp_code(r); }
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

#include "engine/kernels/fq/fq_impl.inc"

}  // namespace qsr::quant::fq_avx2
