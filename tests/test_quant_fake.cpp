// Observers (quant/observer.h) and fake quantisation for quantisation-aware training
// (layers/fake_quant.h): ranges, parameter choice, the forward pass against the spec's
// fake_quantize, straight-through and LSQ gradients, stochastic rounding and the layer.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "engine/autograd.h"
#include "engine/cpu.h"
#include "layers/fake_quant.h"
#include "engine/kernels/fq/fq_kernels.h"
#include "quant/observer.h"
#include "quant/spec.h"
#include "test_util.h"

using namespace qsr;
using namespace qsr::quant;
using Catch::Matchers::Contains;

namespace {

QFormat fmt_of(int bits, bool is_signed, Scheme s = Scheme::symmetric, bool per_channel = false,
               Rounding r = Rounding::half_even) {
  QFormat f;
  f.bits = bits;
  f.is_signed = is_signed;
  f.scheme = s;
  f.per_channel = per_channel;
  f.rounding = r;
  return f;
}

Tensor tensor_of(Shape shape, std::vector<float> v) { return Tensor::from(std::move(shape), v); }

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

// ------------------------------------------------------------------ fake_quant

TEST_CASE("fake_quant: forward is the spec's fake_quantize", "[quant][fake]") {
  Rng rng(qsr_test::base_seed() + 2);
  const Tensor x = qsr_test::random_tensor({3, 5, 4}, rng, -1.3f, 2.1f);
  int cases = 0;
  for (int bits = 2; bits <= 16; ++bits)
    for (bool sgn : {true, false})
      for (Scheme sch : {Scheme::symmetric, Scheme::affine, Scheme::fixed_point})
        for (bool pc : {false, true})
          for (Rounding rd : {Rounding::half_even, Rounding::half_away})
            for (bool narrow : {false, true}) {
              if ((sch == Scheme::fixed_point && pc) || (narrow && !sgn)) continue;
              QFormat f = fmt_of(bits, sgn, sch, pc, rd);
              f.narrow = narrow;
              f.frac_bits = bits - 3;
              std::vector<float> lo, hi;
              for (int k = 0; k < (pc ? 4 : 1); ++k) {
                lo.push_back(-1.f + 0.1f * float(k));
                hi.push_back(1.5f - 0.2f * float(k));
              }
              const QParams p = params_from_ranges(f, lo, hi);
              // Add exact half-way points v = k + 0.5 of channel 0's grid.
              Tensor xt = x.clone();
              xt.f32()[0] = 0.5f * p.scale[0];
              xt.f32()[4] = 1.5f * p.scale[0];
              xt.f32()[8] = -2.5f * p.scale[0];
              const Tensor want = fake_quantize(xt, f, p);
              const Var y = fake_quant(Var(xt), f, p);
              INFO(f.describe());
              CHECK(qsr_test::bitwise_equal(y.value(), want));
              ++cases;
            }
  CHECK(cases == 15 * 5 * 2 * 3);  // bits x (sym, affine) x (pc) + fixed x rounding x (signed: narrow or not; unsigned)
  // A tensor of several blocks, in parallel.
  const Tensor big = qsr_test::random_tensor({3 * kFakeQuantBlock + 17, 3}, rng, -2.f, 2.f);
  const QFormat f = fmt_of(5, true, Scheme::affine, true);
  const QParams p = params_from_ranges(f, {-1.f, -0.5f, -1.5f}, {1.f, 1.5f, 0.5f});
  qsr_test::ThreadCount tc(2);
  CHECK(qsr_test::bitwise_equal(fake_quant(Var(big), f, p).value(), fake_quantize(big, f, p)));
}

TEST_CASE("fake_quant: errors", "[quant][fake]") {
  const QFormat f = fmt_of(8, true);
  const Var x(Tensor::zeros({2, 3}));
  CHECK_THROWS_WITH(fake_quant(x, f, QParams{{1.f, 1.f}, {0, 0}}), Contains("2 per-channel parameters"));
  CHECK_THROWS_WITH(fake_quant(x, f, QParams{{0.f}, {0}}), Contains("not finite and positive"));
  CHECK_THROWS_WITH(fake_quant_lsq(x, Var(Tensor::full({1}, 1.f), true), f, {0, 1}), Contains("2 zero points"));
  QFormat fx = fmt_of(8, true, Scheme::fixed_point);
  CHECK_THROWS_WITH(fake_quant_lsq(x, Var(Tensor::full({1}, 1.f), true), fx, {0}), Contains("fixed-point"));
}

TEST_CASE("fake_quant: straight-through gradient is exactly 1 or 0", "[quant][fake]") {
  // s4 symmetric, scale 0.1: codes [-8, 7].
  const QFormat f = fmt_of(4, true);
  const QParams p{{0.1f}, {0}};
  const std::vector<float> xs = {0.74f, 0.76f, -0.84f, -0.86f, 0.f, 0.3f, 5.f, -5.f, 0.749f, -0.8f};
  const std::vector<float> want = {1, 0, 1, 0, 1, 1, 0, 0, 1, 1};
  Var x(tensor_of({int64_t(xs.size())}, xs), true);
  Var y = fake_quant(x, f, p);
  y.backward(Tensor::full(y.shape(), 1.f));
  for (size_t i = 0; i < xs.size(); ++i) {
    INFO("x = " << xs[i]);
    CHECK(x.grad().f32()[i] == want[i]);
  }
  // Random data, per channel, unsigned affine: the gradient is g exactly where the unclamped code is on the grid.
  Rng rng(qsr_test::base_seed() + 3);
  const QFormat fa = fmt_of(3, false, Scheme::affine, true);
  const QParams pa = params_from_ranges(fa, {-0.5f, -1.f}, {0.5f, 0.2f});
  Var xa(qsr_test::random_tensor({50, 2}, rng, -1.5f, 1.5f), true);
  const Tensor g = qsr_test::random_tensor({50, 2}, rng);
  fake_quant(xa, fa, pa).backward(g);
  int zeros = 0, passes = 0;
  for (int64_t i = 0; i < 100; ++i) {
    const int64_t c = i % 2;
    const int64_t code = round_value(xa.value().f32()[i] / pa.scale[size_t(c)], Rounding::half_even) + pa.zero_point[size_t(c)];
    const bool inside = code >= fa.qmin() && code <= fa.qmax();
    CHECK(xa.grad().f32()[i] == (inside ? g.f32()[i] : 0.f));
    (inside ? passes : zeros)++;
  }
  CHECK(zeros > 5);
  CHECK(passes > 5);
  // No graph when nothing needs a gradient.
  CHECK_FALSE(fake_quant(Var(Tensor::zeros({3})), f, p).requires_grad());
}

namespace {

// x values of channel k: codes around the grid with fractional parts in [-0.3, 0.3] (away from
// the rounding edges) and some beyond the clip edges.
Tensor lsq_input(int64_t rows, const std::vector<float>& s, const std::vector<int32_t>& z, const QFormat& f, Rng& rng) {
  const int64_t c = int64_t(s.size());
  Tensor x({rows, c});
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t k = 0; k < c; ++k) {
      const double frac = rng.uniform(-0.3f, 0.3f);
      int64_t q;
      if (r % 7 == 0) q = f.qmax() + 3;       // clipped high
      else if (r % 7 == 1) q = f.qmin() - 3;  // clipped low
      else q = f.qmin() + 1 + int64_t(rng.below(uint64_t(f.qmax() - f.qmin() - 1)));
      x.f32()[r * c + k] = float((double(q - z[size_t(k)]) + frac) * s[size_t(k)]);
    }
  return x;
}

double lsq_objective(const Tensor& x, const std::vector<float>& s, const QFormat& f, const std::vector<int32_t>& z,
                     const Tensor& r) {
  NoGradGuard ng;
  const Var y = fake_quant_lsq(Var(x), Var(Tensor::from({int64_t(s.size())}, s)), f, z);
  double o = 0;
  for (int64_t i = 0; i < x.numel(); ++i) o += double(y.value().f32()[i]) * r.f32()[i];
  return o;
}

}  // namespace

TEST_CASE("fake_quant_lsq: scale gradient by central differences and closed form", "[quant][fake]") {
  Rng rng(qsr_test::base_seed() + 4);
  struct Case {
    QFormat f;
    std::vector<float> s;
    std::vector<int32_t> z;
  };
  const std::vector<Case> cases = {
      {fmt_of(4, true), {0.1f}, {0}},
      {fmt_of(8, true, Scheme::symmetric, true), {0.02f, 0.005f, 0.3f}, {0, 0, 0}},
      {fmt_of(4, false, Scheme::affine, true), {0.05f, 0.2f}, {3, 12}},
      {fmt_of(6, true, Scheme::affine), {0.07f}, {-5}},
  };
  for (const Case& cs : cases) {
    INFO(cs.f.describe());
    const int64_t rows = 21, c = int64_t(cs.s.size());
    const Tensor x = lsq_input(rows, cs.s, cs.z, cs.f, rng);
    const Tensor r = qsr_test::random_tensor({rows, c}, rng);
    Var xv(x.clone(), true);
    Var sv(Tensor::from({c}, cs.s), true);
    Var y = fake_quant_lsq(xv, sv, cs.f, cs.z);
    // Forward: the spec's numbers.
    CHECK(qsr_test::bitwise_equal(y.value(), fake_quantize(x, cs.f, QParams{cs.s, cs.z})));
    y.backward(r);
    REQUIRE(sv.grad().defined());
    for (int64_t k = 0; k < c; ++k) {
      const double g = lsq_grad_scale(cs.f, rows, cs.z[size_t(k)]);
      const double qp = cs.f.scheme == Scheme::symmetric ? cs.f.qmax() : cs.f.qmax() - cs.z[size_t(k)];
      CHECK(g == Approx(1 / std::sqrt(double(rows) * qp)).epsilon(1e-12));
      // Closed form.
      double closed = 0;
      for (int64_t i = 0; i < rows; ++i) {
        const float xi = x.f32()[i * c + k], s = cs.s[size_t(k)];
        const int32_t zk = cs.z[size_t(k)];
        const double v = double(xi / s);
        const int64_t code = round_value(xi / s, Rounding::half_even) + zk;
        double d;
        if (code < cs.f.qmin()) d = cs.f.qmin() - zk;
        else if (code > cs.f.qmax()) d = cs.f.qmax() - zk;
        else d = double(code - zk) - v;
        closed += d * r.f32()[i * c + k];
      }
      CHECK(sv.grad().f32()[k] == Approx(g * closed).epsilon(1e-5).margin(1e-7));
      // Central differences. Away from the rounding edges the forward's true derivative is
      // (q - z) inside and qmin - z / qmax - z when clipped; LSQ's gradient differs from it
      // only by the straight-through term -v of the unclipped elements (d round(v)/dv := 1).
      double ste = 0;
      int inside = 0;
      for (int64_t i = 0; i < rows; ++i) {
        const float xi = x.f32()[i * c + k], s = cs.s[size_t(k)];
        const int64_t code = round_value(xi / s, Rounding::half_even) + cs.z[size_t(k)];
        if (code >= cs.f.qmin() && code <= cs.f.qmax()) {
          ste -= double(xi / s) * r.f32()[i * c + k];
          ++inside;
        }
      }
      const double h = 1e-3 * cs.s[size_t(k)];
      std::vector<float> sp = cs.s, sm = cs.s;
      sp[size_t(k)] = float(cs.s[size_t(k)] + h);
      sm[size_t(k)] = float(cs.s[size_t(k)] - h);
      const double num = (lsq_objective(x, sp, cs.f, cs.z, r) - lsq_objective(x, sm, cs.f, cs.z, r)) /
                         (double(sp[size_t(k)]) - double(sm[size_t(k)]));
      CHECK(sv.grad().f32()[k] / g - ste == Approx(num).epsilon(2e-3).margin(1e-3));
      CHECK(inside == rows - 6);  // rows 0, 7, 14 clip high, rows 1, 8, 15 low
    }
    // Gradient wrt x: the straight-through mask.
    for (int64_t i = 0; i < x.numel(); ++i) {
      const int64_t row = i / c;
      const bool clipped = row % 7 == 0 || row % 7 == 1;
      CHECK(xv.grad().f32()[i] == (clipped ? 0.f : r.f32()[i]));
    }
  }
}

TEST_CASE("fake_quant_lsq: gradient identical for 1 and 2 threads", "[quant][fake]") {
  Rng rng(qsr_test::base_seed() + 5);
  const QFormat f = fmt_of(4, true, Scheme::symmetric, true);
  const Tensor x = qsr_test::random_tensor({5 * kFakeQuantBlock / 4 + 3, 4}, rng, -1.f, 1.f);
  const Tensor r = qsr_test::random_tensor(x.shape(), rng);
  Tensor g1, g2;
  for (int t : {1, 2}) {
    qsr_test::ThreadCount tc(t);
    Var sv(Tensor::from({4}, std::vector<float>{0.1f, 0.12f, 0.05f, 0.2f}), true);
    fake_quant_lsq(Var(x), sv, f, {0, 0, 0, 0}).backward(r);
    (t == 1 ? g1 : g2) = sv.grad().clone();
  }
  CHECK(qsr_test::bitwise_equal(g1, g2));
}

TEST_CASE("fake_quant: stochastic rounding is unbiased and thread-count independent", "[quant][fake]") {
  const QFormat f = fmt_of(8, true, Scheme::symmetric, false, Rounding::stochastic);
  const QParams p{{0.25f}, {0}};
  const int64_t n = qsr_test::kSmall ? 3 * kFakeQuantBlock : 25 * kFakeQuantBlock;
  Tensor x({n});
  for (int64_t i = 0; i < n; ++i) x.f32()[i] = 0.25f * (float(i % 11) - 5.f + 0.125f * float(i % 8));
  Tensor y1, y2;
  {
    qsr_test::ThreadCount tc(1);
    Rng rng(77);
    y1 = fake_quant(Var(x), f, p, &rng).value();
  }
  {
    qsr_test::ThreadCount tc(2);
    Rng rng(77);
    y2 = fake_quant(Var(x), f, p, &rng).value();
  }
  CHECK(qsr_test::bitwise_equal(y1, y2));
  double bias = 0;
  int64_t ups = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float v = x.f32()[i] / 0.25f, lo = std::floor(v);
    const float q = y1.f32()[i] / 0.25f;
    REQUIRE((q == lo || q == lo + 1));  // one of the two neighbouring codes
    ups += (q == lo + 1 && v != lo);
    bias += double(y1.f32()[i]) - x.f32()[i];
  }
  bias /= double(n);
  // Per element the rounding error has standard deviation <= s/2: the mean is within ~4 sigma of 0.
  CHECK(std::fabs(bias) < 4 * 0.125 / std::sqrt(double(n)));
  CHECK(ups > n / 4);
  // A second call draws a new seed: other roundings.
  Rng rng(77);
  const Tensor a = fake_quant(Var(x), f, p, &rng).value();
  const Tensor b = fake_quant(Var(x), f, p, &rng).value();
  CHECK_FALSE(qsr_test::bitwise_equal(a, b));
  // Without a generator: half to even, the spec's numbers.
  CHECK(qsr_test::bitwise_equal(fake_quant(Var(x), f, p).value(), fake_quantize(x, f, p)));
}

// ------------------------------------------------------------------ fast path per ISA

namespace {

std::vector<Isa> fq_isas() {
  std::vector<Isa> r;
  for (Isa i : {Isa::scalar, Isa::avx2, Isa::avx512}) {
    if (isa_supported(i))
      r.push_back(i);
    else
      WARN("fake quant: skipping ISA " << isa_name(i) << (isa_compiled(i) ? ": this CPU cannot run it" : ": not compiled"));
  }
  return r;
}

uint32_t bits_of(float v) {
  uint32_t u;
  std::memcpy(&u, &v, 4);
  return u;
}

// The spec's element map, written out: the code's position, y, dy/ds (fake_quant.h).
struct FqRef {
  bool inside;
  float y, dyds;
};
FqRef fq_ref(float x, float s, int32_t z, const QFormat& f) {
  const float v = x / s;
  const int64_t code = round_value(v, f.rounding) + z;
  const bool inside = code >= f.qmin() && code <= f.qmax();
  const int32_t q = inside ? int32_t(code) : (code < f.qmin() ? f.qmin() : f.qmax());
  return {inside, dequantize_value(q, s, z), float(q - z) - (inside ? v : 0.f)};
}

// Values of channel k around and far outside its grid: ordinary codes with random fractions,
// exact ties (m + 1/2) * s and their neighbours, zeros of both signs, values beyond the
// 2^30 clamp, infinities, NaN and denormals.
Tensor fq_edge_data(Shape shape, const QParams& p, const QFormat& f, Rng& rng) {
  Tensor t(std::move(shape));
  const int64_t n = t.numel(), c = int64_t(p.size());
  const float inf = std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t k = c == 1 ? 0 : i % c;
    const float s = p.scale[size_t(k)];
    const double z = p.zero_point[size_t(k)];
    const double span = double(f.qmax()) - f.qmin();
    const double m = std::floor(double(f.qmin()) - 3 + rng.uniform() * (span + 7)) - z;  // a code - z, +-3 outside
    const float sg = rng.below(2) ? 1.f : -1.f;
    float x = 0;
    switch (rng.below(12)) {
      case 0: case 1: case 2: case 3: x = float((m + rng.uniform(-0.5f, 0.5f)) * s); break;
      case 4: case 5: x = float(m + 0.5) * s; break;  // a tie (exact for power-of-two scales)
      case 6: x = std::nextafter(float(m + 0.5) * s, sg * inf); break;
      case 7: x = sg * float(span + 1000 * rng.uniform()) * s; break;  // far outside
      case 8: x = sg * float(1u << 31) * s * (1 + rng.uniform()); break;  // beyond the 2^30 clamp
      case 9: x = float(sg * ((1 << 22) + 0.5 + double(rng.below(100)))) * s; break;  // large ties
      case 10: {
        const float special[] = {0.f, -0.f, inf, -inf, std::numeric_limits<float>::quiet_NaN(), 1e-45f, -1e-45f,
                                 3e38f, -3e38f, 0.5f * s, -0.5f * s, 1.5f * s, -2.5f * s, 8388607.5f * s,
                                 -8388607.5f * s, 1073741824.f * s, -1073741824.f * s, 0.49999997f * s,
                                 -0.49999997f * s, -1e-9f * s};
        x = special[rng.below(sizeof(special) / sizeof(special[0]))];
        break;
      }
      default: x = sg * float(rng.uniform()) * 4 * s; break;  // near zero
    }
    t.f32()[i] = x;
  }
  return t;
}

// Compares the fast path of every runnable ISA with the specification on x: fake_quant's y
// (against fake_quantize) and straight-through gradient, the kernel's mask bits and dy/ds,
// and (without fixed_point) fake_quant_lsq's y and gradients. Returns the number of failures.
int fq_compare(const Tensor& x, const QFormat& f, const QParams& p, const std::vector<Isa>& isas, Rng& rng) {
  const int64_t n = x.numel(), c = int64_t(p.size());
  const Tensor want = fake_quantize(x, f, p);
  Tensor g(x.shape());
  for (int64_t i = 0; i < n; ++i) g.f32()[i] = (rng.below(2) ? 1.f : -1.f) * rng.uniform(0.5f, 1.5f);
  std::vector<FqRef> ref(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const size_t k = c == 1 ? 0 : size_t(i % c);
    ref[size_t(i)] = fq_ref(x.f32()[i], p.scale[k], p.zero_point[k], f);
  }
  // LSQ's scale gradient from the reference dy/ds, summed as documented (blocks in order).
  std::vector<float> want_gs(static_cast<size_t>(c));
  {
    const int64_t blocks = (n + kFakeQuantBlock - 1) / kFakeQuantBlock;
    std::vector<double> tot(size_t(c), 0.0);
    for (int64_t b = 0; b < blocks; ++b) {
      std::vector<double> acc(size_t(c), 0.0);
      for (int64_t i = b * kFakeQuantBlock; i < std::min(n, (b + 1) * kFakeQuantBlock); ++i)
        acc[size_t(i % c)] += double(g.f32()[i]) * double(ref[size_t(i)].dyds);
      for (int64_t k = 0; k < c; ++k) tot[size_t(k)] += acc[size_t(k)];
    }
    for (int64_t k = 0; k < c; ++k)
      want_gs[size_t(k)] = float(tot[size_t(k)] * lsq_grad_scale(f, n / c, p.zero_point[size_t(k)]));
  }
  int bad = 0;
  auto fail = [&](Isa isa, const char* what, int64_t i, float got, float exp) {
    if (++bad <= 5)
      FAIL_CHECK(f.describe() << ", " << c << " channel(s), n " << n << ", isa " << isa_name(isa) << ": " << what
                              << " of element " << i << " (x = " << x.f32()[i] << ", s = " << p.scale[size_t(c == 1 ? 0 : i % c)] << ", z = " << p.zero_point[size_t(c == 1 ? 0 : i % c)] << "): got " << got << " want " << exp);
  };
  for (Isa isa : isas) {
    // Through fake_quant and autograd, on this ISA's table.
    Var xv(x, true);
    Var y = fake_quant(xv, f, p, nullptr, &fq_kernels(isa));
    y.backward(g);
    for (int64_t i = 0; i < n; ++i) {
      if (bits_of(y.value().f32()[i]) != bits_of(want.f32()[i])) fail(isa, "y", i, y.value().f32()[i], want.f32()[i]);
      const float gw = ref[size_t(i)].inside ? g.f32()[i] : 0.f;
      if (bits_of(xv.grad().f32()[i]) != bits_of(gw)) fail(isa, "dL/dx", i, xv.grad().f32()[i], gw);
    }
    // The kernel: mask bits and dy/ds.
    const FqPrepared prep = fq_prepare(p.scale.data(), p.zero_point.data(), c, f.qmin(), f.qmax(), f.rounding);
    std::vector<float> yk(static_cast<size_t>(n)), dk(static_cast<size_t>(n));
    std::vector<uint64_t> mk(size_t((n + 63) / 64), ~uint64_t(0));
    fq_kernels(isa).forward(prep.p, x.f32(), 0, n, yk.data(), mk.data(), dk.data());
    for (int64_t i = 0; i < n; ++i) {
      const FqRef& r = ref[size_t(i)];
      if (bits_of(yk[size_t(i)]) != bits_of(r.y)) fail(isa, "kernel y", i, yk[size_t(i)], r.y);
      if (bits_of(dk[size_t(i)]) != bits_of(r.dyds)) fail(isa, "kernel dy/ds", i, dk[size_t(i)], r.dyds);
      if (bool((mk[size_t(i / 64)] >> (i % 64)) & 1) != r.inside) fail(isa, "kernel mask", i, 0, float(r.inside));
    }
    for (int64_t i = n; i < int64_t(mk.size()) * 64; ++i)
      if ((mk[size_t(i / 64)] >> (i % 64)) & 1) fail(isa, "mask bit past the end", i, 1, 0);
    // Through fake_quant_lsq.
    if (f.scheme == Scheme::fixed_point) continue;
    Var xl(x, true), sl(Tensor::from({c}, p.scale), true);
    Var yl = fake_quant_lsq(xl, sl, f, p.zero_point);
    yl.backward(g);
    for (int64_t i = 0; i < n; ++i) {
      if (bits_of(yl.value().f32()[i]) != bits_of(want.f32()[i])) fail(isa, "lsq y", i, yl.value().f32()[i], want.f32()[i]);
      const float gw = ref[size_t(i)].inside ? g.f32()[i] : 0.f;
      if (bits_of(xl.grad().f32()[i]) != bits_of(gw)) fail(isa, "lsq dL/dx", i, xl.grad().f32()[i], gw);
    }
    for (int64_t k = 0; k < c; ++k)
      if (bits_of(sl.grad().f32()[k]) != bits_of(want_gs[size_t(k)]))
        fail(isa, "lsq dL/ds (channel as element)", k, sl.grad().f32()[k], want_gs[size_t(k)]);
  }
  return bad;
}

}  // namespace

TEST_CASE("fake_quant: every ISA's fast path is bit-for-bit the spec (edge values, formats, channels)",
          "[quant][fake]") {
  const std::vector<Isa> isas = fq_isas();
  Rng rng(qsr_test::base_seed() + 9);
  int cases = 0, bad = 0;
  struct Variant {
    bool is_signed;
    Scheme scheme;
    bool narrow;
  };
  const Variant variants[] = {{true, Scheme::symmetric, false}, {true, Scheme::symmetric, true},
                              {true, Scheme::affine, false},    {true, Scheme::affine, true},
                              {false, Scheme::symmetric, false}, {false, Scheme::affine, false},
                              {true, Scheme::fixed_point, false}, {false, Scheme::fixed_point, false}};
  for (int bits : {2, 4, 8, 12, 16})
    for (const Variant& va : variants)
      for (Rounding rd : {Rounding::half_even, Rounding::half_away})
        for (int64_t c : {0, 1, 3, 9, 32, 64, 65}) {  // 0: per tensor
          if (va.scheme == Scheme::fixed_point && c != 0) continue;
          QFormat f = fmt_of(bits, va.is_signed, va.scheme, c > 0, rd);
          f.narrow = va.narrow;
          f.frac_bits = bits / 2;
          const int64_t nc = std::max<int64_t>(c, 1);
          std::vector<float> lo, hi;
          for (int64_t k = 0; k < nc; ++k) {
            lo.push_back(-rng.uniform(0.f, 3.f));
            hi.push_back(rng.uniform(0.01f, 3.f));
          }
          QParams p = params_from_ranges(f, lo, hi);
          // Power-of-two scales on every other channel: exact ties.
          if (va.scheme != Scheme::fixed_point)
            for (int64_t k = 0; k < nc; k += 2) p.scale[size_t(k)] = std::ldexp(1.f, -int(rng.below(12)));
          // Sizes off the vector widths and the 64-element mask words.
          const Shape shape = c == 0 ? Shape{int64_t(61 + rng.below(200))} : Shape{3, int64_t(7 + rng.below(9)), c};
          const Tensor x = fq_edge_data(shape, p, f, rng);
          bad += fq_compare(x, f, p, isas, rng);
          ++cases;
        }
  CHECK(cases == 5 * 6 * 2 * 7 + 5 * 2 * 2);
  // Several blocks (channel offsets at block starts vary for c = 3, 9, 65), 1 and 2 threads.
  for (int64_t c : {1, 9, 64, 65}) {
    QFormat f = fmt_of(8, true, Scheme::affine, c > 1, c == 9 ? Rounding::half_away : Rounding::half_even);
    std::vector<float> lo(static_cast<size_t>(c)), hi(static_cast<size_t>(c));
    for (int64_t k = 0; k < c; ++k) {
      lo[size_t(k)] = -rng.uniform(0.1f, 2.f);
      hi[size_t(k)] = rng.uniform(0.1f, 2.f);
    }
    const QParams p = params_from_ranges(f, lo, hi);
    const Tensor x = fq_edge_data({(2 * kFakeQuantBlock + 333) / c, c}, p, f, rng);
    for (int t : {1, 2}) {
      qsr_test::ThreadCount tc(t);
      bad += fq_compare(x, f, p, isas, rng);
    }
  }
  // Zero points far outside the grid (fake_quantize accepts any): the code bounds qmin - z and
  // qmax - z are then not exactly floats.
  for (int32_t z : {1000003, -(1 << 30) - 5, (1 << 30) + 3, 70000, -70001}) {
    for (Rounding rd : {Rounding::half_even, Rounding::half_away}) {
      const QFormat f = fmt_of(16, false, Scheme::affine, true, rd);
      QParams p{{0.5f, 3e-3f, 1e-30f}, {z, 0, z / 2}};
      Tensor x = fq_edge_data({77, 3}, p, f, rng);
      for (int64_t i = 0; i < 30; ++i) x.f32()[3 * i] = float(-z + int64_t(rng.below(70000)) - 2) * 0.5f;
      bad += fq_compare(x, f, p, isas, rng);
    }
  }
  CHECK(bad == 0);
}

TEST_CASE("fake_quant: stochastic rounding's straight-through mask", "[quant][fake]") {
  // The scalar stochastic path writes the same bit mask: codes well inside pass, far outside do not.
  const QFormat f = fmt_of(4, true, Scheme::symmetric, false, Rounding::stochastic);
  const QParams p{{0.25f}, {0}};
  Rng rng(qsr_test::base_seed() + 10), draw(5);
  Var x(qsr_test::random_tensor({kFakeQuantBlock + 71}, rng, -4.f, 4.f), true);
  const Tensor g = qsr_test::random_tensor(x.shape(), rng, 0.5f, 1.f);
  fake_quant(x, f, p, &draw).backward(g);
  for (int64_t i = 0; i < x.value().numel(); ++i) {
    const float v = x.value().f32()[i] / 0.25f;
    if (v > -7.f && v < 6.f) CHECK(x.grad().f32()[i] == g.f32()[i]);
    if (v < -10.f || v > 9.f) CHECK(x.grad().f32()[i] == 0.f);
  }
}

// ------------------------------------------------------------------ FakeQuant layer

TEST_CASE("FakeQuant: observes in training, freezes, eval uses frozen params", "[quant][fake]") {
  const QFormat f = fmt_of(8, true, Scheme::affine);
  FakeQuant fq(f, "minmax");
  CHECK(fq.named_parameters().empty());
  CHECK(qsr_test::contains(fq.describe(), "FakeQuant(s8 affine, minmax"));
  // Never observed: eval has no parameters.
  fq.train(false);
  CHECK_THROWS_WITH(fq.forward(Var(Tensor::zeros({2}))), Contains("no quantisation parameters"));
  CHECK_THROWS_WITH(fq.params(), Contains("no quantisation parameters"));
  fq.train(true);
  fq.freeze_after = 2;
  const Tensor a = tensor_of({4}, {-1.f, 0.3f, 1.7f, 2.f});
  Var y = fq.forward(Var(a));
  CHECK(fq.steps() == 1);
  CHECK_FALSE(fq.frozen());
  const QParams p1 = params_from_ranges(f, {-1.f}, {2.f});
  CHECK(fq.params().scale == p1.scale);
  CHECK(qsr_test::bitwise_equal(y.value(), fake_quantize(a, f, p1)));
  const Tensor b = tensor_of({2}, {-3.f, 1.f});
  fq.forward(Var(b));
  CHECK(fq.steps() == 2);
  CHECK(fq.frozen());  // after freeze_after = 2 training forwards
  CHECK(qsr_test::contains(fq.describe(), "frozen"));
  const QParams p2 = params_from_ranges(f, {-3.f}, {2.f});
  CHECK(fq.params().scale == p2.scale);
  CHECK(fq.params().zero_point == p2.zero_point);
  // Frozen: a wider batch changes nothing.
  const Tensor wide = tensor_of({2}, {-10.f, 10.f});
  y = fq.forward(Var(wide));
  CHECK(fq.steps() == 3);
  CHECK(fq.observer().range().first[0] == -3.f);
  CHECK(qsr_test::bitwise_equal(y.value(), fake_quantize(wide, f, p2)));
  // Eval: the frozen parameters, no step counted.
  fq.train(false);
  y = fq.forward(Var(wide));
  CHECK(fq.steps() == 3);
  CHECK(qsr_test::bitwise_equal(y.value(), fake_quantize(wide, f, p2)));
  // Gradients pass straight through in training.
  fq.train(true);
  Var xg(tensor_of({3}, {0.5f, -9.f, 1.f}), true);
  fq.forward(xg).backward(Tensor::full({3}, 1.f));
  CHECK(xg.grad().f32()[0] == 1.f);
  CHECK(xg.grad().f32()[1] == 0.f);
  CHECK(xg.grad().f32()[2] == 1.f);
}

TEST_CASE("FakeQuant: ema observer, eval without freezing, set_params", "[quant][fake]") {
  const QFormat f = fmt_of(8, false, Scheme::symmetric, true);
  FakeQuant fq(f, "ema", false, 0.5f);
  fq.forward(Var(tensor_of({2, 2}, {0.f, 1.f, 2.f, 3.f})));
  fq.forward(Var(tensor_of({1, 2}, {4.f, 1.f})));
  // hi: channel 0: 0.5*2 + 0.5*4 = 3; channel 1: 0.5*3 + 0.5*1 = 2.
  const QParams want = params_from_ranges(f, {0.f, 0.f}, {3.f, 2.f});
  CHECK(fq.params().scale == want.scale);
  fq.train(false);
  const Tensor t = tensor_of({1, 2}, {1.234f, 0.77f});
  CHECK(qsr_test::bitwise_equal(fq.forward(Var(t)).value(), fake_quantize(t, f, want)));
  // set_params: from a checkpoint; freezes.
  const QParams ck{{0.5f, 0.25f}, {0, 0}};
  fq.set_params(ck);
  CHECK(fq.frozen());
  CHECK(qsr_test::bitwise_equal(fq.forward(Var(t)).value(), fake_quantize(t, f, ck)));
  CHECK_THROWS_WITH(fq.set_params(QParams{{0.f, 1.f}, {0, 0}}), Contains("not finite and positive"));
  FakeQuant never(f);
  never.set_params(ck);
  never.train(false);
  CHECK(never.params().scale == ck.scale);
  CHECK_THROWS_WITH(FakeQuant(f, "histogram"), Contains("unknown observer 'histogram'"));
}

TEST_CASE("FakeQuant: learnt scale (LSQ)", "[quant][fake]") {
  const QFormat f = fmt_of(4, true, Scheme::symmetric, true);
  CHECK_THROWS_WITH(FakeQuant(f, "minmax", true), Contains("channel count"));
  FakeQuant fq(f, "minmax", true, NAN, 2);
  auto params = fq.named_parameters();
  REQUIRE(params.size() == 1);
  CHECK(params[0].first == "scale");
  Var s = params[0].second;
  CHECK(s.shape() == Shape{2});
  const Tensor a = tensor_of({2, 2}, {0.7f, -1.4f, -0.35f, 0.2f});
  Var x(a.clone(), true);
  Var y = fq.forward(x);
  // Initialised from the observer: max |x| / 7 per channel.
  CHECK(s.value().f32()[0] == 0.7f / 7);
  CHECK(s.value().f32()[1] == 1.4f / 7);
  CHECK(qsr_test::bitwise_equal(y.value(), fake_quantize(a, f, params_from_ranges(f, {-0.35f, -1.4f}, {0.7f, 0.2f}))));
  y.backward(Tensor::full(y.shape(), 1.f));
  REQUIRE(s.grad().defined());
  // The learnt scale now drives the layer; the observer is not fed any more.
  s.value().f32()[0] = 0.05f;
  const Tensor wide = tensor_of({1, 2}, {5.f, 5.f});
  Var y2 = fq.forward(Var(wide));
  CHECK(fq.observer().range().second[0] == 0.7f);
  CHECK(fq.params().scale[0] == 0.05f);
  CHECK(y2.value().f32()[0] == 7 * 0.05f);
  CHECK(y2.requires_grad());  // through the scale
  fq.freeze();
  CHECK(fq.params().scale[0] == 0.05f);
  CHECK_FALSE(fq.forward(Var(wide)).requires_grad());  // frozen: the snapshot, no gradient
  QFormat fx = fmt_of(8, true, Scheme::fixed_point);
  CHECK_THROWS_WITH(FakeQuant(fx, "minmax", true), Contains("fixed-point"));
}
