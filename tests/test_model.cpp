// ESPCN: configuration, shapes, errors, a short training run that must learn,
// and bitwise determinism across runs and thread counts.
#include <cmath>
#include <cstring>
#include <utility>
#include <string>
#include <vector>

#include "engine/parallel.h"
#include "engine/ops.h"
#include "engine/optim.h"
#include "models/espcn.h"
#include "tests/test_util.h"

using namespace qsr;
using Catch::Matchers::Contains;

TEST_CASE("espcn: default configuration", "[model]") {
  EspcnConfig cfg;
  CHECK(cfg.scale == 3);
  CHECK(cfg.channels == 1);
  CHECK_NOTHROW(cfg.validate());
  // 5*5*1*64 + 3*3*64*64 + 3*3*64*32 + 3*3*32*9
  CHECK(cfg.macs_per_lr_pixel() == 59488);
  const std::string d = cfg.describe();
  CHECK_THAT(d, Contains("x3") && Contains("64-5") && Contains("32-3") && Contains("9-3") && Contains("relu"));
  Espcn m(cfg);
  CHECK(m.convs.size() == 4);
  CHECK(m.parameters().size() == 8);
  int64_t count = 0;
  for (auto& p : m.parameters()) count += p.value().numel();
  CHECK(count == 1664 + 36928 + 18464 + 2601);
  auto named = m.named_parameters();
  CHECK(named[0].first == "conv1.kernel");
  CHECK(named[0].second.shape() == Shape{5, 5, 1, 64});
  CHECK(named[7].first == "conv4.bias");
  CHECK_THAT(m.describe(), Contains("depth_to_space"));
}

TEST_CASE("espcn: forward shape [1,h,w,1] -> [1,3h,3w,1]", "[model]") {
  Espcn m;
  m.init_glorot(7);
  NoGradGuard ng;
  for (auto [h, w] : {std::pair{5, 7}, std::pair{1, 1}, std::pair{4, 3}}) {
    Tensor x = Tensor::full({1, h, w, 1}, 0.5f);
    Var y = m.forward(Var(x));
    CHECK(y.shape() == Shape{1, 3 * h, 3 * w, 1});
    // The last conv is followed by relu in the Keras example: outputs are >= 0.
    bool nonneg = true;
    for (int64_t i = 0; i < y.value().numel(); ++i) nonneg = nonneg && y.value().f32()[i] >= 0.f;
    CHECK(nonneg);
  }
  EspcnConfig c2;
  c2.scale = 2;
  c2.channels = 3;
  c2.features = {4};
  c2.kernels = {3, 1};
  Espcn m2(c2);
  CHECK(m2.forward(Var(Tensor({2, 3, 5, 3}))).shape() == Shape{2, 6, 10, 3});
  CHECK(c2.macs_per_lr_pixel() == 3 * 3 * 3 * 4 + 1 * 1 * 4 * 12);
}

TEST_CASE("espcn: validate and forward errors", "[model]") {
  auto bad = [](auto mutate) {
    EspcnConfig c;
    mutate(c);
    return c;
  };
  CHECK_THROWS_WITH(bad([](EspcnConfig& c) { c.kernels = {5, 4, 3, 3}; }).validate(), Contains("odd"));
  CHECK_THROWS_AS(bad([](EspcnConfig& c) { c.kernels = {9, 3, 3, 3}; }).validate(), Error);
  CHECK_THROWS_WITH(bad([](EspcnConfig& c) { c.kernels = {5, 3, 3}; }).validate(), Contains("kernel"));
  CHECK_THROWS_AS(bad([](EspcnConfig& c) { c.features = {64, 64}; }).validate(), Error);
  CHECK_THROWS_AS(bad([](EspcnConfig& c) { c.features = {64, 0, 32}; }).validate(), Error);
  CHECK_THROWS_AS(bad([](EspcnConfig& c) { c.scale = 0; }).validate(), Error);
  CHECK_THROWS_AS(bad([](EspcnConfig& c) { c.scale = 9; }).validate(), Error);
  CHECK_THROWS_AS(bad([](EspcnConfig& c) { c.channels = 0; }).validate(), Error);
  CHECK_THROWS_AS(Espcn(bad([](EspcnConfig& c) { c.kernels = {5, 3, 3, 2}; })), Error);
  Espcn m;
  CHECK_THROWS_WITH(m.forward(Var(Tensor({1, 4, 4, 3}))), Contains("ESPCN") && Contains("[1, 4, 4, 3]"));
  CHECK_THROWS_AS(m.forward(Var(Tensor({4, 4, 1}))), Error);
}

namespace {
EspcnConfig tiny_config() {
  EspcnConfig c;
  c.scale = 2;
  c.features = {8, 8};
  c.kernels = {3, 3, 3};
  return c;
}

// A fixed synthetic batch: smooth low-res images and high-res targets that
// are a learnable function of them (bilinear-ish upsampling plus detail).
void make_batch(Tensor& lr, Tensor& hr) {
  const int n = 2, h = 6, w = 6, r = 2;
  lr = Tensor({n, h, w, 1});
  hr = Tensor({n, h * r, w * r, 1});
  for (int b = 0; b < n; ++b)
    for (int y = 0; y < h * r; ++y)
      for (int x = 0; x < w * r; ++x)
        hr.f32()[(b * h * r + y) * w * r + x] =
            0.5f + 0.3f * std::sin(0.4f * x + 0.7f * y + float(b)) * std::cos(0.3f * y - 0.2f * x);
  for (int b = 0; b < n; ++b)
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) {
        float s = 0;
        for (int i = 0; i < r; ++i)
          for (int j = 0; j < r; ++j) s += hr.f32()[(b * h * r + y * r + i) * w * r + x * r + j];
        lr.f32()[(b * h + y) * w + x] = s / (r * r);
      }
}

struct TrainResult {
  float first_loss = 0, last_loss = 0;
  std::vector<Tensor> weights;
};

TrainResult train(uint64_t seed, int threads, int steps) {
  qsr_test::ThreadCount tc(threads);
  Espcn m(tiny_config());
  m.init_glorot(seed);
  // Small positive biases keep the relus alive at the start.
  for (auto& c : m.convs) c->bias.value().fill(0.05f);
  Tensor lr, hr;
  make_batch(lr, hr);
  AdamOptions o;
  o.lr = 1e-2f;
  Adam opt(m.parameters(), o);
  TrainResult r;
  for (int s = 0; s < steps; ++s) {
    Var loss = mse_loss(m.forward(Var(lr)), Var(hr));
    opt.zero_grad();
    loss.backward();
    opt.step();
    if (s == 0) r.first_loss = loss.value().f32()[0];
    r.last_loss = loss.value().f32()[0];
  }
  for (auto& p : m.parameters()) r.weights.push_back(p.value().clone());
  return r;
}

bool same_weights(const TrainResult& a, const TrainResult& b) {
  if (a.weights.size() != b.weights.size()) return false;
  for (size_t i = 0; i < a.weights.size(); ++i)
    if (!qsr_test::bitwise_equal(a.weights[i], b.weights[i])) return false;
  return true;
}
}  // namespace

TEST_CASE("espcn: a tiny model learns a fixed batch", "[model][train]") {
  TrainResult r = train(1234, 1, 40);
  INFO("loss " << r.first_loss << " -> " << r.last_loss);
  CHECK(std::isfinite(r.last_loss));
  CHECK(r.last_loss < r.first_loss / 10);
}

TEST_CASE("espcn: training is deterministic for a seed and independent of the thread count", "[model][train]") {
  const int steps = 6;
  TrainResult a = train(99, 1, steps), b = train(99, 1, steps);
  CHECK(same_weights(a, b));
  CHECK(a.last_loss == b.last_loss);
  if (openmp_enabled()) {
    TrainResult t2 = train(99, 2, steps);
    CHECK(same_weights(a, t2));
  } else {
    WARN("1 vs 2 threads not compared: this build has no OpenMP");
    CHECK_THROWS_AS(set_num_threads(2), Error);
  }
  TrainResult other = train(100, 1, steps);
  CHECK_FALSE(same_weights(a, other));
}
