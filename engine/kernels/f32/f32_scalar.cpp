// The scalar path of the f32 kernel table: the same blocked algorithms as the
// SIMD paths with one float per "vector". Compiled with baseline x86-64 flags.

#include "engine/dtype.h"
#include "engine/kernels/f32/f32_kernels.h"

namespace qsr::kern_scalar {

struct V {
  using T = float;
  static constexpr int W = 1;
  static T load(const float* p) { return *p; }
  static T loadh(const uint16_t* p) { return qsr::f16_to_f32(*p); }
  static float h2f(uint16_t h) { return qsr::f16_to_f32(h); }
  static void store(float* p, T v) { *p = v; }
  static T bcast(const float* p) { return *p; }
  static T fma(T a, T b, T c) { return a * b + c; }
  static float fmas(float a, float b, float c) { return a * b + c; }
  static T zero() { return 0.f; }
  static T add(T a, T b) { return a + b; }
  static float hsum(T v) { return v; }
  static T sub(T a, T b) { return a - b; }
  static T mul(T a, T b) { return a * b; }
  static T set1(float s) { return s; }
  static T max0(T v) { return v > 0.f ? v : 0.f; }
  static T select_pos(T y, T g) { return y > 0.f ? g : 0.f; }
  static void copy_small(float* d, const float* s, int n) {
    for (int i = 0; i < n; ++i) d[i] = s[i];
  }
};

#include "engine/kernels/f32/f32_impl.inc"

}  // namespace qsr::kern_scalar
