// The integer kernel tables (int_kernels.h).
#include "engine/cpu.h"
#include "engine/tensor.h"
#include "quant/kernels/int_kernels.h"

namespace qsr::quant {

const IntKernels& int_kernels(Isa isa) {
  QSR_CHECK(isa_compiled(isa), "the " + isa_name(isa) + " kernels are not compiled in this build (-DQSR_SIMD=OFF)");
  QSR_CHECK(isa_supported(isa), "this CPU cannot run the " + isa_name(isa) + " kernels");
  static const IntKernels scalar{Isa::scalar, "scalar", &int_scalar::conv_rows, &int_scalar::quantize_rows};
#ifdef QSR_HAVE_SIMD
  static const IntKernels avx2{Isa::avx2, "avx2", &int_avx2::conv_rows, &int_avx2::quantize_rows};
  static const IntKernels avx512{Isa::avx512, "avx512-vnni", &int_avx512::conv_rows, &int_avx512::quantize_rows};
  if (isa == Isa::avx2) return avx2;
  if (isa == Isa::avx512) {
    // The AVX-512 integer table needs VNNI (vpdpwssd); without it the AVX2 table runs.
    QSR_CHECK(isa_supported(Isa::avx2), "this CPU cannot run the avx2 kernels");
    return cpu_features().avx512vnni ? avx512 : avx2;
  }
#endif
  return scalar;
}

const IntKernels& int_kernels_w16_emulation() {
#ifdef QSR_HAVE_SIMD
  QSR_CHECK(isa_supported(Isa::avx2), "the 16-lane emulation needs AVX2");
  static const IntKernels w16{Isa::avx512, "avx512 shapes emulated on avx2", &int_w16::conv_rows, &int_w16::quantize_rows};
  return w16;
#else
  throw Error("the 16-lane emulation is not compiled in this build (-DQSR_SIMD=OFF)");
#endif
}

const IntKernels& int_lowering_table(Isa isa) {
  static const IntKernels scalar{Isa::scalar, "scalar", &int_scalar::conv_rows, &int_scalar::quantize_rows};
  static const IntKernels avx2{Isa::avx2, "scalar (lowered for avx2)", &int_scalar::conv_rows, &int_scalar::quantize_rows};
  static const IntKernels avx512{Isa::avx512, "scalar (lowered for avx512-vnni)", &int_scalar::conv_rows, &int_scalar::quantize_rows};
  return isa == Isa::avx2 ? avx2 : isa == Isa::avx512 ? avx512 : scalar;
}

const IntKernels& int_kernels() {
  static const IntKernels& t = int_kernels(active_isa());
  return t;
}

}  // namespace qsr::quant
