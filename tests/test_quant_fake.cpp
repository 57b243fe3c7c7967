// Fake quantisation for quantisation-aware training (layers/fake_quant.h): the forward pass
// against the spec's fake_quantize, straight-through and LSQ gradients, stochastic rounding, every
// ISA's fast path and the layer. (The observers: test_observer.cpp.)
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
#include "fq_test_util.h"
#include "test_util.h"

using namespace qsr;
using namespace qsr::quant;
using Catch::Matchers::Contains;
using qsr_test::fmt_of;
using qsr_test::tensor_of;

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

// ------------------------------------------------------------------ the kernels alone

TEST_CASE("fq kernels: every ISA's forward and apply_mask on ranges off zero, every tail, channel offsets",
          "[quant][fake][kernels]") {
  // The kernels run on ranges [i0, i1) with i0 a multiple of 64 (the fake-quant blocks); a
  // vector's lanes take channels (i mod c), so starts off zero shift every lane's channel. Each
  // ISA's table against the scalar one, bit for bit: y, the mask words (bits past i1 zero, words
  // before i0 untouched) and dy/ds.
  Rng rng(qsr_test::base_seed() + 31);
  const FqKernels& twin = fq_kernels(Isa::scalar);
  int compared = 0;
  for (Isa isa : fq_isas()) {
    const FqKernels& k = fq_kernels(isa);
    for (int64_t c : {1, 3, 16, 17, 40})
      for (Rounding rd : {Rounding::half_even, Rounding::half_away}) {
        const QFormat f = fmt_of(c == 3 ? 4 : 8, true, Scheme::affine, c > 1, rd);
        std::vector<float> lo(static_cast<size_t>(c)), hi(static_cast<size_t>(c));
        for (int64_t j = 0; j < c; ++j) lo[size_t(j)] = -rng.uniform(0.1f, 2.f), hi[size_t(j)] = rng.uniform(0.1f, 2.f);
        QParams p = params_from_ranges(f, lo, hi);
        p.scale[0] = 0.25f;  // exact ties on channel 0
        const FqPrepared prep = fq_prepare(p.scale.data(), p.zero_point.data(), c, f.qmin(), f.qmax(), rd);
        const int64_t n = 64 * 5 + 40;
        const Tensor x = fq_edge_data({n}, p, f, rng);
        std::vector<float> g(static_cast<size_t>(n));
        for (auto& v : g) v = rng.uniform(-1.f, 1.f);
        for (int64_t i0 : {int64_t(0), int64_t(64), int64_t(192)})
          for (int64_t len = 1; i0 + len <= n; len += (len < 80 ? 1 : 37)) {
            const int64_t i1 = i0 + len;
            const size_t un = static_cast<size_t>(n);
            std::vector<float> ya(un, -7.f), yb(un, -7.f), da(un, -7.f), db(un, -7.f);
            std::vector<uint64_t> ma(un / 64 + 1, 0x5555), mb(un / 64 + 1, 0x5555);
            twin.forward(prep.p, x.f32(), i0, i1, ya.data(), ma.data(), da.data());
            k.forward(prep.p, x.f32(), i0, i1, yb.data(), mb.data(), db.data());
            INFO(isa_name(isa) << ": c " << c << ", " << rounding_name(rd) << ", [" << i0 << ", " << i1 << ")");
            REQUIRE(std::memcmp(ya.data(), yb.data(), ya.size() * 4) == 0);
            REQUIRE(std::memcmp(da.data(), db.data(), da.size() * 4) == 0);
            REQUIRE(ma == mb);
            for (int64_t w = 0; w < i0 / 64; ++w) REQUIRE(mb[size_t(w)] == 0x5555);  // words before i0 untouched
            for (int64_t i = i1; i < (i1 + 63) / 64 * 64; ++i) REQUIRE(((mb[size_t(i / 64)] >> (i % 64)) & 1) == 0);
            std::vector<float> ga(un, -7.f), gb(un, -7.f);
            twin.apply_mask(ma.data(), g.data(), i0, i1, ga.data());
            k.apply_mask(mb.data(), g.data(), i0, i1, gb.data());
            REQUIRE(std::memcmp(ga.data(), gb.data(), ga.size() * 4) == 0);
            for (int64_t i = i0; i < i1; ++i) {
              const bool in = (ma[size_t(i / 64)] >> (i % 64)) & 1;
              REQUIRE(bits_of(ga[size_t(i)]) == bits_of(in ? g[size_t(i)] : 0.f));
            }
            ++compared;
          }
      }
  }
  CHECK(compared > 1000);
}
