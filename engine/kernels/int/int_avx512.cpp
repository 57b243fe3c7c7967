// The AVX-512 integer kernels (compiled with AVX-512 F/BW/VL/DQ and VNNI): int_impl.inc
// over 16 int32 lanes, one vpdpwssd per int16 pair step. The dispatcher picks this table
// only on CPUs with AVX512-VNNI; other AVX-512 CPUs run the AVX2 table.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/kernels/int/int_kernels.h"
#include "engine/kernels/round_simd.h"
#include "quant/spec_int.h"

namespace qsr::quant::int_avx512 {

struct V : Tiles16 {
  using I = __m512i;
  using D = __m512i;
  using M = __mmask8;
  using F = __m512;
  static constexpr int W = 16;
  static I zero() { return _mm512_setzero_si512(); }
  static I load(const void* p) { return _mm512_loadu_si512(p); }
  static I bcast32(const uint8_t* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
  }
  static I maddubs(I x, I w) { return _mm512_maddubs_epi16(x, w); }
  static I add16(I a, I b) { return _mm512_add_epi16(a, b); }
  static I widen16(I v) { return _mm512_madd_epi16(v, _mm512_set1_epi16(1)); }
  static I dp8(I acc, I x, I w) { return _mm512_dpbusd_epi32(acc, x, w); }
  static __m256i dp8_256(__m256i acc, __m256i x, __m256i w) { return _mm256_dpbusd_epi32(acc, x, w); }
  static void store8(uint8_t* p, I v, int n) {
    const __m128i b = _mm512_cvtepi32_epi8(v);  // values are in 0..255
    if (n == 16) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(p), b);
    } else {
      alignas(16) uint8_t t[16];
      _mm_store_si128(reinterpret_cast<__m128i*>(t), b);
      std::copy(t, t + n, p);
    }
  }
  static void store32(int32_t* p, I v) { _mm512_store_si512(p, v); }
  static I load8(const void* p) {
    return _mm512_zextsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  static I bcast32(const int16_t* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
  }
  static I set32(int32_t v) { return _mm512_set1_epi32(v); }
  static I dp(I acc, I x, I w) { return _mm512_dpwssd_epi32(acc, x, w); }
  static I add32(I a, I b) { return _mm512_add_epi32(a, b); }
  static D widen_lo(I v) { return _mm512_cvtepi32_epi64(_mm512_castsi512_si256(v)); }
  static D widen_hi(I v) { return _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(v, 1)); }
  static D mul32(D a, D b) { return _mm512_mul_epi32(a, b); }
  static D add64(D a, D b) { return _mm512_add_epi64(a, b); }
  static D sub64(D a, D b) { return _mm512_sub_epi64(a, b); }
  static D and64(D a, D b) { return _mm512_and_si512(a, b); }
  static D srlv64(D a, D s) { return _mm512_srlv_epi64(a, s); }
  static D set64(int64_t v) { return _mm512_set1_epi64(v); }
  static D load64(const int64_t* p) { return load(p); }
  static M gt64(D a, D b) { return _mm512_cmpgt_epi64_mask(a, b); }
  static M eq64(D a, D b) { return _mm512_cmpeq_epi64_mask(a, b); }
  static M m_and(M a, M b) { return M(a & b); }
  static M m_or(M a, M b) { return M(a | b); }
  static M m_not(M a) { return M(~a); }
  static D inc(D y, M m) { return _mm512_mask_add_epi64(y, m, y, _mm512_set1_epi64(1)); }
  static D sel(M m, D a, D b) { return _mm512_mask_blend_epi64(m, b, a); }
  static D mvec(M m) { return _mm512_movm_epi64(m); }
  static I min32(I a, I b) { return _mm512_min_epi32(a, b); }
  static I max32(I a, I b) { return _mm512_max_epi32(a, b); }
  template <bool Away>
  static __m256i rq_double8(__m256i v, const double* ms) {
    __m512d p = _mm512_mul_pd(_mm512_cvtepi32_pd(v), _mm512_loadu_pd(ms));
    if constexpr (Away) {
      const __m512d a = _mm512_abs_pd(p);
      __m512d f = _mm512_roundscale_pd(a, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
      const __mmask8 up = _mm512_cmp_pd_mask(_mm512_sub_pd(a, f), _mm512_set1_pd(0.5), _CMP_GE_OQ);
      f = _mm512_mask_add_pd(f, up, f, _mm512_set1_pd(1.0));
      const __m512i sign = _mm512_and_si512(_mm512_castpd_si512(p), _mm512_set1_epi64(int64_t(0x8000000000000000ull)));
      p = _mm512_castsi512_pd(_mm512_or_si512(_mm512_castpd_si512(f), sign));
    } else {
      p = _mm512_roundscale_pd(p, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    }
    return _mm512_cvtpd_epi32(p);
  }
  template <bool Away>
  static I rq_double(I v, const double* ms) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(rq_double8<Away>(_mm512_castsi512_si256(v), ms)),
                              rq_double8<Away>(_mm512_extracti64x4_epi64(v, 1), ms + 8), 1);
  }
  static I narrow(D lo, D hi) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi64_epi32(lo)), _mm512_cvtepi64_epi32(hi), 1);
  }
  static void store16(int16_t* p, I v, int n) {
    const __m256i s = _mm512_cvtepi32_epi16(v);  // values are in int16 range
    if (n == 16) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), s);
    } else {
      alignas(32) int16_t b[16];
      _mm256_store_si256(reinterpret_cast<__m256i*>(b), s);
      std::copy(b, b + n, p);
    }
  }
  static F to_float(I v, const double* sc) {
    const __m256 lo = _mm512_cvtpd_ps(_mm512_mul_pd(_mm512_cvtepi32_pd(_mm512_castsi512_si256(v)), _mm512_loadu_pd(sc)));
    const __m256 hi =
        _mm512_cvtpd_ps(_mm512_mul_pd(_mm512_cvtepi32_pd(_mm512_extracti64x4_epi64(v, 1)), _mm512_loadu_pd(sc + 8)));
    return _mm512_insertf32x8(_mm512_castps256_ps512(lo), hi, 1);
  }
  static F fload(const float* p) { return _mm512_loadu_ps(p); }
  static F fset1(float v) { return _mm512_set1_ps(v); }
  static F fadd(F a, F b) { return _mm512_add_ps(a, b); }
  static F fdiv(F a, F b) { return _mm512_div_ps(a, b); }
  static F fmin(F a, F b) { return _mm512_min_ps(a, b); }
  static F fmax(F a, F b) { return _mm512_max_ps(a, b); }
  static F fmax0(F v) { return _mm512_max_ps(_mm512_setzero_ps(), v); }  // second operand on ties / NaN
  static void fstore(float* p, F v, int n) {
    if (n == 16) {
      _mm512_storeu_ps(p, v);
    } else {
      alignas(64) float b[16];
      _mm512_store_ps(b, v);
      std::copy(b, b + n, p);
    }
  }
  static I cvt(F r) { return _mm512_cvtps_epi32(r); }
  static F round_even(F v) { return simd::round_even(v); }
  static F round_away(F v) { return simd::round_away(v); }
  static F clamp_code(F r) { return simd::clamp_code(r); }  // round_value: NaN -> 0, |r| <= 2^30
};

#include "engine/kernels/int/int_impl.inc"

}  // namespace qsr::quant::int_avx512
