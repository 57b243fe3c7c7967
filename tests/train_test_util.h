// Shared helpers of the training tests (test_train.cpp, test_qat.cpp): synthetic batches,
// a validation set, scratch folders and a model's parameter values.
#pragma once
#include <unistd.h>

#include <cmath>
#include <csignal>
#include <filesystem>
#include <string>
#include <vector>

#include "models/espcn.h"
#include "models/train.h"

namespace qsr_test {

// Smooth random images (b of (h*2) x (w*2)) and their 2x box-downscaled inputs; optionally the
// same batch every time, a NaN in the target, or a SIGINT raised at a given call.
class SyntheticSource : public qsr::TrainSource {
 public:
  int64_t steps = 4, raise_at = -1, calls = 0;
  bool fixed = false, nan = false;
  int b = 2, h = 6, w = 6;
  int64_t steps_per_epoch() const override { return steps; }
  void start_epoch(qsr::Rng&) override {}
  qsr::TrainBatch next_batch(qsr::Rng& rng) override {
    if (calls++ == raise_at) std::raise(SIGINT);
    qsr::Rng local(7);
    qsr::Rng& r = fixed ? local : rng;
    const int s = 2;
    qsr::TrainBatch t{qsr::Tensor({b, h, w, 1}), qsr::Tensor({b, h * s, w * s, 1})};
    for (int n = 0; n < b; ++n) {
      double fx = r.uniform() * 0.6, fy = r.uniform() * 0.6, ph = r.uniform() * 6;
      for (int y = 0; y < h * s; ++y)
        for (int x = 0; x < w * s; ++x)
          t.y.f32()[(n * h * s + y) * w * s + x] = float(0.5 + 0.4 * std::sin(fx * x + fy * y + ph));
      for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
          float a = 0;
          for (int i = 0; i < s; ++i)
            for (int j = 0; j < s; ++j) a += t.y.f32()[(n * h * s + y * s + i) * w * s + x * s + j];
          t.x.f32()[(n * h + y) * w + x] = a / (s * s);
        }
    }
    if (nan) t.y.f32()[3] = NAN;  // in the target: ReLU would turn a NaN input into 0
    return t;
  }
};

// One synthetic batch of size x size low-res images as a validation set.
inline std::vector<qsr::ValItem> val_set(int size = 6) {
  SyntheticSource s;
  s.h = s.w = size;
  qsr::Rng r(99);
  qsr::TrainBatch b = s.next_batch(r);
  return {{b.x, b.y}};
}

// An empty scratch path under the system temp folder, unique to this process.
inline std::filesystem::path fresh_dir(const std::string& prefix, const std::string& name) {
  std::filesystem::path d =
      std::filesystem::temp_directory_path() / (prefix + "_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(d);
  return d;
}

// Every parameter value of a model, in order.
inline std::vector<float> param_values(qsr::Espcn& m) {
  std::vector<float> v;
  for (auto& p : m.parameters()) v.insert(v.end(), p.value().f32(), p.value().f32() + p.value().numel());
  return v;
}

}  // namespace qsr_test
