// Central-difference gradient checks for every differentiable op in ops.h,
// and the behaviour of the autograd graph (accumulation, reuse, no-grad,
// freed graphs, errors).
#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "tests/test_util.h"

using namespace qsr;
using Catch::Matchers::Contains;

namespace {

using OpFn = std::function<Var(const std::vector<Var>&)>;
// Values whose signs must not change between x-h, x and x+h (kinks of relu, clamp).
using KinkFn = std::function<std::vector<float>(const std::vector<Tensor>&)>;

struct GradCheckOptions {
  double h = 1e-2;
  double rel = 2e-2;
  double abs = 1e-3;
  int max_elems = 30;
  KinkFn kinks;
};

double objective(const Tensor& y, const Tensor& r) {
  double s = 0;
  for (int64_t i = 0; i < y.numel(); ++i) s += double(y.f32()[i]) * double(r.f32()[i]);
  return s;
}

double eval(const OpFn& f, const std::vector<Tensor>& xs, const Tensor& r) {
  NoGradGuard ng;
  std::vector<Var> vs;
  for (const Tensor& x : xs) vs.emplace_back(x);
  return objective(f(vs).value(), r);
}

bool same_signs(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if ((a[i] > 0) != (b[i] > 0) || a[i] == 0 || b[i] == 0) return false;
  return true;
}

// L = sum(f(xs) * R) for a fixed random R; the analytic gradient comes from
// y.backward(R), the numeric one from central differences on a random subset
// of each input's elements.
void grad_check(const std::string& name, const OpFn& f, std::vector<Tensor> xs, uint64_t seed,
                GradCheckOptions o = {}) {
  INFO("op " << name << ", seed " << seed);
  Rng rng(seed);
  std::vector<Var> vs;
  for (const Tensor& x : xs) vs.emplace_back(x.clone(), true);
  Var y = f(vs);
  REQUIRE(y.requires_grad());
  Tensor r = qsr_test::random_tensor(y.shape(), rng);
  y.backward(r);
  int checked = 0, skipped = 0;
  for (size_t j = 0; j < xs.size(); ++j) {
    INFO("input " << j << " shape " << shape_str(xs[j].shape()));
    REQUIRE(vs[j].grad().defined());
    REQUIRE(vs[j].grad().shape() == xs[j].shape());
    const int64_t n = xs[j].numel();
    std::vector<int64_t> idx(static_cast<size_t>(n));
    std::iota(idx.begin(), idx.end(), 0);
    for (int64_t i = n - 1; i > 0; --i) std::swap(idx[size_t(i)], idx[size_t(rng.below(uint64_t(i + 1)))]);
    if (n > o.max_elems) idx.resize(size_t(o.max_elems));
    for (int64_t e : idx) {
      std::vector<Tensor> xp, xm;
      for (const Tensor& x : xs) {
        xp.push_back(x.clone());
        xm.push_back(x.clone());
      }
      const float x0 = xs[j].f32()[e];
      xp[j].f32()[e] = static_cast<float>(x0 + o.h);
      xm[j].f32()[e] = static_cast<float>(x0 - o.h);
      if (o.kinks) {
        NoGradGuard ng;
        auto k0 = o.kinks(xs), kp = o.kinks(xp), km = o.kinks(xm);
        if (!same_signs(k0, kp) || !same_signs(k0, km)) {
          ++skipped;
          continue;
        }
      }
      const double step = double(xp[j].f32()[e]) - double(xm[j].f32()[e]);
      const double numeric = (eval(f, xp, r) - eval(f, xm, r)) / step;
      const double analytic = vs[j].grad().f32()[e];
      INFO("element " << e << ": analytic " << analytic << ", numeric " << numeric);
      CHECK(std::fabs(analytic - numeric) <= o.abs + o.rel * std::max(std::fabs(analytic), std::fabs(numeric)));
      ++checked;
    }
  }
  INFO("checked " << checked << ", skipped near kinks " << skipped);
  CHECK(checked >= std::min<int>(5, int(xs.size())));
  CHECK(skipped <= checked);
}

// Uniform in [-1, 1] with |x| >= gap (away from relu's kink).
Tensor away_from_zero(Shape s, Rng& rng, float gap) {
  Tensor t(std::move(s));
  for (int64_t i = 0; i < t.numel(); ++i) {
    float u = rng.uniform(-1.f, 1.f);
    t.f32()[i] = u >= 0 ? gap + u : u - gap;
  }
  return t;
}

std::vector<float> values(const Tensor& t) { return std::vector<float>(t.f32(), t.f32() + t.numel()); }

struct ConvShape {
  int n, h, w, cin, cout, k;
};

}  // namespace

std::string conv_desc(const ConvShape& s, bool with_bias) {
  return "n " + std::to_string(s.n) + " h " + std::to_string(s.h) + " w " + std::to_string(s.w) + " cin " +
         std::to_string(s.cin) + " cout " + std::to_string(s.cout) + " k " + std::to_string(s.k) +
         (with_bias ? " with bias" : " no bias");
}

// Input, weight and (optionally) bias for a conv gradient check.
std::vector<Tensor> conv_inputs(const ConvShape& s, bool with_bias, uint64_t seed, float bias_lo, float bias_hi) {
  Rng rng(seed);
  std::vector<Tensor> xs{qsr_test::random_tensor({s.n, s.h, s.w, s.cin}, rng),
                         qsr_test::random_tensor({s.k, s.k, s.cin, s.cout}, rng, -0.5f, 0.5f)};
  if (with_bias) xs.push_back(qsr_test::random_tensor({s.cout}, rng, bias_lo, bias_hi));
  return xs;
}

TEST_CASE("grad: conv2d with and without bias", "[autograd][grad]") {
  const ConvShape shapes[] = {
      {2, 5, 4, 1, 9, 5},  // first ESPCN layer's cin, last layer's cout
      {1, 4, 5, 3, 9, 3},  {2, 3, 3, 17, 9, 1}, {1, 6, 5, 2, 3, 7},
      {1, 4, 4, 3, 17, 3},  // cout > 16 with a tail
      {1, 3, 4, 32, 9, 3},  // ESPCN's last conv at a tiny size
      {1, 1, 1, 2, 2, 3},   {2, 2, 3, 4, 1, 5},
  };
  uint64_t seed = qsr_test::base_seed() + 1000;
  for (const auto& s : shapes) {
    for (bool with_bias : {true, false}) {
      ++seed;
      INFO(conv_desc(s, with_bias));
      std::vector<Tensor> xs = conv_inputs(s, with_bias, seed, -1.f, 1.f);
      GradCheckOptions o;
      o.h = 5e-2;  // conv is linear in each input: a larger step only reduces rounding noise
      grad_check("conv2d", [](const std::vector<Var>& v) { return conv2d(v[0], v[1], v.size() > 2 ? v[2] : Var()); },
                 xs, seed, o);
    }
  }
}

TEST_CASE("grad: conv2d_relu", "[autograd][grad]") {
  const ConvShape shapes[] = {{2, 5, 4, 1, 8, 5}, {1, 4, 4, 4, 9, 3}, {1, 3, 5, 3, 17, 1}};
  uint64_t seed = qsr_test::base_seed() + 2000;
  for (const auto& s : shapes) {
    for (bool with_bias : {true, false}) {
      ++seed;
      INFO(conv_desc(s, with_bias));
      std::vector<Tensor> xs = conv_inputs(s, with_bias, seed, -0.2f, 0.2f);
      GradCheckOptions o;
      o.kinks = [](const std::vector<Tensor>& t) {
        return values(conv2d(Var(t[0]), Var(t[1]), t.size() > 2 ? Var(t[2]) : Var()).value());
      };
      auto f = [](const std::vector<Var>& v) { return conv2d_relu(v[0], v[1], v.size() > 2 ? v[2] : Var()); };
      grad_check("conv2d_relu", f, xs, seed, o);
      // And the fused op equals conv2d followed by relu.
      std::vector<Var> in;
      for (auto& t : xs) in.emplace_back(t);
      Tensor fused = f(in).value();
      Tensor sep = relu(conv2d(in[0], in[1], in.size() > 2 ? in[2] : Var())).value();
      CHECK(qsr_test::bitwise_equal(fused, sep));
    }
  }
}

TEST_CASE("grad: relu and tanh", "[autograd][grad]") {
  Rng rng(qsr_test::base_seed() + 3000);
  GradCheckOptions o;
  o.kinks = [](const std::vector<Tensor>& t) { return values(t[0]); };
  grad_check("relu", [](const std::vector<Var>& v) { return relu(v[0]); }, {away_from_zero({2, 3, 4, 5}, rng, 0.03f)},
             rng.next_u64(), o);
  grad_check("tanh", [](const std::vector<Var>& v) { return qsr::tanh(v[0]); },
             {qsr_test::random_tensor({2, 3, 4, 5}, rng, -2.f, 2.f)}, rng.next_u64());
  // Forward values.
  Tensor x = Tensor::from({4}, std::vector<float>{-1.f, 0.f, 0.5f, 2.f});
  Tensor rl = relu(Var(x)).value();
  CHECK(values(rl) == std::vector<float>{0.f, 0.f, 0.5f, 2.f});
  Tensor th = qsr::tanh(Var(x)).value();
  for (int i = 0; i < 4; ++i) CHECK(th.f32()[i] == Approx(std::tanh(x.f32()[i])));
}

TEST_CASE("grad: pixel_shuffle and pixel_unshuffle", "[autograd][grad]") {
  Rng rng(qsr_test::base_seed() + 4000);
  for (int r : {2, 3}) {
    INFO("r " << r);
    grad_check("pixel_shuffle", [r](const std::vector<Var>& v) { return pixel_shuffle(v[0], r); },
               {qsr_test::random_tensor({2, 3, 2, 2 * r * r}, rng)}, rng.next_u64());
    grad_check("pixel_unshuffle", [r](const std::vector<Var>& v) { return pixel_unshuffle(v[0], r); },
               {qsr_test::random_tensor({2, 2 * r, 3 * r, 3}, rng)}, rng.next_u64());
  }
  // Shapes, a known permutation and the round trip.
  Tensor x({1, 1, 1, 4});
  for (int i = 0; i < 4; ++i) x.f32()[i] = float(i);
  Tensor y = pixel_shuffle(Var(x), 2).value();
  CHECK(y.shape() == Shape{1, 2, 2, 1});
  CHECK(values(y) == std::vector<float>{0, 1, 2, 3});  // TensorFlow depth_to_space ordering
  Tensor z = qsr_test::random_tensor({2, 6, 9, 5}, rng);
  Tensor u = pixel_unshuffle(Var(z), 3).value();
  CHECK(u.shape() == Shape{2, 2, 3, 45});
  CHECK(qsr_test::bitwise_equal(pixel_shuffle(Var(u), 3).value(), z));
  CHECK_THROWS_AS(pixel_shuffle(Var(Tensor({1, 2, 2, 5})), 2), Error);
  CHECK_THROWS_AS(pixel_unshuffle(Var(Tensor({1, 3, 4, 1})), 2), Error);
  CHECK_THROWS_AS(pixel_shuffle(Var(Tensor({1, 2, 2, 4})), 0), Error);
}

TEST_CASE("grad: add, sub, mul, scale", "[autograd][grad]") {
  Rng rng(qsr_test::base_seed() + 5000);
  auto two = [&] {
    return std::vector<Tensor>{qsr_test::random_tensor({3, 4, 5}, rng), qsr_test::random_tensor({3, 4, 5}, rng)};
  };
  grad_check("add", [](const std::vector<Var>& v) { return add(v[0], v[1]); }, two(), rng.next_u64());
  grad_check("sub", [](const std::vector<Var>& v) { return sub(v[0], v[1]); }, two(), rng.next_u64());
  grad_check("mul", [](const std::vector<Var>& v) { return mul(v[0], v[1]); }, two(), rng.next_u64());
  grad_check("scale", [](const std::vector<Var>& v) { return scale(v[0], -1.7f); },
             {qsr_test::random_tensor({2, 7}, rng)}, rng.next_u64());
  Tensor a = Tensor::from({2}, std::vector<float>{1.f, 2.f}), b = Tensor::from({2}, std::vector<float>{3.f, -4.f});
  CHECK(values(add(Var(a), Var(b)).value()) == std::vector<float>{4.f, -2.f});
  CHECK(values(sub(Var(a), Var(b)).value()) == std::vector<float>{-2.f, 6.f});
  CHECK(values(mul(Var(a), Var(b)).value()) == std::vector<float>{3.f, -8.f});
  CHECK(values(scale(Var(a), 0.5f).value()) == std::vector<float>{0.5f, 1.f});
}

TEST_CASE("grad: clamp", "[autograd][grad]") {
  Rng rng(qsr_test::base_seed() + 6000);
  const float lo = -0.5f, hi = 0.5f;
  // Values in [-1, 1] kept at least 0.03 away from both bounds.
  Tensor x({4, 5, 3});
  for (int64_t i = 0; i < x.numel(); ++i) {
    float v;
    do v = rng.uniform(-1.f, 1.f);
    while (std::fabs(v - lo) < 0.03f || std::fabs(v - hi) < 0.03f);
    x.f32()[i] = v;
  }
  GradCheckOptions o;
  o.kinks = [lo, hi](const std::vector<Tensor>& t) {
    std::vector<float> k;
    for (int64_t i = 0; i < t[0].numel(); ++i) {
      k.push_back(t[0].f32()[i] - lo);
      k.push_back(t[0].f32()[i] - hi);
    }
    return k;
  };
  grad_check("clamp", [lo, hi](const std::vector<Var>& v) { return clamp(v[0], lo, hi); }, {x}, rng.next_u64(), o);
  Tensor c = clamp(Var(Tensor::from({3}, std::vector<float>{-2.f, 0.25f, 3.f})), lo, hi).value();
  CHECK(values(c) == std::vector<float>{-0.5f, 0.25f, 0.5f});
  // At the bounds the gradient is 0 (passes only where lo < x < hi).
  Var at(Tensor::from({3}, std::vector<float>{-0.5f, 0.f, 0.5f}), true);
  clamp(at, lo, hi).backward(Tensor::full({3}, 1.f));
  CHECK(values(at.grad()) == std::vector<float>{0.f, 1.f, 0.f});
  CHECK_THROWS_AS(clamp(Var(x), 1.f, -1.f), Error);
}

TEST_CASE("grad: mean, sum and mse_loss", "[autograd][grad]") {
  Rng rng(qsr_test::base_seed() + 7000);
  grad_check("sum", [](const std::vector<Var>& v) { return sum(v[0]); }, {qsr_test::random_tensor({3, 4, 5}, rng)},
             rng.next_u64());
  grad_check("mean", [](const std::vector<Var>& v) { return mean(v[0]); }, {qsr_test::random_tensor({3, 4, 5}, rng)},
             rng.next_u64(), GradCheckOptions{1e-2, 2e-2, 1e-5, 30, {}});
  grad_check("mse_loss", [](const std::vector<Var>& v) { return mse_loss(v[0], v[1]); },
             {qsr_test::random_tensor({2, 3, 4, 1}, rng), qsr_test::random_tensor({2, 3, 4, 1}, rng)}, rng.next_u64(),
             GradCheckOptions{1e-2, 2e-2, 1e-5, 30, {}});
  Tensor a = Tensor::from({4}, std::vector<float>{1.f, 2.f, 3.f, 6.f});
  Tensor b = Tensor::from({4}, std::vector<float>{1.f, 0.f, 3.f, 2.f});
  CHECK(sum(Var(a)).value().shape() == Shape{1});
  CHECK(sum(Var(a)).value().f32()[0] == 12.f);
  CHECK(mean(Var(a)).value().f32()[0] == 3.f);
  CHECK(mse_loss(Var(a), Var(b)).value().f32()[0] == 5.f);  // (0 + 4 + 0 + 16) / 4
  // Scalar results backpropagate without a seed.
  Var p(a.clone(), true);
  mse_loss(p, Var(b)).backward();
  CHECK(values(p.grad()) == std::vector<float>{0.f, 1.f, 0.f, 2.f});
  CHECK_THROWS_AS(mean(Var(Tensor({0}))), Error);
}

TEST_CASE("grad: a small ESPCN-like graph end to end", "[autograd][grad]") {
  Rng rng(qsr_test::base_seed() + 8000);
  std::vector<Tensor> xs{qsr_test::random_tensor({2, 4, 3, 1}, rng),
                         qsr_test::random_tensor({3, 3, 1, 4}, rng, -0.6f, 0.6f),
                         qsr_test::random_tensor({4}, rng, -0.1f, 0.1f),
                         qsr_test::random_tensor({3, 3, 4, 4}, rng, -0.4f, 0.4f),
                         qsr_test::random_tensor({4}, rng, -0.1f, 0.1f),
                         qsr_test::random_tensor({2, 8, 6, 1}, rng)};
  auto f = [](const std::vector<Var>& v) {
    Var h = conv2d_relu(v[0], v[1], v[2]);
    Var o = pixel_shuffle(qsr::tanh(conv2d(h, v[3], v[4])), 2);
    return mse_loss(add(o, scale(o, 0.5f)), v[5]);
  };
  GradCheckOptions o;
  o.kinks = [](const std::vector<Tensor>& t) { return values(conv2d(Var(t[0]), Var(t[1]), Var(t[2])).value()); };
  o.abs = 1e-4;
  grad_check("espcn-like", f, xs, rng.next_u64(), o);
}

TEST_CASE("autograd: gradients accumulate in leaves until zero_grad", "[autograd]") {
  Tensor c = Tensor::from({3}, std::vector<float>{1.f, -2.f, 3.f});
  Var w(Tensor::from({3}, std::vector<float>{0.5f, 0.5f, 0.5f}), true);
  CHECK(w.is_leaf());
  CHECK_FALSE(w.grad().defined());
  sum(mul(w, Var(c))).backward();
  CHECK(values(w.grad()) == std::vector<float>{1.f, -2.f, 3.f});
  sum(mul(w, Var(c))).backward();
  CHECK(values(w.grad()) == std::vector<float>{2.f, -4.f, 6.f});
  w.zero_grad();
  CHECK_FALSE(w.grad().defined());
  sum(scale(w, 2.f)).backward();
  CHECK(values(w.grad()) == std::vector<float>{2.f, 2.f, 2.f});
  // The seed's storage is not taken over: changing it later leaves the gradient alone.
  Var u(Tensor::full({2}, 1.f), true);
  Tensor seed = Tensor::full({2}, 3.f);
  scale(u, 1.f).backward(seed);
  seed.fill(100.f);
  CHECK(values(u.grad()) == std::vector<float>{3.f, 3.f});
}

TEST_CASE("autograd: backward seeded on a leaf sets and accumulates its gradient", "[autograd]") {
  // d(v)/d(v) * seed = seed, as for any other result (PyTorch does the same).
  Var v(Tensor::full({2}, 1.f), true);
  v.backward(Tensor::full({2}, 3.f));
  REQUIRE(v.grad().defined());
  CHECK(values(v.grad()) == std::vector<float>{3.f, 3.f});
  // A leaf has no graph to free: a second call accumulates.
  REQUIRE_NOTHROW(v.backward(Tensor::full({2}, 1.f)));
  CHECK(values(v.grad()) == std::vector<float>{4.f, 4.f});
}

TEST_CASE("autograd: a Var used twice gets the sum of both gradients", "[autograd]") {
  Tensor xv = Tensor::from({3}, std::vector<float>{1.f, -2.f, 0.5f});
  {
    Var x(xv.clone(), true);
    sum(mul(x, x)).backward();
    CHECK(values(x.grad()) == std::vector<float>{2.f, -4.f, 1.f});
  }
  {
    Var x(xv.clone(), true);
    sum(add(x, x)).backward();
    CHECK(values(x.grad()) == std::vector<float>{2.f, 2.f, 2.f});
  }
  {
    // Diamond: a feeds both branches of the sum.
    Var x(xv.clone(), true);
    Var a = scale(x, 2.f);
    sum(add(scale(a, 3.f), sub(a, x))).backward();  // d/dx = 2*3 + 2 - 1 = 7
    CHECK(values(x.grad()) == std::vector<float>{7.f, 7.f, 7.f});
  }
  {
    // A long chain is walked without recursion limits.
    Var x(xv.clone(), true);
    Var h = x;
    for (int i = 0; i < 5000; ++i) h = add(h, scale(x, 0.f));
    sum(h).backward();
    CHECK(values(x.grad()) == std::vector<float>{1.f, 1.f, 1.f});
  }
}

TEST_CASE("autograd: NoGradGuard records nothing", "[autograd]") {
  Var x(Tensor::full({2, 2}, 1.f), true);
  CHECK(grad_enabled());
  {
    NoGradGuard ng;
    CHECK_FALSE(grad_enabled());
    {
      NoGradGuard nested;
      CHECK_FALSE(grad_enabled());
    }
    CHECK_FALSE(grad_enabled());
    Var y = sum(scale(x, 2.f));
    CHECK_FALSE(y.requires_grad());
    CHECK(y.is_leaf());
    CHECK(y.value().f32()[0] == 8.f);
    CHECK_THROWS_AS(y.backward(), Error);
  }
  CHECK(grad_enabled());
  Var y = sum(scale(x, 2.f));
  CHECK(y.requires_grad());
  CHECK_FALSE(y.is_leaf());
  CHECK(y.op_name() == "sum");
  y.backward();
  CHECK(values(x.grad()) == std::vector<float>{2.f, 2.f, 2.f, 2.f});
}

TEST_CASE("autograd: a second backward through a freed graph throws", "[autograd]") {
  Var x(Tensor::full({3}, 2.f), true);
  Var y = sum(mul(x, x));
  y.backward();
  CHECK_THROWS_AS(y.backward(), Error);
  CHECK_THROWS_WITH(y.backward(), Contains("freed"));
  // The leaf's gradient is unchanged by the failed call.
  CHECK(values(x.grad()) == std::vector<float>{4.f, 4.f, 4.f});
  // An interior node of the freed graph cannot be used either.
  Var x2(Tensor::full({3}, 2.f), true);
  Var mid = mul(x2, x2);
  Var top = sum(mid);
  top.backward();
  CHECK_THROWS_AS(mid.backward(Tensor::full({3}, 1.f)), Error);
}

TEST_CASE("autograd: inputs that do not require grad get none", "[autograd]") {
  Var x(Tensor::full({2, 3, 3, 2}, 0.5f), true);
  Var w(Tensor::full({3, 3, 2, 4}, 0.1f), false);
  Var b(Tensor::full({4}, 0.f), false);
  Var c(Tensor::full({2, 3, 3, 4}, 1.f));
  Var y = sum(mul(conv2d(x, w, b), c));
  y.backward();
  CHECK(x.grad().defined());
  CHECK_FALSE(w.grad().defined());
  CHECK_FALSE(b.grad().defined());
  CHECK_FALSE(c.grad().defined());
  // Nothing requires grad: the result records nothing.
  Var z = add(c, c);
  CHECK_FALSE(z.requires_grad());
  CHECK_THROWS_AS(z.backward(Tensor::full({2, 3, 3, 4}, 1.f)), Error);
  // set_requires_grad works on leaves only.
  Var leaf(Tensor::full({1}, 1.f));
  leaf.set_requires_grad(true);
  CHECK(leaf.requires_grad());
  Var interior = scale(leaf, 2.f);
  CHECK_THROWS_AS(interior.set_requires_grad(false), Error);
  CHECK_THROWS_AS(Var(Tensor({2}, DType::i8), true), Error);
}

TEST_CASE("autograd: shape and argument errors are qsr::Error with a message", "[autograd]") {
  Var a(Tensor({2, 3}), true), b(Tensor({3, 2}), true);
  CHECK_THROWS_WITH(add(a, b), Contains("add") && Contains("[2, 3]") && Contains("[3, 2]"));
  CHECK_THROWS_AS(sub(a, b), Error);
  CHECK_THROWS_AS(mul(a, b), Error);
  CHECK_THROWS_AS(mse_loss(a, b), Error);
  CHECK_THROWS_AS(add(a, Var()), Error);
  CHECK_THROWS_AS(add(a, Var(Tensor({2, 3}, DType::i16))), Error);
  Var x(Tensor({1, 4, 4, 3}), true);
  CHECK_THROWS_WITH(conv2d(x, Var(Tensor({3, 3, 2, 5})), Var()), Contains("input channels"));
  CHECK_THROWS_AS(conv2d(x, Var(Tensor({2, 2, 3, 5})), Var()), Error);  // even kernel
  CHECK_THROWS_AS(conv2d(x, Var(Tensor({9, 9, 3, 5})), Var()), Error);  // too large
  CHECK_THROWS_AS(conv2d(x, Var(Tensor({3, 1, 3, 5})), Var()), Error);  // not square
  CHECK_THROWS_WITH(conv2d(x, Var(Tensor({3, 3, 3, 5})), Var(Tensor({4}))), Contains("bias"));
  CHECK_THROWS_AS(conv2d(Var(Tensor({4, 4, 3})), Var(Tensor({3, 3, 3, 5})), Var()), Error);
  CHECK_THROWS_AS(conv2d_relu(x, Var(Tensor({3, 3, 2, 5})), Var()), Error);
  // backward(): seed shape, non-scalar without seed.
  Var y = scale(a, 2.f);
  CHECK_THROWS_WITH(y.backward(), Contains("one-element"));
  CHECK_THROWS_WITH(y.backward(Tensor({3, 2})), Contains("seed"));
  CHECK_THROWS_AS(Var().backward(), Error);
  CHECK_THROWS_AS(Var().value(), Error);
}
