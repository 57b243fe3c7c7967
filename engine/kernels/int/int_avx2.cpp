// The AVX2 integer kernels (compiled with -mavx2 -mfma -mf16c): int_impl.inc over 8 int32
// lanes, vpmaddwd + vpaddd per int16 pair step.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/kernels/int/int_avx2_ops.h"
#include "engine/kernels/int/int_kernels.h"
#include "engine/kernels/round_simd.h"
#include "quant/spec_int.h"

namespace qsr::quant::int_avx2 {

struct V {
  using I = __m256i;
  using D = __m256i;
  using M = __m256i;
  using F = __m256;
  static constexpr int W = 8;
  static constexpr int MR16 = 6;   // 12 accumulators + 2 weight vectors + 1 broadcast
  static constexpr int MR8 = 12;
  static constexpr int MR16B = 5;  // u8 tiles widening every step: 10 accumulators + 2 weights + broadcast + ones + product
  static constexpr int MR8B = 10;
  static constexpr int MR16K = 4;  // 8 int16 partial sums + 2 weights + up to 4 broadcasts in flight
  static constexpr int MR16N = 6;  // the whole window in int16: 12 partial sums + 2 weights + a broadcast
  static constexpr int MR8K = 6;
  static I zero() { return _mm256_setzero_si256(); }
  static I load(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
  static I load8(const void* p) { return load(p); }
  static void store32(int32_t* p, I v) { _mm256_store_si256(reinterpret_cast<__m256i*>(p), v); }
  static I bcast32(const uint8_t* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
  }
  static I maddubs(I x, I w) { return _mm256_maddubs_epi16(x, w); }
  static I add16(I a, I b) { return _mm256_add_epi16(a, b); }
  static I widen16(I v) { return _mm256_madd_epi16(v, _mm256_set1_epi16(1)); }
  static I dp8(I acc, I x, I w) { return _mm256_add_epi32(acc, widen16(_mm256_maddubs_epi16(x, w))); }
  static __m256i dp8_256(__m256i acc, __m256i x, __m256i w) { return dp8(acc, x, w); }
  static void store8(uint8_t* p, I v, int n) {
    const __m128i s = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    const __m128i b = _mm_packus_epi16(s, s);
    if (n == 8) {
      _mm_storel_epi64(reinterpret_cast<__m128i*>(p), b);
    } else {
      alignas(16) uint8_t t[16];
      _mm_store_si128(reinterpret_cast<__m128i*>(t), b);
      std::copy(t, t + n, p);
    }
  }
  static I bcast32(const int16_t* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
  }
  static I set32(int32_t v) { return _mm256_set1_epi32(v); }
  static I dp(I acc, I x, I w) { return _mm256_add_epi32(acc, _mm256_madd_epi16(x, w)); }
  static I add32(I a, I b) { return _mm256_add_epi32(a, b); }
  static D widen_lo(I v) { return _mm256_cvtepi32_epi64(_mm256_castsi256_si128(v)); }
  static D widen_hi(I v) { return _mm256_cvtepi32_epi64(_mm256_extracti128_si256(v, 1)); }
  static D mul32(D a, D b) { return _mm256_mul_epi32(a, b); }
  static D add64(D a, D b) { return _mm256_add_epi64(a, b); }
  static D sub64(D a, D b) { return _mm256_sub_epi64(a, b); }
  static D and64(D a, D b) { return _mm256_and_si256(a, b); }
  static D srlv64(D a, D s) { return _mm256_srlv_epi64(a, s); }
  static D set64(int64_t v) { return _mm256_set1_epi64x(v); }
  static D load64(const int64_t* p) { return load(p); }
  static M gt64(D a, D b) { return _mm256_cmpgt_epi64(a, b); }
  static M eq64(D a, D b) { return _mm256_cmpeq_epi64(a, b); }
  static M m_and(M a, M b) { return _mm256_and_si256(a, b); }
  static M m_or(M a, M b) { return _mm256_or_si256(a, b); }
  static M m_not(M a) { return _mm256_xor_si256(a, _mm256_set1_epi32(-1)); }
  static D inc(D y, M m) { return _mm256_sub_epi64(y, m); }  // m lanes are -1 or 0
  static D sel(M m, D a, D b) { return _mm256_blendv_epi8(b, a, m); }
  static D mvec(M m) { return m; }
  static I min32(I a, I b) { return _mm256_min_epi32(a, b); }
  static I max32(I a, I b) { return _mm256_max_epi32(a, b); }
  template <bool Away>
  static I rq_double(I v, const double* ms) { return avx2ops::rq_double8<Away>(v, ms); }
  static I narrow(D lo, D hi) { return avx2ops::narrow8(lo, hi); }
  static void store16(int16_t* p, I v, int n) {
    const __m128i s = avx2ops::pack16(v);
    if (n == 8) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(p), s);
    } else {
      alignas(16) int16_t b[8];
      _mm_store_si128(reinterpret_cast<__m128i*>(b), s);
      std::copy(b, b + n, p);
    }
  }
  static F to_float(I v, const double* sc) { return avx2ops::to_float8(v, sc); }
  static F fload(const float* p) { return _mm256_loadu_ps(p); }
  static F fset1(float v) { return _mm256_set1_ps(v); }
  static F fadd(F a, F b) { return _mm256_add_ps(a, b); }
  static F fdiv(F a, F b) { return _mm256_div_ps(a, b); }
  static F fmin(F a, F b) { return _mm256_min_ps(a, b); }
  static F fmax(F a, F b) { return _mm256_max_ps(a, b); }
  static F fmax0(F v) { return _mm256_max_ps(_mm256_setzero_ps(), v); }  // second operand on ties / NaN
  static void fstore(float* p, F v, int n) {
    if (n == 8) {
      _mm256_storeu_ps(p, v);
    } else {
      alignas(32) float b[8];
      _mm256_store_ps(b, v);
      std::copy(b, b + n, p);
    }
  }
  static I cvt(F r) { return _mm256_cvtps_epi32(r); }  // r holds integers
  static F round_even(F v) { return simd::round_even(v); }
  static F round_away(F v) { return simd::round_away(v); }
  static F clamp_code(F r) { return simd::clamp_code(r); }  // round_value: NaN -> 0, |r| <= 2^30
};

#include "engine/kernels/int/int_impl.inc"

}  // namespace qsr::quant::int_avx2
