// The AVX-512 variant of the fake-quantisation kernels (compiled with -mavx512f -mavx512bw
// -mavx512vl -mavx512dq). It mirrors fq_avx2.cpp operation for operation with 16 lanes and
// mask registers. Note: not run on the development machine (no AVX-512 there); the test
// "fake_quant: every ISA's fast path ..." covers it on machines that have AVX-512.
#include <immintrin.h>

#include <algorithm>

#include "quant/kernels/fq_kernels.h"

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
  static F round_even(F v) { return _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  // As fq_avx2.cpp: half away on the magnitude, then v's sign back.
  static F round_away(F v) {
    const __m512i sign = _mm512_set1_epi32(int32_t(0x80000000u));
    const F a = _mm512_castsi512_ps(_mm512_andnot_si512(sign, _mm512_castps_si512(v)));
    const F t = _mm512_roundscale_ps(a, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    const __mmask16 up = _mm512_cmp_ps_mask(_mm512_sub_ps(a, t), _mm512_set1_ps(0.5f), _CMP_GE_OQ);
    const F r = _mm512_mask_add_ps(t, up, t, _mm512_set1_ps(1.f));
    return _mm512_castsi512_ps(
        _mm512_or_si512(_mm512_castps_si512(r), _mm512_and_si512(sign, _mm512_castps_si512(v))));
  }
  static F clamp_code(F r) {
    const F lim = _mm512_set1_ps(1073741824.f);
    const __mmask16 ord = _mm512_cmp_ps_mask(r, r, _CMP_ORD_Q);
    const F c = _mm512_min_ps(_mm512_max_ps(r, _mm512_set1_ps(-1073741824.f)), lim);
    return _mm512_add_ps(_mm512_maskz_mov_ps(ord, c), _mm512_setzero_ps());
  }
  static M lt(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
  static M gt(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
  static M neither(M a, M b) { return __mmask16(~(a | b)); }
  static F select(M m, F a, F b) { return _mm512_mask_blend_ps(m, b, a); }
  static uint32_t bits(M m) { return uint32_t(m); }
  static F keep(uint32_t b, F g) { return _mm512_maskz_mov_ps(__mmask16(b & 0xFFFFu), g); }
};

#include "quant/kernels/fq_impl.inc"

}  // namespace qsr::quant::fq_avx512
