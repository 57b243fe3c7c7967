// Winograd F(4x4, 3x3) drivers (engine/winograd.h) against the scalar specification
// (engine/kernels/f32/reference.h) on every runnable ISA, on shapes with partial tiles; their
// thread-count independence; conv2d/conv2d_relu through autograd with the Winograd path
// forced; and the algorithm selection (ConvAlgo, QSR_CONV).
//
// Tolerance. Winograd is not the direct sum reordered: the transforms scale terms up
// (B^T d B by up to 10 per dimension, A^T M A by up to 19) before they cancel, so its
// rounding error is a multiple of the direct path's, and it follows the magnitude of the
// whole 6x6 patch rather than of each term. The bound used, with S = sum |w||x| (the
// reference on absolute values, the scale of the terms of one output) and the largest S
// of the tensor as a floor for outputs whose own terms cancel to little:
//   |got - want| <= 1e-5 * (2 + sqrt(K/9)) * (S + 0.1 * max S) + 1e-6,  K the reduction length:
// the sqrt(K) part for the sums, the constant part for the transforms, whose error does
// not shrink relative to S when K is small. With u = 2^-24, 1e-5 is ~170 u. Measured on
// ESPCN's shapes the error is at most ~33 u*S (the direct path: ~5 u*S), a tenth of the
// bound; the worst case over the random shapes (small cin, where one output's own terms
// are small next to its tile's) reaches about a third. Each test prints its worst
// error / bound as a warning.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/cpu.h"
#include "engine/f32_drivers.h"
#include "engine/kernels/f32/f32_kernels.h"
#include "engine/kernels/f32/reference.h"
#include "engine/ops.h"
#include "engine/parallel.h"
#include "engine/winograd.h"
#include "tests/conv_test_util.h"
#include "tests/test_util.h"

using namespace qsr;
using qsr_test::abs_vec;
using qsr_test::random_vec;
using namespace qsr_test;

namespace {

// A 3x3 conv geometry (the only kernel size Winograd F(4x4, 3x3) takes).
ConvGeom geom(int n, int h, int w, int cin, int cout) { return qsr_test::geom(n, h, w, cin, cout, 3); }

// Shapes: ESPCN's 3x3 layers; channel counts past one transform pass; every H, W in 1..13 (partial tiles of 1, 2, 3 pixels, and
// whole ones) with channel counts 1, 3, 9, 17, 32, 64 and batches 1 and 3.
std::vector<ConvGeom> shapes(uint64_t seed) {
  std::vector<ConvGeom> v = {geom(1, 9, 11, 64, 64), geom(1, 9, 11, 64, 32), geom(1, 9, 11, 32, 9),
                             geom(2, 12, 8, 64, 64), geom(1, 1, 1, 1, 1),    geom(3, 13, 13, 9, 17),
                             geom(1, 4, 4, 17, 9),   geom(1, 5, 13, 3, 1),   geom(3, 2, 3, 1, 64),
                             // More channels than one transform pass (64) takes.
                             geom(1, 5, 6, 80, 9),   geom(1, 6, 5, 9, 130)};
  Rng rng(seed);
  const int chans[] = {1, 3, 9, 17, 32, 64};
  const int count = qsr_test::kSmall ? 8 : 30;
  for (int i = 0; i < count; ++i) {
    int cin = chans[rng.below(6)], cout = chans[rng.below(6)];
    if (cin * cout > 32 * 32 && rng.below(2)) cout = chans[rng.below(3)];  // keep the reference cheap
    v.push_back(geom(rng.below(2) ? 1 : 3, 1 + int(rng.below(13)), 1 + int(rng.below(13)), cin, cout));
  }
  return v;
}

// Worst error / tolerance over the tensor; counts (and reports) the elements out of bounds.
double check_close(const std::vector<float>& got, const std::vector<float>& want, const std::vector<float>& bound, double K,
                   const char* what) {
  REQUIRE(got.size() == want.size());
  const double smax = bound.empty() ? 0.0 : double(*std::max_element(bound.begin(), bound.end()));
  int bad = 0;
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double tol = 1e-5 * (2 + std::sqrt(K / 9)) * (double(bound[i]) + 0.1 * smax) + 1e-6;
    const double err = std::fabs(double(got[i]) - double(want[i]));
    if (!(err <= tol)) {  // NaN (an element never written) fails too
      if (++bad <= 3) FAIL_CHECK(what << ": element " << i << " got " << got[i] << " want " << want[i] << " tol " << tol);
    } else {
      worst = std::max(worst, err / tol);
    }
  }
  CHECK(bad == 0);
  return worst;
}

}  // namespace

TEST_CASE("winograd: forward matches the reference (bias, relu, partial tiles)", "[winograd][conv]") {
  const uint64_t seed = qsr_test::base_seed() + 100;
  INFO("seed " << seed << " (QSR_TEST_SEED + 100)");
  const auto sh = shapes(seed);
  double worst = 0;
  for (size_t si = 0; si < sh.size(); ++si) {
    const ConvGeom& g = sh[si];
    INFO("shape " << geom_str(g));
    ConvData d = conv_data(g, seed + si);
    const auto ax = abs_vec(d.x), aw = abs_vec(d.w), ab = abs_vec(d.b);
    std::vector<float> bound(out_size(g));
    ref::conv2d_forward(g, ax.data(), aw.data(), ab.data(), bound.data(), false);
    for (bool relu : {false, true}) {
      INFO((relu ? "relu" : "no relu"));
      const bool with_bias = !relu || si % 2 == 0;
      const float* bp = with_bias ? d.b.data() : nullptr;
      std::vector<float> want(out_size(g));
      ref::conv2d_forward(g, d.x.data(), d.w.data(), bp, want.data(), relu);
      for (Isa isa : isas_under_test()) {
        INFO("isa " << isa_name(isa));
        std::vector<float> got(out_size(g), kNaN);
        winograd_conv2d_forward(f32_kernels(isa), g, d.x.data(), d.w.data(), bp, got.data(), relu);
        worst = std::max(worst, check_close(got, want, bound, 9.0 * g.cin + 1, "winograd forward"));
        if (relu) CHECK(std::all_of(got.begin(), got.end(), [](float v) { return v >= 0.f; }));
      }
    }
  }
  WARN("winograd forward: worst error / tolerance " << worst);
}

TEST_CASE("winograd: backward data matches the reference", "[winograd][conv]") {
  const uint64_t seed = qsr_test::base_seed() + 200;
  INFO("seed " << seed << " (QSR_TEST_SEED + 200)");
  const auto sh = shapes(seed);
  double worst = 0;
  for (size_t si = 0; si < sh.size(); ++si) {
    const ConvGeom& g = sh[si];
    INFO("shape " << geom_str(g));
    ConvData d = conv_data(g, seed + si);
    const RefGrad r = ref_backward_data(g, d);
    const std::vector<float>&want = r.want, &bound = r.bound;
    for (Isa isa : isas_under_test()) {
      INFO("isa " << isa_name(isa));
      std::vector<float> got(in_size(g), kNaN);
      winograd_conv2d_backward_data(f32_kernels(isa), g, d.gy.data(), d.w.data(), got.data());
      worst = std::max(worst, check_close(got, want, bound, 9.0 * g.cout, "winograd backward data"));
    }
  }
  WARN("winograd backward data: worst error / tolerance " << worst);
}

TEST_CASE("winograd: backward weights (and bias) match the reference", "[winograd][conv]") {
  const uint64_t seed = qsr_test::base_seed() + 300;
  INFO("seed " << seed << " (QSR_TEST_SEED + 300)");
  auto sh = shapes(seed);
  // More tiles than one weight-gradient chunk (chunks are summed in order).
  if (!qsr_test::kSmall) sh.push_back(geom(3, 40, 37, 9, 17));
  double worst = 0;
  for (size_t si = 0; si < sh.size(); ++si) {
    const ConvGeom& g = sh[si];
    INFO("shape " << geom_str(g));
    ConvData d = conv_data(g, seed + si);
    const double K = double(g.n) * g.h * g.w;
    const auto [want, bound, wantb, boundb] = ref_backward_weights(g, d);
    for (Isa isa : isas_under_test()) {
      INFO("isa " << isa_name(isa));
      std::vector<float> got(w_size(g), kNaN), gotb(size_t(g.cout), kNaN);
      winograd_conv2d_backward_weights(f32_kernels(isa), g, d.x.data(), d.gy.data(), got.data(), gotb.data());
      worst = std::max(worst, check_close(got, want, bound, K, "winograd backward weights"));
      check_close(gotb, wantb, boundb, K, "winograd backward bias");
      // Overwrites (never accumulates), and the bias is optional.
      std::vector<float> got2(w_size(g), 123.f);
      winograd_conv2d_backward_weights(f32_kernels(isa), g, d.x.data(), d.gy.data(), got2.data(), nullptr);
      CHECK(qsr_test::bitwise_equal(got2.data(), got.data(), int64_t(got.size())));
    }
  }
  WARN("winograd backward weights: worst error / tolerance " << worst);
}

TEST_CASE("winograd: results are bitwise identical for 1 and 2 threads", "[winograd][threads]") {
  if (!openmp_enabled()) {
    WARN("skipped: this build has no OpenMP, so only 1 thread exists");
    return;
  }
  const uint64_t seed = qsr_test::base_seed() + 400;
  INFO("seed " << seed);
  std::vector<ConvGeom> sh = {geom(2, 13, 11, 64, 64), geom(1, 9, 11, 32, 9), geom(3, 7, 5, 17, 3)};
  if (!qsr_test::kSmall) sh.push_back(geom(3, 40, 37, 9, 17));  // several weight-gradient chunks
  for (size_t si = 0; si < sh.size(); ++si) {
    const ConvGeom& g = sh[si];
    INFO("shape " << geom_str(g));
    ConvData d = conv_data(g, seed + si);
    for (Isa isa : isas_under_test()) {
      INFO("isa " << isa_name(isa));
      const auto& K = f32_kernels(isa);
      std::vector<float> y[2], gx[2], gw[2], gb[2];
      for (int t = 0; t < 2; ++t) {
        qsr_test::ThreadCount tc(t + 1);
        REQUIRE(num_threads() == t + 1);
        y[t].assign(out_size(g), kNaN);
        gx[t].assign(in_size(g), kNaN);
        gw[t].assign(w_size(g), kNaN);
        gb[t].assign(size_t(g.cout), kNaN);
        winograd_conv2d_forward(K, g, d.x.data(), d.w.data(), d.b.data(), y[t].data(), true);
        winograd_conv2d_backward_data(K, g, d.gy.data(), d.w.data(), gx[t].data());
        winograd_conv2d_backward_weights(K, g, d.x.data(), d.gy.data(), gw[t].data(), gb[t].data());
      }
      CHECK(qsr_test::bitwise_equal(y[0].data(), y[1].data(), int64_t(y[0].size())));
      CHECK(qsr_test::bitwise_equal(gx[0].data(), gx[1].data(), int64_t(gx[0].size())));
      CHECK(qsr_test::bitwise_equal(gw[0].data(), gw[1].data(), int64_t(gw[0].size())));
      CHECK(qsr_test::bitwise_equal(gb[0].data(), gb[1].data(), int64_t(gb[0].size())));
    }
  }
}

TEST_CASE("winograd: rejects kernels other than 3x3", "[winograd]") {
  ConvGeom g = geom(1, 4, 4, 2, 2);
  g.k = 5;
  std::vector<float> x(in_size(g)), w(25 * 4), y(out_size(g));
  CHECK(qsr_test::contains(qsr_test::error_of([&] {
    winograd_conv2d_forward(f32_kernels(Isa::scalar), g, x.data(), w.data(), nullptr, y.data());
  }), "3x3"));
}

namespace {
// Central differences of L = sum(conv(x, w, b) * R) at a few elements of each input,
// against the gradients that autograd's backward (through the selected algorithm) gives.
void conv_grad_check(bool fuse_relu, const ConvGeom& g, uint64_t seed, ConvAlgo algo) {
  Rng rng(seed);
  std::vector<Tensor> xs{qsr_test::random_tensor({g.n, g.h, g.w, g.cin}, rng),
                         qsr_test::random_tensor({3, 3, g.cin, g.cout}, rng, -0.5f, 0.5f),
                         qsr_test::random_tensor({g.cout}, rng, -0.2f, 0.2f)};
  auto op = [fuse_relu, algo](const Var& x, const Var& w, const Var& b) {
    return fuse_relu ? conv2d_relu(x, w, b, algo) : conv2d(x, w, b, algo);
  };
  std::vector<Var> vs;
  for (const Tensor& t : xs) vs.emplace_back(t.clone(), true);
  Var y = op(vs[0], vs[1], vs[2]);
  Tensor r = qsr_test::random_tensor(y.shape(), rng);
  y.backward(r);
  auto objective = [&](const std::vector<Tensor>& in) {
    NoGradGuard ng;
    Tensor out = op(Var(in[0]), Var(in[1]), Var(in[2])).value();
    double s = 0;
    for (int64_t i = 0; i < out.numel(); ++i) s += double(out.f32()[i]) * double(r.f32()[i]);
    return s;
  };
  // relu's kinks: skip elements whose perturbation flips the sign of some pre-activation.
  auto pre = [&](const std::vector<Tensor>& in) {
    NoGradGuard ng;
    return conv2d(Var(in[0]), Var(in[1]), Var(in[2]), algo).value();
  };
  const Tensor p0 = fuse_relu ? pre(xs) : Tensor();
  int checked = 0;
  const double h = fuse_relu ? 1e-2 : 5e-2;
  for (size_t j = 0; j < xs.size(); ++j) {
    INFO("input " << j);
    REQUIRE(vs[j].grad().defined());
    for (int k = 0; k < 12; ++k) {
      const int64_t e = int64_t(rng.below(uint64_t(xs[j].numel())));
      std::vector<Tensor> xp, xm;
      for (const Tensor& t : xs) {
        xp.push_back(t.clone());
        xm.push_back(t.clone());
      }
      xp[j].f32()[e] += float(h);
      xm[j].f32()[e] -= float(h);
      if (fuse_relu) {
        const Tensor pp = pre(xp), pm = pre(xm);
        bool flip = false;
        for (int64_t i = 0; i < p0.numel() && !flip; ++i)
          flip = (p0.f32()[i] > 0) != (pp.f32()[i] > 0) || (p0.f32()[i] > 0) != (pm.f32()[i] > 0);
        if (flip) continue;
      }
      const double step = double(xp[j].f32()[e]) - double(xm[j].f32()[e]);
      const double numeric = (objective(xp) - objective(xm)) / step;
      const double analytic = vs[j].grad().f32()[e];
      INFO("element " << e << ": analytic " << analytic << ", numeric " << numeric);
      CHECK(std::fabs(analytic - numeric) <= 2e-3 + 2e-2 * std::max(std::fabs(analytic), std::fabs(numeric)));
      ++checked;
    }
  }
  CHECK(checked >= 12);
}
}  // namespace

TEST_CASE("winograd: conv2d and conv2d_relu gradients through autograd (ConvAlgo::winograd)", "[winograd][grad]") {
  uint64_t seed = qsr_test::base_seed() + 500;
  for (const ConvGeom& g : {geom(1, 5, 6, 3, 9), geom(2, 4, 4, 17, 3), geom(1, 7, 9, 2, 2)}) {
    INFO("shape " << geom_str(g));
    conv_grad_check(false, g, ++seed, ConvAlgo::winograd);
    conv_grad_check(true, g, ++seed, ConvAlgo::winograd);
  }
}

TEST_CASE("winograd: conv2d picks the algorithm as documented", "[winograd][select]") {
  Rng rng(qsr_test::base_seed() + 600);
  const ConvGeom g = geom(1, 6, 7, 5, 9);
  Tensor x = qsr_test::random_tensor({g.n, g.h, g.w, g.cin}, rng);
  Tensor w = qsr_test::random_tensor({3, 3, g.cin, g.cout}, rng);
  Tensor b = qsr_test::random_tensor({g.cout}, rng);
  const auto& K = f32_kernels();
  Tensor direct(Shape{g.n, g.h, g.w, g.cout}), wino(Shape{g.n, g.h, g.w, g.cout});
  conv2d_forward(K, g, x.f32(), w.f32(), b.f32(), direct.f32(), true);
  winograd_conv2d_forward(K, g, x.f32(), w.f32(), b.f32(), wino.f32(), true);
  REQUIRE_FALSE(qsr_test::bitwise_equal(direct, wino));  // the two paths are told apart by their rounding
  auto run = [&](bool train, ConvAlgo algo) {
    Var xv(x.clone()), wv(w.clone(), train), bv(b.clone(), train);
    return conv2d_relu(xv, wv, bv, algo).value();
  };
  {
    const ConvAlgo a = ConvAlgo::automatic;
    CHECK(qsr_test::bitwise_equal(run(false, a), direct));  // inference: direct, as before
    CHECK(qsr_test::bitwise_equal(run(true, a), wino));     // recorded for a gradient: Winograd
    NoGradGuard ng;
    CHECK(qsr_test::bitwise_equal(run(true, a), direct));   // grad mode off: direct
  }
  CHECK(qsr_test::bitwise_equal(run(false, ConvAlgo::winograd), wino));
  CHECK(qsr_test::bitwise_equal(run(true, ConvAlgo::winograd), wino));
  CHECK(qsr_test::bitwise_equal(run(false, ConvAlgo::direct), direct));
  CHECK(qsr_test::bitwise_equal(run(true, ConvAlgo::direct), direct));
  CHECK(qsr_test::bitwise_equal(run(false, {}), direct));  // the default: automatic
  {  // Other kernel sizes are always direct.
    ConvGeom g5 = g;
    g5.k = 5;
    Tensor w5 = qsr_test::random_tensor({5, 5, g.cin, g.cout}, rng);
    Tensor d5(Shape{g.n, g.h, g.w, g.cout});
    conv2d_forward(K, g5, x.f32(), w5.f32(), nullptr, d5.f32());
    CHECK(qsr_test::bitwise_equal(conv2d(Var(x), Var(w5), Var(), ConvAlgo::winograd).value(), d5));
  }
}

TEST_CASE("winograd: QSR_CONV parsing and its error", "[winograd][select]") {
  CHECK(parse_conv_algo("direct") == ConvAlgo::direct);
  CHECK(parse_conv_algo("winograd") == ConvAlgo::winograd);
  CHECK(parse_conv_algo("auto") == ConvAlgo::automatic);
  CHECK(conv_algo_name(ConvAlgo::automatic) == "auto");
  CHECK(qsr_test::contains(qsr_test::error_of([] { parse_conv_algo("fft"); }), "expected direct, winograd or auto"));
  const char* old = std::getenv("QSR_CONV");
  const std::string saved = old ? old : "";
  ::setenv("QSR_CONV", "winograd", 1);
  CHECK(conv_algo_from_env() == ConvAlgo::winograd);
  ::setenv("QSR_CONV", "", 1);
  CHECK(conv_algo_from_env() == ConvAlgo::automatic);
  ::setenv("QSR_CONV", "Winograd!", 1);
  const std::string msg = qsr_test::error_of([] { conv_algo_from_env(); });
  CHECK(qsr_test::contains(msg, "QSR_CONV=Winograd!"));
  CHECK(qsr_test::contains(msg, "expected direct, winograd or auto"));
  CHECK(msg.find('\n') == std::string::npos);
  if (old)
    ::setenv("QSR_CONV", saved.c_str(), 1);
  else
    ::unsetenv("QSR_CONV");
}
