// Shared helpers of the quantisation tests (test_quant_model.cpp, test_qat.cpp).
#pragma once
#include <memory>

#include "engine/random.h"
#include "models/espcn.h"

namespace qsr_test {

// A tiny x2 ESPCN (5x5/8, 3x3/6, 3x3/4).
inline qsr::EspcnConfig tiny_quant_cfg() {
  qsr::EspcnConfig c;
  c.scale = 2;
  c.features = {8, 6};
  c.kernels = {5, 3, 3};
  return c;
}

// Orthogonal kernels and non-zero biases (so the int32 bias path is exercised).
inline std::unique_ptr<qsr::Espcn> tiny_quant_model(uint64_t seed) {
  auto m = std::make_unique<qsr::Espcn>(tiny_quant_cfg());
  m->init_orthogonal(seed);
  qsr::Rng r(seed + 1);
  for (auto& c : m->convs)
    for (int64_t i = 0; i < c->bias.value().numel(); ++i) c->bias.value().f32()[i] = r.uniform(-0.05f, 0.1f);
  return m;
}

}  // namespace qsr_test
