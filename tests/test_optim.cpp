// Adam and SGD against double-precision implementations of Keras' formulas.
#include <cmath>
#include <vector>

#include "engine/optim.h"
#include "tests/test_util.h"

using namespace qsr;

namespace {
struct Case {
  std::vector<double> p0;
  std::vector<std::vector<double>> grads;  // one per step
};

Case make_case(uint64_t seed, int n, int steps) {
  Rng rng(seed);
  Case c;
  for (int i = 0; i < n; ++i) c.p0.push_back(rng.uniform(-1.f, 1.f));
  for (int s = 0; s < steps; ++s) {
    std::vector<double> g;
    for (int i = 0; i < n; ++i) {
      // Mixed magnitudes, including exact zeros and tiny gradients (eps matters there).
      float v = rng.uniform(-1.f, 1.f);
      if (i % 7 == 3) v = 0.f;
      if (i % 7 == 5) v *= 1e-6f;
      if (i % 7 == 6) v *= 100.f;
      g.push_back(v);
    }
    c.grads.push_back(g);
  }
  return c;
}

Var make_param(const std::vector<double>& p) {
  Tensor t({int64_t(p.size())});
  for (size_t i = 0; i < p.size(); ++i) t.f32()[i] = float(p[i]);
  return Var(t, true);
}

void set_grad(Var& v, const std::vector<double>& g) {
  Tensor t({int64_t(g.size())});
  for (size_t i = 0; i < g.size(); ++i) t.f32()[i] = float(g[i]);
  v.zero_grad();
  accumulate_grad(v, t);
}

void check_close(const Var& v, const std::vector<double>& want, double rel, double abs_tol) {
  const float* p = v.value().f32();
  for (size_t i = 0; i < want.size(); ++i) {
    INFO("element " << i << ": got " << p[i] << ", want " << want[i]);
    CHECK(std::fabs(p[i] - want[i]) <= abs_tol + rel * std::fabs(want[i]));
  }
}
}  // namespace

TEST_CASE("optim: Adam with Keras defaults, 1 and 3 steps", "[optim]") {
  for (int steps : {1, 3}) {
    INFO("steps " << steps);
    Case c = make_case(qsr_test::base_seed() + steps, 40, steps);
    Var p = make_param(c.p0);
    Adam opt({p});
    CHECK(opt.options.lr == 1e-3f);
    CHECK(opt.options.beta1 == 0.9f);
    CHECK(opt.options.beta2 == 0.999f);
    CHECK(opt.options.epsilon == 1e-7f);
    std::vector<double> ref = c.p0, m(c.p0.size(), 0.0), v(c.p0.size(), 0.0);
    const double lr = 1e-3, b1 = 0.9, b2 = 0.999, eps = 1e-7;
    for (int t = 1; t <= steps; ++t) {
      set_grad(p, c.grads[t - 1]);
      opt.step();
      const double alpha = lr * std::sqrt(1 - std::pow(b2, t)) / (1 - std::pow(b1, t));
      for (size_t i = 0; i < ref.size(); ++i) {
        const double g = c.grads[t - 1][i];
        m[i] = b1 * m[i] + (1 - b1) * g;
        v[i] = b2 * v[i] + (1 - b2) * g * g;
        ref[i] -= alpha * m[i] / (std::sqrt(v[i]) + eps);
      }
    }
    CHECK(opt.iterations() == steps);
    // Steps are ~1e-3: an f32 implementation is within a few ulp of p plus 1e-4 of a step.
    check_close(p, ref, 1e-6, 2e-7);
    // The moments too.
    for (size_t i = 0; i < m.size(); ++i) {
      CHECK(std::fabs(opt.m()[0].f32()[i] - m[i]) <= 1e-5 * std::fabs(m[i]) + 1e-12);
      // 1 - 0.999f differs from 1 - 0.999 by 1.3e-5 relative: Keras stores beta_2 as float too.
      CHECK(std::fabs(opt.v()[0].f32()[i] - v[i]) <= 3e-5 * std::fabs(v[i]) + 1e-12);
    }
  }
}

TEST_CASE("optim: Adam with custom options", "[optim]") {
  Case c = make_case(qsr_test::base_seed() + 17, 25, 3);
  Var p = make_param(c.p0);
  AdamOptions o;
  o.lr = 0.05f;
  o.beta1 = 0.5f;
  o.beta2 = 0.75f;
  o.epsilon = 1e-3f;
  Adam opt({p}, o);
  std::vector<double> ref = c.p0, m(ref.size(), 0.0), v(ref.size(), 0.0);
  for (int t = 1; t <= 3; ++t) {
    set_grad(p, c.grads[t - 1]);
    opt.step();
    const double alpha = 0.05 * std::sqrt(1 - std::pow(0.75, t)) / (1 - std::pow(0.5, t));
    for (size_t i = 0; i < ref.size(); ++i) {
      const double g = c.grads[t - 1][i];
      m[i] = 0.5 * m[i] + 0.5 * g;
      v[i] = 0.75 * v[i] + 0.25 * g * g;
      ref[i] -= alpha * m[i] / (std::sqrt(v[i]) + double(1e-3f));
    }
  }
  check_close(p, ref, 1e-5, 1e-6);
}

TEST_CASE("optim: SGD, plain, with momentum and Nesterov", "[optim]") {
  for (int variant = 0; variant < 3; ++variant) {
    const float lr = 0.1f, mom = variant == 0 ? 0.f : 0.9f;
    const bool nesterov = variant == 2;
    INFO("momentum " << mom << " nesterov " << nesterov);
    Case c = make_case(qsr_test::base_seed() + 100 + variant, 30, 3);
    Var p = make_param(c.p0);
    Sgd opt({p}, lr, mom, nesterov);
    std::vector<double> ref = c.p0, vel(ref.size(), 0.0);
    for (int t = 0; t < 3; ++t) {
      set_grad(p, c.grads[t]);
      opt.step();
      for (size_t i = 0; i < ref.size(); ++i) {
        const double g = c.grads[t][i];
        vel[i] = double(mom) * vel[i] - double(lr) * g;
        ref[i] += nesterov ? double(mom) * vel[i] - double(lr) * g : vel[i];
      }
    }
    check_close(p, ref, 1e-5, 1e-5);
  }
}

TEST_CASE("optim: parameters without a gradient are skipped, zero_grad clears", "[optim]") {
  Var a = make_param({1.0, 2.0}), b = make_param({3.0, 4.0});
  SECTION("Adam") {
    Adam opt({a, b});
    set_grad(a, {0.5, -0.5});
    opt.step();
    CHECK(a.value().f32()[0] != 1.f);
    CHECK(b.value().f32()[0] == 3.f);
    CHECK(b.value().f32()[1] == 4.f);
    // b's moments did not move either: its first real step is a full-size step.
    set_grad(b, {1.0, 1.0});
    a.zero_grad();
    const float a0 = a.value().f32()[0];
    opt.step();
    CHECK(a.value().f32()[0] == a0);
    // t = 2 for the optimiser, moments fresh for b.
    const double alpha = 1e-3 * std::sqrt(1 - 0.999 * 0.999) / (1 - 0.9 * 0.9);
    const double m = 0.1, v = 0.001;
    CHECK(b.value().f32()[0] == Approx(3.0 - alpha * m / (std::sqrt(v) + 1e-7)).epsilon(1e-6));
    opt.zero_grad();
    CHECK_FALSE(a.grad().defined());
    CHECK_FALSE(b.grad().defined());
  }
  SECTION("SGD") {
    Sgd opt({a, b}, 0.1f, 0.9f);
    set_grad(b, {1.0, -1.0});
    opt.step();
    CHECK(a.value().f32()[0] == 1.f);
    CHECK(b.value().f32()[0] == Approx(2.9));
    CHECK(b.value().f32()[1] == Approx(4.1));
  }
}

TEST_CASE("optim: parameters must be leaves that require a gradient", "[optim]") {
  Var frozen(Tensor::full({2}, 1.f), false);
  CHECK_THROWS_AS(Adam({frozen}), Error);
  CHECK_THROWS_AS(Sgd({frozen}), Error);
  CHECK_THROWS_AS(Adam({Var()}), Error);
}
