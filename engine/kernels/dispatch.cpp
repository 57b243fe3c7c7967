// Fills one f32 kernel table per instruction set from f32_kernels.inc.
#include "engine/kernels/kernels.h"
#include "engine/tensor.h"

namespace qsr {

namespace {
template <class Fill> F32Kernels make(Isa isa, Fill fill) {
  F32Kernels t{};
  t.isa = isa;
  fill(t);
  return t;
}
}  // namespace

const F32Kernels& f32_kernels(Isa isa) {
  QSR_CHECK(isa_compiled(isa), "the " + isa_name(isa) + " kernels are not compiled in this build (-DQSR_SIMD=OFF)");
  QSR_CHECK(isa_supported(isa), "this CPU cannot run the " + isa_name(isa) + " kernels");
  static const F32Kernels scalar = make(Isa::scalar, [](F32Kernels& t) {
#define QSR_F32_KERNEL(name, params) t.name = &kern_scalar::name;
#include "engine/kernels/f32_kernels.inc"
#undef QSR_F32_KERNEL
  });
#ifdef QSR_HAVE_SIMD
  static const F32Kernels avx2 = make(Isa::avx2, [](F32Kernels& t) {
#define QSR_F32_KERNEL(name, params) t.name = &kern_avx2::name;
#include "engine/kernels/f32_kernels.inc"
#undef QSR_F32_KERNEL
  });
  static const F32Kernels avx512 = make(Isa::avx512, [](F32Kernels& t) {
#define QSR_F32_KERNEL(name, params) t.name = &kern_avx512::name;
#include "engine/kernels/f32_kernels.inc"
#undef QSR_F32_KERNEL
  });
  if (isa == Isa::avx2) return avx2;
  if (isa == Isa::avx512) return avx512;
#endif
  return scalar;
}

const F32Kernels& f32_kernels() {
  static const F32Kernels& t = f32_kernels(active_isa());
  return t;
}

}  // namespace qsr
