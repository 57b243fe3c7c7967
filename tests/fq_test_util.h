// Shared helpers of the observer and fake-quantisation tests.
#pragma once
#include <utility>
#include <vector>

#include "quant/spec.h"

namespace qsr_test {

inline qsr::quant::QFormat fmt_of(int bits, bool is_signed, qsr::quant::Scheme s = qsr::quant::Scheme::symmetric,
                                  bool per_channel = false, qsr::quant::Rounding r = qsr::quant::Rounding::half_even) {
  qsr::quant::QFormat f;
  f.bits = bits;
  f.is_signed = is_signed;
  f.scheme = s;
  f.per_channel = per_channel;
  f.rounding = r;
  return f;
}

inline qsr::Tensor tensor_of(qsr::Shape shape, std::vector<float> v) { return qsr::Tensor::from(std::move(shape), v); }

}  // namespace qsr_test
