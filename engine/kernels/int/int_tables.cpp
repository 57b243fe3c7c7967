// The integer kernel tables (int_kernels.h): plain data, no exceptions, shared by the engine
// (engine/kernels/kernel_set.cpp binds them into kernel sets) and quant/infer.
#include "engine/kernels/int/int_kernels.h"

namespace qsr::quant {

namespace {
const IntKernels kScalar{Isa::scalar, "scalar", &int_scalar::conv_rows, &int_scalar::quantize_rows};
#ifdef QSR_HAVE_SIMD
const IntKernels kAvx2{Isa::avx2, "avx2", &int_avx2::conv_rows, &int_avx2::quantize_rows};
#ifdef QSR_HAVE_INT_AVX512
const IntKernels kAvx512{Isa::avx512, "avx512-vnni", &int_avx512::conv_rows, &int_avx512::quantize_rows};
#endif
#endif
const IntKernels kLowerAvx2{Isa::avx2, "scalar (lowered for avx2)", &int_scalar::conv_rows, &int_scalar::quantize_rows};
const IntKernels kLowerAvx512{Isa::avx512, "scalar (lowered for avx512-vnni)", &int_scalar::conv_rows,
                              &int_scalar::quantize_rows};
}  // namespace

const IntKernels* int_table(Isa isa) {
  switch (isa) {
    case Isa::scalar: return &kScalar;
#ifdef QSR_HAVE_SIMD
    case Isa::avx2: return &kAvx2;
#ifdef QSR_HAVE_INT_AVX512
    case Isa::avx512: return &kAvx512;
#endif
#endif
    default: return nullptr;
  }
}

const IntKernels& int_lowering_table(Isa isa) {
  return isa == Isa::avx2 ? kLowerAvx2 : isa == Isa::avx512 ? kLowerAvx512 : kScalar;
}

}  // namespace qsr::quant
