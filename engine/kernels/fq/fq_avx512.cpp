// The AVX-512 variant of the fake-quantisation kernels (compiled with -mavx512f -mavx512bw
// -mavx512vl -mavx512dq). It mirrors fq_avx2.cpp operation for operation with 16 lanes and
// mask registers. Note: not run on the development machine (no AVX-512 there); the test
// "fake_quant: every ISA's fast path ..." covers it on machines that have AVX-512.
#include <immintrin.h>

#include <algorithm>

#include "engine/kernels/fq/fq_kernels.h"
#include "engine/kernels/round_simd.h"

namespace qsr::quant::fq_avx512 {

struct V {
  using F = __m512;
  using M = __mmask16;
  static constexpr int W = 16;
  static F load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, F v) { _mm512_storeu_ps(p, v); }
  static F set1(float s) { return _mm512_set1_ps(s); }
  static F div(F a, F b) { return _mm512_div_ps(a, b); }
  static F mul(F a, F b) { return _mm512_mul_ps(a, b); }
  static F sub(F a, F b) { return _mm512_sub_ps(a, b); }
  // vrndscaleps with scale 0 and the nearest mode is round half to even.
  static F round_even(F v) { return simd::round_even(v); }
  static F round_away(F v) { return simd::round_away(v); }
  static F clamp_code(F r) { return simd::clamp_code(r); }
  static M lt(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
  static M gt(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
  static M neither(M a, M b) { return __mmask16(~(a | b)); }
  static F select(M m, F a, F b) { return _mm512_mask_blend_ps(m, b, a); }
  static uint32_t bits(M m) { return uint32_t(m); }
  static F keep(uint32_t b, F g) { return _mm512_maskz_mov_ps(__mmask16(b & 0xFFFFu), g); }
};

#include "engine/kernels/fq/fq_impl.inc"

}  // namespace qsr::quant::fq_avx512
