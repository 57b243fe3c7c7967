// The kernel sets (kernel_set.h): the per-ISA tables of every family, filled from their lists.
#include "engine/kernels/kernel_set.h"

#include "engine/tensor.h"

namespace qsr {

namespace {

template <class Fill>
F32Kernels make_f32(Isa isa, Fill fill) {
  F32Kernels t{};
  t.isa = isa;
  fill(t);
  return t;
}

const F32Kernels kF32Scalar = make_f32(Isa::scalar, [](F32Kernels& t) {
#define QSR_F32_KERNEL(name, params) t.name = &kern_scalar::name;
#include "engine/kernels/f32/f32_list.inc"
#undef QSR_F32_KERNEL
});
const quant::FqKernels kFqScalar{Isa::scalar, &quant::fq_scalar::fq_forward, &quant::fq_scalar::fq_apply_mask};

#ifdef QSR_HAVE_SIMD
const F32Kernels kF32Avx2 = make_f32(Isa::avx2, [](F32Kernels& t) {
#define QSR_F32_KERNEL(name, params) t.name = &kern_avx2::name;
#include "engine/kernels/f32/f32_list.inc"
#undef QSR_F32_KERNEL
});
const F32Kernels kF32Avx512 = make_f32(Isa::avx512, [](F32Kernels& t) {
#define QSR_F32_KERNEL(name, params) t.name = &kern_avx512::name;
#include "engine/kernels/f32/f32_list.inc"
#undef QSR_F32_KERNEL
});
const quant::FqKernels kFqAvx2{Isa::avx2, &quant::fq_avx2::fq_forward, &quant::fq_avx2::fq_apply_mask};
const quant::FqKernels kFqAvx512{Isa::avx512, &quant::fq_avx512::fq_forward, &quant::fq_avx512::fq_apply_mask};
const quant::IntKernels kIntW16{Isa::avx512, "avx512 shapes emulated on avx2", &quant::int_w16::conv_rows,
                                &quant::int_w16::quantize_rows};
#endif

// Every set, indexed by Isa; entries of ISAs not compiled stay empty.
struct Sets {
  KernelSet by_isa[3] = {};
  Sets() {
    by_isa[0] = {Isa::scalar, "scalar", &kF32Scalar, &kFqScalar, quant::int_table(Isa::scalar)};
#ifdef QSR_HAVE_SIMD
    by_isa[1] = {Isa::avx2, "avx2", &kF32Avx2, &kFqAvx2, quant::int_table(Isa::avx2)};
    by_isa[2] = {Isa::avx512, "avx512-vnni", &kF32Avx512, &kFqAvx512, quant::int_table(Isa::avx512)};
#endif
  }
};
const Sets& sets() {
  static const Sets s;
  return s;
}

}  // namespace

const KernelSet& kernel_set(Isa isa) {
  check_isa(isa);
  const KernelSet& s = sets().by_isa[static_cast<int>(isa)];
  QSR_CHECK(s.f32 && s.fq && s.ints, "internal: the " + isa_name(isa) + " kernel set is incomplete");
  return s;
}

const KernelSet& kernel_set() {
  static const KernelSet& s = kernel_set(active_isa());
  return s;
}

const KernelSet& kernel_set_w16_emulation() {
#ifdef QSR_HAVE_SIMD
  check_isa(Isa::avx2);
  static const KernelSet s{Isa::avx512, kIntW16.name, &kF32Avx2, &kFqAvx2, &kIntW16};
  return s;
#else
  throw Error("the 16-lane emulation is not compiled in this build (-DQSR_SIMD=OFF)");
#endif
}

const KernelSet& kernel_set_lowering(Isa isa) {
  static const KernelSet by_isa[3] = {
      {Isa::scalar, "scalar", &kF32Scalar, &kFqScalar, &quant::int_lowering_table(Isa::scalar)},
      {Isa::avx2, "scalar (lowered for avx2)", &kF32Scalar, &kFqScalar, &quant::int_lowering_table(Isa::avx2)},
      {Isa::avx512, "scalar (lowered for avx512-vnni)", &kF32Scalar, &kFqScalar, &quant::int_lowering_table(Isa::avx512)}};
  return by_isa[static_cast<int>(isa)];
}

// The per-family accessors (f32_kernels.h, fq_kernels.h, int_kernels.h) read the sets.
const F32Kernels& f32_kernels(Isa isa) { return *kernel_set(isa).f32; }
const F32Kernels& f32_kernels() { return *kernel_set().f32; }

}  // namespace qsr

namespace qsr::quant {
const FqKernels& fq_kernels(Isa isa) { return *kernel_set(isa).fq; }
const FqKernels& fq_kernels() { return *kernel_set().fq; }
const IntKernels& int_kernels(Isa isa) { return *kernel_set(isa).ints; }
const IntKernels& int_kernels() { return *kernel_set().ints; }
}  // namespace qsr::quant
