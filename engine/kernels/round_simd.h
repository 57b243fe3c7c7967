// The rounding steps of quant/spec.h's round_value on SIMD floats, shared by the fake-quant
// (fq_*.cpp) and integer (int_*.cpp) kernels; included by files compiled with AVX2 or
// AVX-512 flags. Internal linkage: each file gets its own copy, compiled for its own ISA.
//   round_even(v)   round half to even (|v| >= 2^23, inf and NaN unchanged)
//   round_away(v)   round half away from zero: on |v| (t = floor, d = |v| - t exact, up where
//                   d >= 1/2), then v's sign back; equals round_value's for every float
//   clamp_code(r)   r clamped to [-2^30, 2^30], NaN -> +0, -0 -> +0 (round_value's rules)
#pragma once
#include <immintrin.h>

namespace qsr::quant::simd {
namespace {

#ifdef __AVX2__
inline __m256 round_even(__m256 v) { return _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
inline __m256 round_away(__m256 v) {
  const __m256 sign = _mm256_set1_ps(-0.f);
  const __m256 a = _mm256_andnot_ps(sign, v);
  const __m256 t = _mm256_round_ps(a, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
  const __m256 up = _mm256_cmp_ps(_mm256_sub_ps(a, t), _mm256_set1_ps(0.5f), _CMP_GE_OQ);
  const __m256 r = _mm256_add_ps(t, _mm256_and_ps(up, _mm256_set1_ps(1.f)));
  return _mm256_or_ps(r, _mm256_and_ps(sign, v));
}
// vmaxps / vminps return the second operand for NaN: NaN becomes -2^30, then the ordered
// mask zeroes it; adding +0 turns -0 into +0.
inline __m256 clamp_code(__m256 r) {
  const __m256 lim = _mm256_set1_ps(1073741824.f);
  const __m256 ord = _mm256_cmp_ps(r, r, _CMP_ORD_Q);
  const __m256 c = _mm256_min_ps(_mm256_max_ps(r, _mm256_sub_ps(_mm256_setzero_ps(), lim)), lim);
  return _mm256_add_ps(_mm256_and_ps(c, ord), _mm256_setzero_ps());
}
#endif

#ifdef __AVX512F__
inline __m512 round_even(__m512 v) { return _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
inline __m512 round_away(__m512 v) {
  const __m512i sign = _mm512_set1_epi32(int32_t(0x80000000u));
  const __m512 a = _mm512_castsi512_ps(_mm512_andnot_si512(sign, _mm512_castps_si512(v)));
  const __m512 t = _mm512_roundscale_ps(a, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
  const __mmask16 up = _mm512_cmp_ps_mask(_mm512_sub_ps(a, t), _mm512_set1_ps(0.5f), _CMP_GE_OQ);
  const __m512 r = _mm512_mask_add_ps(t, up, t, _mm512_set1_ps(1.f));
  return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(r), _mm512_and_si512(sign, _mm512_castps_si512(v))));
}
inline __m512 clamp_code(__m512 r) {
  const __m512 lim = _mm512_set1_ps(1073741824.f);
  const __mmask16 ord = _mm512_cmp_ps_mask(r, r, _CMP_ORD_Q);
  const __m512 c = _mm512_min_ps(_mm512_max_ps(r, _mm512_set1_ps(-1073741824.f)), lim);
  return _mm512_add_ps(_mm512_maskz_mov_ps(ord, c), _mm512_setzero_ps());
}
#endif

}  // namespace
}  // namespace qsr::quant::simd
