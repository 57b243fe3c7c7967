// A test-only table: int_impl.inc instantiated with 16 lanes (W = 16, the AVX-512 shapes:
// 16-channel blocks in one vector, 8-channel blocks in half of one, 12-pixel tiles) but every
// vector op done on two AVX2 halves, with the AVX-512 instructions' exact semantics
// (vpdpwssd, vpdpbusd without saturation, zero-extending 256-bit loads). Machines without
// AVX-512 run it to test the 16-lane logic of the kernels that only AVX-512 machines run
// natively. Compiled with -mavx2 -mfma -mf16c.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/kernels/int/int_avx2_ops.h"
#include "engine/kernels/int/int_kernels.h"
#include "engine/kernels/round_simd.h"
#include "quant/spec_int.h"

namespace qsr::quant::int_w16 {

struct V : Tiles16 {
  struct I { __m256i lo, hi; };  // 16 int32 (or 32 int16, 64 bytes)
  using D = I;                   // 8 int64
  using M = I;                   // a mask of 8 int64 lanes (-1 / 0)
  struct F { __m256 lo, hi; };
  static constexpr int W = 16;

  template <class Op> static I map(I a, I b, Op op) { return {op(a.lo, b.lo), op(a.hi, b.hi)}; }
  template <class Op> static F fmap(F a, F b, Op op) { return {op(a.lo, b.lo), op(a.hi, b.hi)}; }
  static __m256i ld(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

  static I zero() { return {_mm256_setzero_si256(), _mm256_setzero_si256()}; }
  static I load(const void* p) { return {ld(p), ld(static_cast<const char*>(p) + 32)}; }
  static I load8(const void* p) { return {ld(p), _mm256_setzero_si256()}; }  // zero-extending
  static void store32(int32_t* p, I v) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v.lo);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p + 8), v.hi);
  }
  static I splat(int32_t v) { return {_mm256_set1_epi32(v), _mm256_set1_epi32(v)}; }
  static I bcast32(const int16_t* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return splat(v);
  }
  static I bcast32(const uint8_t* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return splat(v);
  }
  static I set32(int32_t v) { return splat(v); }
  // vpdpwssd: acc + x0*w0 + x1*w1 per lane (no pair reaches 2^31, so vpmaddwd is the same).
  static I dp(I acc, I x, I w) {
    return {_mm256_add_epi32(acc.lo, _mm256_madd_epi16(x.lo, w.lo)), _mm256_add_epi32(acc.hi, _mm256_madd_epi16(x.hi, w.hi))};
  }
  // The exact sum of each int32 lane's four u8 x s8 products (vpdpbusd's, no saturation).
  static __m256i quads(__m256i x, __m256i w) {
    const __m256i a = _mm256_madd_epi16(_mm256_cvtepu8_epi16(_mm256_castsi256_si128(x)),
                                        _mm256_cvtepi8_epi16(_mm256_castsi256_si128(w)));
    const __m256i b = _mm256_madd_epi16(_mm256_cvtepu8_epi16(_mm256_extracti128_si256(x, 1)),
                                        _mm256_cvtepi8_epi16(_mm256_extracti128_si256(w, 1)));
    return _mm256_permute4x64_epi64(_mm256_hadd_epi32(a, b), 0xD8);
  }
  static I dp8(I acc, I x, I w) {
    return {_mm256_add_epi32(acc.lo, quads(x.lo, w.lo)), _mm256_add_epi32(acc.hi, quads(x.hi, w.hi))};
  }
  static __m256i dp8_256(__m256i acc, __m256i x, __m256i w) { return _mm256_add_epi32(acc, quads(x, w)); }
  static I maddubs(I x, I w) { return map(x, w, [](__m256i a, __m256i b) { return _mm256_maddubs_epi16(a, b); }); }
  static I add16(I a, I b) { return map(a, b, [](__m256i x, __m256i y) { return _mm256_add_epi16(x, y); }); }
  static I widen16(I v) { return map(v, splat(0x00010001), [](__m256i a, __m256i o) { return _mm256_madd_epi16(a, o); }); }
  static I add32(I a, I b) { return map(a, b, [](__m256i x, __m256i y) { return _mm256_add_epi32(x, y); }); }
  static I min32(I a, I b) { return map(a, b, [](__m256i x, __m256i y) { return _mm256_min_epi32(x, y); }); }
  static I max32(I a, I b) { return map(a, b, [](__m256i x, __m256i y) { return _mm256_max_epi32(x, y); }); }
  // Lanes 0..7 / 8..15 sign-extended to 64 bits.
  static D widen(__m256i v) {
    return {_mm256_cvtepi32_epi64(_mm256_castsi256_si128(v)), _mm256_cvtepi32_epi64(_mm256_extracti128_si256(v, 1))};
  }
  static D widen_lo(I v) { return widen(v.lo); }
  static D widen_hi(I v) { return widen(v.hi); }
  static D mul32(D a, D b) { return map(a, b, [](__m256i x, __m256i y) { return _mm256_mul_epi32(x, y); }); }
  static D add64(D a, D b) { return map(a, b, [](__m256i x, __m256i y) { return _mm256_add_epi64(x, y); }); }
  static D sub64(D a, D b) { return map(a, b, [](__m256i x, __m256i y) { return _mm256_sub_epi64(x, y); }); }
  static D and64(D a, D b) { return map(a, b, [](__m256i x, __m256i y) { return _mm256_and_si256(x, y); }); }
  static D srlv64(D a, D s) { return map(a, s, [](__m256i x, __m256i y) { return _mm256_srlv_epi64(x, y); }); }
  static D set64(int64_t v) { return {_mm256_set1_epi64x(v), _mm256_set1_epi64x(v)}; }
  static D load64(const int64_t* p) { return load(p); }
  static M gt64(D a, D b) { return map(a, b, [](__m256i x, __m256i y) { return _mm256_cmpgt_epi64(x, y); }); }
  static M eq64(D a, D b) { return map(a, b, [](__m256i x, __m256i y) { return _mm256_cmpeq_epi64(x, y); }); }
  static M m_and(M a, M b) { return and64(a, b); }
  static M m_or(M a, M b) { return map(a, b, [](__m256i x, __m256i y) { return _mm256_or_si256(x, y); }); }
  static M m_not(M a) { return map(a, set64(-1), [](__m256i x, __m256i y) { return _mm256_xor_si256(x, y); }); }
  static D inc(D y, M m) { return sub64(y, m); }
  static D sel(M m, D a, D b) { return {_mm256_blendv_epi8(b.lo, a.lo, m.lo), _mm256_blendv_epi8(b.hi, a.hi, m.hi)}; }
  static D mvec(M m) { return m; }
  static I narrow(D lo, D hi) { return {avx2ops::narrow8(lo.lo, lo.hi), avx2ops::narrow8(hi.lo, hi.hi)}; }
  template <bool Away>
  static I rq_double(I v, const double* ms) { return {avx2ops::rq_double8<Away>(v.lo, ms), avx2ops::rq_double8<Away>(v.hi, ms + 8)}; }
  static void store16(int16_t* p, I v, int n) {
    alignas(32) int16_t b[16];
    _mm_store_si128(reinterpret_cast<__m128i*>(b), avx2ops::pack16(v.lo));
    _mm_store_si128(reinterpret_cast<__m128i*>(b + 8), avx2ops::pack16(v.hi));
    std::copy(b, b + n, p);
  }
  static void store8(uint8_t* p, I v, int n) {
    alignas(32) int16_t b[16];
    store16(b, v, 16);
    for (int i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(b[i]);  // values are in 0..255
  }
  static F to_float(I v, const double* sc) { return {avx2ops::to_float8(v.lo, sc), avx2ops::to_float8(v.hi, sc + 8)}; }
  static F fload(const float* p) { return {_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)}; }
  static F fset1(float v) { return {_mm256_set1_ps(v), _mm256_set1_ps(v)}; }
  static F fadd(F a, F b) { return fmap(a, b, [](__m256 x, __m256 y) { return _mm256_add_ps(x, y); }); }
  static F fdiv(F a, F b) { return fmap(a, b, [](__m256 x, __m256 y) { return _mm256_div_ps(x, y); }); }
  static F fmin(F a, F b) { return fmap(a, b, [](__m256 x, __m256 y) { return _mm256_min_ps(x, y); }); }
  static F fmax(F a, F b) { return fmap(a, b, [](__m256 x, __m256 y) { return _mm256_max_ps(x, y); }); }
  static F fmax0(F v) { return fmap(fset1(0.f), v, [](__m256 z, __m256 x) { return _mm256_max_ps(z, x); }); }
  static void fstore(float* p, F v, int n) {
    alignas(32) float b[16];
    _mm256_store_ps(b, v.lo);
    _mm256_store_ps(b + 8, v.hi);
    std::copy(b, b + n, p);
  }
  static I cvt(F r) { return {_mm256_cvtps_epi32(r.lo), _mm256_cvtps_epi32(r.hi)}; }
  static F round_even(F v) { return {simd::round_even(v.lo), simd::round_even(v.hi)}; }
  static F round_away(F v) { return {simd::round_away(v.lo), simd::round_away(v.hi)}; }
  static F clamp_code(F r) { return {simd::clamp_code(r.lo), simd::clamp_code(r.hi)}; }
};

#include "engine/kernels/int/int_impl.inc"

}  // namespace qsr::quant::int_w16
