// AVX2 steps of the integer kernels' output stage, shared by the AVX2 table (int_avx2.cpp)
// and the 16-lane emulation (int_w16.cpp, two of each per vector). Internal linkage: each
// file compiles its own copy. See int_impl.inc for what each computes.
#pragma once
#include <immintrin.h>

namespace qsr::quant::avx2ops {
namespace {

// Two vectors of 4 int64 (values in int32 range) to one of 8 int32.
inline __m256i narrow8(__m256i lo, __m256i hi) {
  const __m256i idx = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
  return _mm256_permute2x128_si256(_mm256_permutevar8x32_epi32(lo, idx), _mm256_permutevar8x32_epi32(hi, idx), 0x20);
}

// round(double(v[l]) * ms[l]) on 4 lanes: exact (|v| < 2^22, ms an integer below 2^31 times
// 2^-s), as is the rounding; the result is an integer below 2^30.
template <bool Away>
inline __m128i rq_double4(__m128i v, const double* ms) {
  __m256d p = _mm256_mul_pd(_mm256_cvtepi32_pd(v), _mm256_loadu_pd(ms));
  if constexpr (Away) {
    const __m256d sign = _mm256_set1_pd(-0.0);
    const __m256d a = _mm256_andnot_pd(sign, p);
    __m256d f = _mm256_round_pd(a, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    const __m256d up = _mm256_cmp_pd(_mm256_sub_pd(a, f), _mm256_set1_pd(0.5), _CMP_GE_OQ);
    f = _mm256_add_pd(f, _mm256_and_pd(up, _mm256_set1_pd(1.0)));
    p = _mm256_or_pd(f, _mm256_and_pd(sign, p));
  } else {
    p = _mm256_round_pd(p, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  }
  return _mm256_cvtpd_epi32(p);
}
template <bool Away>
inline __m256i rq_double8(__m256i v, const double* ms) {
  return _mm256_set_m128i(rq_double4<Away>(_mm256_extracti128_si256(v, 1), ms + 4),
                          rq_double4<Away>(_mm256_castsi256_si128(v), ms));
}

// float(double(v[l]) * sc[l]) on 8 lanes (two roundings, as the reference).
inline __m256 to_float8(__m256i v, const double* sc) {
  const __m128 lo = _mm256_cvtpd_ps(_mm256_mul_pd(_mm256_cvtepi32_pd(_mm256_castsi256_si128(v)), _mm256_loadu_pd(sc)));
  const __m128 hi = _mm256_cvtpd_ps(_mm256_mul_pd(_mm256_cvtepi32_pd(_mm256_extracti128_si256(v, 1)), _mm256_loadu_pd(sc + 4)));
  return _mm256_set_m128(hi, lo);
}

// 8 int32 (in int16 range) to 8 int16.
inline __m128i pack16(__m256i v) { return _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1)); }

}  // namespace
}  // namespace qsr::quant::avx2ops
