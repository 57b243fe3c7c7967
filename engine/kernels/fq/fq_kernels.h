// Fake-quantisation kernels (internal to layers/fake_quant.cpp and its tests): the
// deterministic-rounding forward (half_even, half_away) and the straight-through mask
// applied to a gradient, one table per instruction set like the engine's f32 kernels
// (engine/kernels/f32/f32_kernels.h): fq_impl.inc is compiled once per ISA in fq_scalar.cpp,
// fq_avx2.cpp and fq_avx512.cpp and a table is picked at run time.
//
// Every variant is bit-for-bit quant::fake_quantize / quantize_value: v = x / s in IEEE
// single precision (a division, never a multiplication by 1/s), round(v) (NaN -> 0, |v|
// clamped to 2^30 first, as round_value), the code's position against [qmin, qmax] and
// y = float(q - z) * s. With the precomputed per-channel constants of FqParams this is
// exact float arithmetic (see fq_prepare).
//
// The STE mask is a bit mask: bit i % 64 of word i / 64 is 1 where element i's unclamped
// code lies in [qmin, qmax]. Kernel ranges start at a multiple of 64 (the fake-quant blocks
// do), so ranges on different threads never share a word.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/cpu.h"
#include "quant/spec.h"

namespace qsr::quant {

// The widest vector (floats) of any variant: the padding of FqParams' channel arrays.
inline constexpr int kFqMaxWidth = 16;

// Per-channel constants. Each array has c + kFqMaxWidth entries, entry j being that of
// channel j % c, so kFqMaxWidth consecutive entries from any channel k are channels
// k, k+1, ... (mod c): a vector load at the channel offset gives every lane its channel.
struct FqParams {
  int64_t c = 1;         // channels: 1 per tensor, else the size of the last axis
  bool away = false;     // half_away (else half_even)
  const float* s = nullptr;    // scale
  const float* lo = nullptr;   // smallest float >= qmin - z: the rounded v is clipped low iff r < lo
  const float* hi = nullptr;   // largest float <= qmax - z: clipped high iff r > hi
  const float* ylo = nullptr;  // y when clipped low: float(qmin - z) * s
  const float* yhi = nullptr;  // y when clipped high: float(qmax - z) * s
  const float* dlo = nullptr;  // dy/ds when clipped low: float(qmin - z)
  const float* dhi = nullptr;  // dy/ds when clipped high: float(qmax - z)
};

// FqParams with the storage of its arrays.
struct FqPrepared {
  std::vector<float> buf;
  FqParams p;
};
// rounding: half_even or half_away (stochastic without a generator is half_even).
FqPrepared fq_prepare(const float* scale, const int32_t* zero_point, int64_t c, int32_t qmin, int32_t qmax,
                      Rounding rounding);

struct FqKernels {
  Isa isa;
  // Elements [i0, i1) of a tensor (i0 a multiple of 64): y[i], and when not null the mask
  // bits (words i0/64 ...; whole words, bits past i1 zero) and dyds[i] = float(q - z) - v
  // inside, float(q - z) clipped. x, y, mask, dyds point at element / word 0.
  void (*forward)(const FqParams& p, const float* x, int64_t i0, int64_t i1, float* y, uint64_t* mask, float* dyds);
  // gx[i] = mask bit i ? g[i] : 0 for i in [i0, i1) (i0 a multiple of 64).
  void (*apply_mask)(const uint64_t* mask, const float* g, int64_t i0, int64_t i1, float* gx);
};

// kernel_set(isa).fq and kernel_set().fq (engine/kernels/kernel_set.h): qsr::Error when the
// ISA is not compiled or not runnable.
const FqKernels& fq_kernels(Isa isa);
const FqKernels& fq_kernels();

#define QSR_FQ_DECLARE                                                                                      \
  void fq_forward(const FqParams& p, const float* x, int64_t i0, int64_t i1, float* y, uint64_t* mask, \
                  float* dyds);                                                                         \
  void fq_apply_mask(const uint64_t* mask, const float* g, int64_t i0, int64_t i1, float* gx);
namespace fq_scalar {
QSR_FQ_DECLARE
}
namespace fq_avx2 {
QSR_FQ_DECLARE
}
namespace fq_avx512 {
QSR_FQ_DECLARE
}
#undef QSR_FQ_DECLARE

}  // namespace qsr::quant
