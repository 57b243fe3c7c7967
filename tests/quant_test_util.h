// Shared helpers of the quantisation tests: small ESPCN models, quantised and calibrated
// (test_quant_model, test_qat, test_int_engine, test_infer).
#pragma once
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "engine/random.h"
#include "models/espcn.h"
#include "quant/ptq/qmodel.h"

namespace qsr_test {

using qsr::EspcnConfig;
using qsr::Espcn;
using qsr::Rng;
using qsr::Tensor;
using qsr::quant::QuantModel;
using qsr::quant::QuantRequest;
using qsr::quant::Rounding;

// A smooth random image in [0, 1] with noise.
inline Tensor image(uint64_t seed, int n, int h, int w) {
  Rng r(seed);
  Tensor t({n, h, w, 1});
  for (int b = 0; b < n; ++b) {
    const float fa = r.uniform(0.1f, 0.7f), fb = r.uniform(0.1f, 0.7f);
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)
        t.f32()[(int64_t(b) * h + y) * w + x] =
            std::clamp(0.5f + 0.4f * std::sin(fa * x + fb * y) + r.uniform(-0.15f, 0.15f), 0.f, 1.f);
  }
  return t;
}

inline EspcnConfig config(int scale, std::vector<int> features, std::vector<int> kernels) {
  EspcnConfig c;
  c.scale = scale;
  c.features = std::move(features);
  c.kernels = std::move(kernels);
  return c;
}

// Orthogonal kernels and non-zero biases (so the int32 bias path is exercised).
inline std::unique_ptr<Espcn> model_with_biases(const EspcnConfig& cfg, uint64_t seed, uint64_t bias_seed) {
  auto m = std::make_unique<Espcn>(cfg);
  m->init_orthogonal(seed);
  Rng r(bias_seed);
  for (auto& c : m->convs)
    for (int64_t i = 0; i < c->bias.value().numel(); ++i) c->bias.value().f32()[i] = r.uniform(-0.05f, 0.1f);
  return m;
}

inline std::unique_ptr<Espcn> model(const EspcnConfig& cfg, uint64_t seed) { return model_with_biases(cfg, seed, seed + 7); }

// A tiny x2 ESPCN (5x5/8, 3x3/6, 3x3/4).
inline EspcnConfig tiny_quant_cfg() { return config(2, {8, 6}, {5, 3, 3}); }
inline std::unique_ptr<Espcn> tiny_quant_model(uint64_t seed) { return model_with_biases(tiny_quant_cfg(), seed, seed + 1); }

inline QuantModel quantised(Espcn& m, const std::string& mode, bool per_channel = true, Rounding rr = Rounding::half_even,
                            std::vector<int> layers = {}) {
  QuantRequest req;
  req.mode = mode;
  req.per_channel = per_channel;
  req.rounding = rr;
  req.layers = std::move(layers);
  QuantModel q(m, req);
  if (q.needs_calibration()) {
    std::vector<Tensor> calib;
    for (uint64_t i = 0; i < 3; ++i) calib.push_back(image(900 + i, 1, 12, 14));
    q.calibrate(calib);
  }
  return q;
}

}  // namespace qsr_test
