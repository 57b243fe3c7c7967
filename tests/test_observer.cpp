// Range observers (quant/observer.h): minmax, ema, percentile and mse ranges, per tensor and
// per channel, their parameter choice and thread-count independence.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "quant/observer.h"
#include "quant/spec.h"
#include "fq_test_util.h"
#include "test_util.h"

using namespace qsr;
using namespace qsr::quant;
using Catch::Matchers::Contains;
using qsr_test::fmt_of;
using qsr_test::tensor_of;

namespace {

// Mean squared error of fake-quantising x with p.
double fq_mse(const Tensor& x, const QFormat& f, const QParams& p) {
  Tensor y = fake_quantize(x, f, p);
  double s = 0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    const double d = double(y.f32()[i]) - x.f32()[i];
    s += d * d;
  }
  return s / double(x.numel());
}

// Heavy-tailed data: a unit normal bulk with a few large outliers.
Tensor heavy_tailed(int64_t n, Rng& rng) {
  Tensor t({n});
  for (int64_t i = 0; i < n; ++i) t.f32()[i] = float(rng.normal());
  for (int64_t i = 0; i < n; i += 5000) t.f32()[i] = (i % 10000 == 0 ? 1.f : -1.f) * (20.f + float(i % 7));
  return t;
}

}  // namespace

// ------------------------------------------------------------------ observers

TEST_CASE("observers: minmax and ema give exact ranges", "[quant][observer]") {
  auto mm = make_observer("minmax", false);
  CHECK(mm->empty());
  CHECK_THROWS_WITH(mm->range(), Contains("nothing has been observed"));
  mm->observe(tensor_of({2, 2}, {1.f, -2.f, 3.f, 0.5f}));
  mm->observe(tensor_of({3}, {0.25f, 4.f, -1.f}));
  CHECK_FALSE(mm->empty());
  auto r = mm->range();
  REQUIRE(r.first.size() == 1);
  CHECK(r.first[0] == -2.f);
  CHECK(r.second[0] == 4.f);
  CHECK(mm->name() == "minmax");

  auto ema = make_observer("ema", false, 0.75f);
  ema->observe(tensor_of({3}, {-1.f, 2.f, 0.f}));
  r = ema->range();
  CHECK(r.first[0] == -1.f);  // the first batch sets the range
  CHECK(r.second[0] == 2.f);
  ema->observe(tensor_of({2}, {-5.f, 6.f}));
  r = ema->range();
  CHECK(r.first[0] == -2.f);  // 0.75 * -1 + 0.25 * -5
  CHECK(r.second[0] == 3.f);  // 0.75 * 2 + 0.25 * 6
  ema->observe(tensor_of({2}, {2.f, 7.f}));
  r = ema->range();
  CHECK(r.first[0] == -1.f);    // 0.75 * -2 + 0.25 * 2
  CHECK(r.second[0] == 4.f);    // 0.75 * 3 + 0.25 * 7

  auto ema_default = make_observer("ema", false);
  ema_default->observe(tensor_of({2}, {0.f, 1.f}));
  ema_default->observe(tensor_of({2}, {0.f, 2.f}));
  CHECK(ema_default->range().second[0] == Approx(1.01f));  // decay 0.99

  // params() is params_from_ranges of the range.
  const QFormat f = fmt_of(8, true, Scheme::affine);
  const QParams p = ema->params(f), q = params_from_ranges(f, {-1.f}, {4.f});
  CHECK(p.scale == q.scale);
  CHECK(p.zero_point == q.zero_point);
}

TEST_CASE("observers: per-channel minmax and ema reduce all but the last axis", "[quant][observer]") {
  auto mm = make_observer("minmax", true);
  CHECK(mm->per_channel());
  // [2, 2, 3]: channel k holds elements k, k+3, k+6, k+9.
  mm->observe(tensor_of({2, 2, 3}, {1, -1, 0, 2, 5, 0, -3, 4, 0, 0, 1, 0}));
  auto r = mm->range();
  REQUIRE(r.first.size() == 3);
  CHECK(r.first == std::vector<float>{-3, -1, 0});
  CHECK(r.second == std::vector<float>{2, 5, 0});
  mm->observe(tensor_of({1, 3}, {9, -9, 0.5f}));
  r = mm->range();
  CHECK(r.first == std::vector<float>{-3, -9, 0});
  CHECK(r.second == std::vector<float>{9, 5, 0.5f});
  CHECK_THROWS_WITH(mm->observe(tensor_of({1, 2}, {0, 0})), Contains("2 channels after 3"));
  // Per-channel parameters need a per-channel format, and vice versa.
  const QParams p = mm->params(fmt_of(8, true, Scheme::symmetric, true));
  CHECK(p.size() == 3);
  CHECK(p.scale[0] == 9.f / 127);
  CHECK(p.scale[2] == 0.5f / 127);
  CHECK_THROWS_WITH(mm->params(fmt_of(8, true)), Contains("per-tensor format"));
  auto pt = make_observer("minmax", false);
  pt->observe(tensor_of({2}, {0, 1}));
  CHECK_THROWS_WITH(pt->params(fmt_of(8, true, Scheme::symmetric, true)), Contains("per-channel format"));

  auto ema = make_observer("ema", true, 0.5f);
  ema->observe(tensor_of({2, 2}, {1, -1, 3, 1}));
  ema->observe(tensor_of({1, 2}, {-1, 5}));
  r = ema->range();
  CHECK(r.first == std::vector<float>{0.f, 2.f});   // 0.5*1 + 0.5*-1; 0.5*-1 + 0.5*5
  CHECK(r.second == std::vector<float>{1.f, 3.f});  // 0.5*3 + 0.5*-1; 0.5*1 + 0.5*5
}

TEST_CASE("observers: kinds, options and bad input", "[quant][observer]") {
  CHECK(observer_kinds() == std::vector<std::string>{"minmax", "ema", "percentile", "mse"});
  for (const auto& k : observer_kinds()) CHECK(make_observer(k, false) != nullptr);
  const std::string e = qsr_test::error_of([] { make_observer("kl", false); });
  CHECK(qsr_test::contains(e, "unknown observer 'kl'"));
  CHECK(qsr_test::contains(e, "minmax, ema, percentile, mse"));
  CHECK_THROWS_WITH(make_observer("ema", false, 1.f), Contains("decay"));
  CHECK_THROWS_WITH(make_observer("percentile", false, 40.f), Contains("p = 40"));
  CHECK_THROWS_WITH(make_observer("minmax", false, 1.f), Contains("no option"));
  auto mm = make_observer("minmax", false);
  CHECK_THROWS_WITH(mm->observe(tensor_of({3}, {1.f, NAN, 2.f})), Contains("non-finite"));
  CHECK_THROWS_WITH(mm->observe(tensor_of({1}, {INFINITY})), Contains("non-finite"));
  CHECK(mm->empty());
  CHECK_THROWS_WITH(mm->observe(Tensor::zeros({2}, DType::i32)), Contains("f32"));
}

TEST_CASE("observers: percentile on a uniform distribution", "[quant][observer]") {
  const int64_t n = 100000;
  Tensor all({n});
  for (int64_t i = 0; i < n; ++i) all.f32()[i] = float(i) / float(n);  // uniform on [0, 1)
  const double bin = 1.0 / kHistBins;
  {
    auto p = make_observer("percentile", false, 99.f);
    p->observe(all);
    const auto r = p->range();
    CHECK(r.first[0] == Approx(0.01).margin(2 * bin));
    CHECK(r.second[0] == Approx(0.99).margin(2 * bin));
  }
  {
    // The same values in two batches, the second outside the first's range: the histogram grows.
    Tensor lo({n / 2}), hi({n / 2});
    for (int64_t i = 0; i < n / 2; ++i) {
      lo.f32()[i] = all.f32()[i] * 0.5f;       // [0, 0.5)
      hi.f32()[i] = 1.f + all.f32()[i] * 1.f;  // [1, 2)
    }
    auto q = make_observer("percentile", false, 99.f);
    q->observe(lo);
    q->observe(hi);
    const auto r = q->range();
    // Half the mass in [0, 0.25), half in [1, 1.5): the 1% / 99% points are 0.005 and 1.49.
    CHECK(r.first[0] == Approx(0.005).margin(4.0 / kHistBins));
    CHECK(r.second[0] == Approx(1.49).margin(4.0 / kHistBins));
    CHECK(r.second[0] <= 1.5f);
    // The other order: the histogram grows downwards (its origin moves by whole bins).
    auto q2 = make_observer("percentile", false, 99.f);
    q2->observe(hi);
    q2->observe(lo);
    const auto r2 = q2->range();
    CHECK(r2.first[0] == Approx(0.005).margin(8.0 / kHistBins));
    CHECK(r2.second[0] == Approx(1.49).margin(8.0 / kHistBins));
  }
  {
    // p = 100: the observed extremes.
    auto p = make_observer("percentile", false, 100.f);
    p->observe(tensor_of({4}, {-3, 1, 2, 7}));
    CHECK(p->range().first[0] == -3.f);
    CHECK(p->range().second[0] == 7.f);
  }
  {
    // Constant input first, then a spread: the point mass joins the histogram.
    auto p = make_observer("percentile", false, 99.f);
    p->observe(Tensor::full({1000}, 0.f));
    CHECK(p->range().first[0] == 0.f);
    CHECK(p->range().second[0] == 0.f);
    p->observe(all);
    const auto r = p->range();
    CHECK(r.first[0] == Approx(0).margin(bin));  // 1000 zeros + 1000 below 0.01: the 1% point is 0 to within a bin
    CHECK(r.second[0] == Approx(1 - 0.011 * 1.01).margin(3 * bin));
  }
}

TEST_CASE("observers: per-channel percentile and thread-count independence", "[quant][observer]") {
  const int64_t rows = qsr_test::kSmall ? 40000 : 100000;
  Tensor x({rows, 2});
  for (int64_t r = 0; r < rows; ++r) {
    x.f32()[2 * r] = float(r) / float(rows);                // uniform [0, 1)
    x.f32()[2 * r + 1] = -4.f + 8.f * float(r) / float(rows);  // uniform [-4, 4)
  }
  std::pair<std::vector<float>, std::vector<float>> r1, r2;
  {
    qsr_test::ThreadCount tc(1);
    auto p = make_observer("percentile", true, 99.5f);
    p->observe(x);
    r1 = p->range();
  }
  {
    qsr_test::ThreadCount tc(2);
    auto p = make_observer("percentile", true, 99.5f);
    p->observe(x);
    r2 = p->range();
  }
  CHECK(r1 == r2);
  REQUIRE(r1.first.size() == 2);
  CHECK(r1.first[0] == Approx(0.005).margin(2.0 / kHistBinsPerChannel));
  CHECK(r1.second[0] == Approx(0.995).margin(2.0 / kHistBinsPerChannel));
  CHECK(r1.first[1] == Approx(-3.96).margin(16.0 / kHistBinsPerChannel));
  CHECK(r1.second[1] == Approx(3.96).margin(16.0 / kHistBinsPerChannel));
}

TEST_CASE("observers: the mse clip range beats minmax on heavy-tailed data", "[quant][observer]") {
  Rng rng(qsr_test::base_seed());
  const Tensor x = heavy_tailed(20000, rng);
  auto mm = make_observer("minmax", false);
  auto mse = make_observer("mse", false);
  mm->observe(x);
  mse->observe(x);
  const auto full = mm->range();
  CHECK(mse->range() == full);  // range(): the observed extremes
  auto& mse_obs = dynamic_cast<MseObserverBase&>(*mse);
  for (const QFormat& f : {fmt_of(4, true), fmt_of(4, true, Scheme::affine), fmt_of(4, false, Scheme::affine)}) {
    INFO(f.describe());
    const auto clip = mse_obs.clip_range(f);
    CHECK(clip.first[0] >= full.first[0]);
    CHECK(clip.second[0] <= full.second[0]);
    CHECK(clip.second[0] - clip.first[0] < 0.5f * (full.second[0] - full.first[0]));
    const QParams pm = mse->params(f), pr = mm->params(f);
    const QParams pc = params_from_ranges(f, clip.first, clip.second);
    CHECK(pm.scale == pc.scale);
    const double e_mse = fq_mse(x, f, pm), e_mm = fq_mse(x, f, pr);
    CHECK(e_mse < 0.5 * e_mm);
  }
  // More bits: less clipping pays off, so the clip range widens.
  const QFormat f4 = fmt_of(4, true), f8 = fmt_of(8, true);
  CHECK(mse_obs.clip_range(f8).second[0] >= mse_obs.clip_range(f4).second[0]);
  CHECK(fq_mse(x, f8, mse->params(f8)) <= fq_mse(x, f8, mm->params(f8)));
  // Fixed point: choose_params' scale.
  QFormat fx = fmt_of(8, true, Scheme::fixed_point);
  fx.frac_bits = 5;
  CHECK(mse->params(fx).scale[0] == 1.f / 32);
}

TEST_CASE("observers: per-channel mse", "[quant][observer]") {
  Rng rng(qsr_test::base_seed() + 1);
  const int64_t rows = 4000;
  Tensor x({rows, 3});
  for (int64_t r = 0; r < rows; ++r) {
    x.f32()[3 * r] = float(rng.normal());
    x.f32()[3 * r + 1] = 0.01f * float(rng.normal());
    x.f32()[3 * r + 2] = (r % 2000 == 0) ? 30.f : float(rng.normal());
  }
  auto mse = make_observer("mse", true);
  auto mm = make_observer("minmax", true);
  mse->observe(x);
  mm->observe(x);
  const QFormat f = fmt_of(4, true, Scheme::symmetric, true);
  const QParams p = mse->params(f), q = mm->params(f);
  REQUIRE(p.size() == 3);
  for (size_t k = 0; k < 3; ++k) CHECK(p.scale[k] <= q.scale[k]);
  CHECK(p.scale[2] < 0.5f * q.scale[2]);  // the outlier channel clips
  CHECK(p.scale[1] < 0.05f * p.scale[0]);  // channels are independent
  CHECK(fq_mse(x, f, p) < fq_mse(x, f, q));
}

TEST_CASE("quant_error_integral: against a numeric integral", "[quant][observer]") {
  const double s = 0.3, qlo = -8, qhi = 7;
  for (auto [a, b] : std::vector<std::pair<double, double>>{{-0.1, 0.2}, {0.13, 1.91}, {-3.5, -2.0}, {1.9, 3.0}, {-5, 5}}) {
    const int m = 200000;
    double num = 0;
    for (int i = 0; i < m; ++i) {
      const double u = a + (b - a) * (i + 0.5) / m;
      const double q = std::clamp(std::nearbyint(u / s), qlo, qhi) * s;
      num += (u - q) * (u - q);
    }
    num *= (b - a) / m;
    CHECK(quant_error_integral(a, b, s, qlo, qhi) == Approx(num).epsilon(1e-4));
  }
}
