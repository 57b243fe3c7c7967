// Kernel equivalence: every f32 driver, with every runnable ISA's kernel
// table, against the scalar specification (engine/kernels/f32/reference.h), on
// fixed edge-case shapes plus randomized ones (seed and shape are printed on
// failure; QSR_TEST_SEED=<n> reproduces a run). Float results must agree
// within c*eps*sqrt(K) of the absolute-value scale of their terms; data
// movement and relu bit for bit. Results must also be identical for 1 and 2
// threads.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "engine/cpu.h"
#include "engine/parallel.h"
#include "engine/f32_drivers.h"
#include "engine/kernels/f32/f32_kernels.h"
#include "engine/kernels/f32/reference.h"
#include "tests/conv_test_util.h"
#include "tests/test_util.h"

using namespace qsr;
using qsr_test::abs_vec;
using qsr_test::random_vec;
using namespace qsr_test;

namespace {

// The shapes every conv test covers.
std::vector<ConvGeom> conv_shapes(uint64_t seed) {
  std::vector<ConvGeom> v = {
      // ESPCN x3 layers at 11x9.
      geom(1, 9, 11, 1, 64, 5), geom(1, 9, 11, 64, 64, 3), geom(1, 9, 11, 64, 32, 3), geom(1, 9, 11, 32, 9, 3),
      // cin = 1, cout = 9 at several k; odd, tiny sizes.
      geom(1, 1, 1, 1, 9, 3), geom(2, 2, 3, 1, 9, 5), geom(1, 3, 2, 9, 1, 7), geom(1, 5, 7, 1, 1, 1),
      geom(3, 7, 5, 3, 9, 3), geom(1, 13, 13, 1, 9, 5),
      // Channel counts off the vector width; cout > 16 with a tail.
      geom(1, 5, 5, 3, 17, 3), geom(2, 3, 7, 17, 33, 3), geom(1, 7, 3, 33, 17, 1), geom(1, 2, 13, 17, 3, 5),
      geom(1, 6, 7, 8, 16, 3), geom(1, 7, 6, 16, 32, 3), geom(2, 5, 3, 33, 33, 7), geom(1, 1, 13, 3, 48, 3),
      geom(1, 13, 1, 5, 40, 5), geom(1, 7, 13, 2, 20, 7),
  };
  Rng rng(seed);
  const int dims[] = {1, 2, 3, 5, 7, 13};
  const int chans[] = {1, 2, 3, 7, 8, 9, 16, 17, 31, 33};
  const int ks[] = {1, 3, 5, 7};
  const int random_count = qsr_test::kSmall ? 12 : 40;
  for (int i = 0; i < random_count; ++i)
    v.push_back(geom(1 + int(rng.below(3)), dims[rng.below(6)], dims[rng.below(6)], chans[rng.below(10)],
                     chans[rng.below(10)], ks[rng.below(4)]));
  return v;
}

// |a - b| <= 4 * eps * sqrt(K) * bound + 1e-6, bound from the reference on absolute values.
void check_close(const std::vector<float>& got, const std::vector<float>& want, const std::vector<float>& bound,
                 double K, const char* what) {
  REQUIRE(got.size() == want.size());
  int bad = 0;
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double tol = 4 * 1.2e-7 * std::sqrt(K) * double(bound[i]) + 1e-6;
    const double err = std::fabs(double(got[i]) - double(want[i]));
    if (!(err <= tol)) {  // NaN (an element never written) fails too
      if (++bad <= 3) FAIL_CHECK(what << ": element " << i << " got " << got[i] << " want " << want[i] << " tol " << tol);
    } else {
      worst = std::max(worst, err / tol);
    }
  }
  INFO(what << ": worst error / tolerance " << worst);
  CHECK(bad == 0);
}

}  // namespace

TEST_CASE("kernels: conv2d_forward matches the reference (bias, relu)", "[kernels][conv]") {
  const uint64_t seed = qsr_test::base_seed();
  INFO("seed " << seed << " (QSR_TEST_SEED), isas " << isa_list());
  const auto shapes = conv_shapes(seed);
  for (size_t si = 0; si < shapes.size(); ++si) {
    const ConvGeom& g = shapes[si];
    INFO("shape " << geom_str(g));
    ConvData d = conv_data(g, seed + si);
    const auto ax = abs_vec(d.x), aw = abs_vec(d.w), ab = abs_vec(d.b);
    for (bool with_bias : {true, false})
      for (bool relu : {false, true}) {
        INFO((with_bias ? "bias" : "no bias") << ", " << (relu ? "relu" : "no relu"));
        const float* bp = with_bias ? d.b.data() : nullptr;
        std::vector<float> want(out_size(g)), bound(out_size(g));
        ref::conv2d_forward(g, d.x.data(), d.w.data(), bp, want.data(), relu);
        ref::conv2d_forward(g, ax.data(), aw.data(), with_bias ? ab.data() : nullptr, bound.data(), false);
        for (Isa isa : isas_under_test()) {
          INFO("isa " << isa_name(isa));
          const auto x0 = d.x, w0 = d.w, b0 = d.b;
          std::vector<float> got(out_size(g), kNaN);
          conv2d_forward(f32_kernels(isa), g, d.x.data(), d.w.data(), bp, got.data(), relu);
          check_close(got, want, bound, double(g.rows()) + 1, "conv2d_forward");
          if (relu) CHECK(std::all_of(got.begin(), got.end(), [](float v) { return v >= 0.f; }));
          CHECK((d.x == x0 && d.w == w0 && d.b == b0));  // inputs untouched
        }
      }
  }
}

TEST_CASE("kernels: conv2d_backward_data matches the reference", "[kernels][conv]") {
  const uint64_t seed = qsr_test::base_seed() + 1;
  INFO("seed " << seed << " (QSR_TEST_SEED + 1), isas " << isa_list());
  const auto shapes = conv_shapes(seed);
  for (size_t si = 0; si < shapes.size(); ++si) {
    const ConvGeom& g = shapes[si];
    INFO("shape " << geom_str(g));
    ConvData d = conv_data(g, seed + si);
    const RefGrad r = ref_backward_data(g, d);
    const std::vector<float>&want = r.want, &bound = r.bound;
    for (Isa isa : isas_under_test()) {
      INFO("isa " << isa_name(isa));
      std::vector<float> got(in_size(g), kNaN);
      conv2d_backward_data(f32_kernels(isa), g, d.gy.data(), d.w.data(), got.data());
      check_close(got, want, bound, double(g.k) * g.k * g.cout, "conv2d_backward_data");
    }
  }
}

TEST_CASE("kernels: conv2d_backward_weights (and bias) matches the reference", "[kernels][conv]") {
  const uint64_t seed = qsr_test::base_seed() + 2;
  INFO("seed " << seed << " (QSR_TEST_SEED + 2), isas " << isa_list());
  const auto shapes = conv_shapes(seed);
  for (size_t si = 0; si < shapes.size(); ++si) {
    const ConvGeom& g = shapes[si];
    INFO("shape " << geom_str(g));
    ConvData d = conv_data(g, seed + si);
    const double K = double(g.n) * g.h * g.w;
    const auto [want, bound, wantb, boundb] = ref_backward_weights(g, d);
    for (Isa isa : isas_under_test()) {
      INFO("isa " << isa_name(isa));
      // Outputs start dirty: the driver must overwrite, not accumulate.
      std::vector<float> got(w_size(g), kNaN), gotb(size_t(g.cout), kNaN);
      conv2d_backward_weights(f32_kernels(isa), g, d.x.data(), d.gy.data(), got.data(), gotb.data());
      check_close(got, want, bound, K, "conv2d_backward_weights: weights");
      check_close(gotb, wantb, boundb, K, "conv2d_backward_weights: bias");
      std::vector<float> got2(w_size(g), 123.f);
      conv2d_backward_weights(f32_kernels(isa), g, d.x.data(), d.gy.data(), got2.data(), nullptr);
      CHECK(qsr_test::bitwise_equal(got2.data(), got.data(), int64_t(got.size())));
    }
  }
}

TEST_CASE("kernels: depth_to_space and space_to_depth match the reference exactly", "[kernels][shuffle]") {
  const uint64_t seed = qsr_test::base_seed() + 3;
  INFO("seed " << seed << " (QSR_TEST_SEED + 3), isas " << isa_list());
  struct S {
    int n, h, w, c, r;
  };
  std::vector<S> shapes = {{1, 11, 9, 1, 3}, {1, 1, 1, 1, 1}, {2, 3, 5, 3, 2}, {1, 7, 13, 17, 3},
                           {3, 2, 1, 16, 4}, {1, 5, 7, 9, 2}, {1, 13, 3, 33, 1}, {2, 1, 13, 1, 3}};
  Rng rng(seed);
  const int dims[] = {1, 2, 3, 5, 7, 13};
  for (int i = 0; i < (qsr_test::kSmall ? 15 : 50); ++i)
    shapes.push_back({1 + int(rng.below(3)), dims[rng.below(6)], dims[rng.below(6)], 1 + int(rng.below(34)),
                      1 + int(rng.below(4))});
  for (const S& s : shapes) {
    INFO("n=" << s.n << " h=" << s.h << " w=" << s.w << " c=" << s.c << " r=" << s.r);
    const int64_t total = int64_t(s.n) * s.h * s.w * s.c * s.r * s.r;
    const auto in = random_vec(total, rng);
    std::vector<float> want_d2s(static_cast<size_t>(total)), want_s2d(static_cast<size_t>(total));
    ref::depth_to_space(s.n, s.h, s.w, s.c, s.r, in.data(), want_d2s.data());
    ref::space_to_depth(s.n, s.h, s.w, s.c, s.r, in.data(), want_s2d.data());
    for (Isa isa : isas_under_test()) {
      INFO("isa " << isa_name(isa));
      const auto& K = f32_kernels(isa);
      std::vector<float> d2s(size_t(total), kNaN), s2d(size_t(total), kNaN), back(size_t(total), kNaN);
      depth_to_space(K, s.n, s.h, s.w, s.c, s.r, in.data(), d2s.data());
      CHECK(qsr_test::bitwise_equal(d2s.data(), want_d2s.data(), total));
      space_to_depth(K, s.n, s.h, s.w, s.c, s.r, in.data(), s2d.data());
      CHECK(qsr_test::bitwise_equal(s2d.data(), want_s2d.data(), total));
      space_to_depth(K, s.n, s.h, s.w, s.c, s.r, d2s.data(), back.data());
      CHECK(qsr_test::bitwise_equal(back.data(), in.data(), total));
    }
  }
}

TEST_CASE("kernels: relu_forward and relu_backward match the reference exactly", "[kernels][relu]") {
  const uint64_t seed = qsr_test::base_seed() + 4;
  INFO("seed " << seed << " (QSR_TEST_SEED + 4), isas " << isa_list());
  Rng rng(seed);
  for (int64_t n : {0, 1, 2, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 1000, 4099, 70001}) {
    INFO("n " << n);
    auto x = random_vec(n, rng), gy = random_vec(n, rng);
    // Exact zeros and negative zeros (the reference maps -0 to +0).
    for (int64_t i = 0; i < n; i += 5) x[size_t(i)] = (i / 5) % 2 ? -0.f : 0.f;
    std::vector<float> want_y(static_cast<size_t>(n)), want_gx(static_cast<size_t>(n));
    ref::relu_fwd(n, x.data(), want_y.data());
    for (Isa isa : isas_under_test()) {
      INFO("isa " << isa_name(isa));
      const auto& K = f32_kernels(isa);
      std::vector<float> y(size_t(n) + 1, kNaN), gx(size_t(n) + 1, kNaN);
      relu_forward(K, n, x.data(), y.data());
      CHECK(qsr_test::bitwise_equal(y.data(), want_y.data(), n));
      CHECK(std::isnan(y[size_t(n)]));  // nothing written past the end
      // The backward takes the forward's output as the mask.
      ref::relu_bwd(n, want_y.data(), gy.data(), want_gx.data());
      relu_backward(K, n, want_y.data(), gy.data(), gx.data());
      CHECK(qsr_test::bitwise_equal(gx.data(), want_gx.data(), n));
      CHECK(std::isnan(gx[size_t(n)]));
      // In place (y == x), as an op on its own buffer may do.
      auto inplace = x;
      relu_forward(K, n, inplace.data(), inplace.data());
      CHECK(qsr_test::bitwise_equal(inplace.data(), want_y.data(), n));
    }
  }
}

TEST_CASE("kernels: relu maps NaN like the reference", "[kernels][relu]") {
  std::vector<float> x{kNaN, -kNaN, 1.f, -1.f, kNaN, 2.f, kNaN, -3.f, kNaN, kNaN, 0.5f, kNaN, kNaN, 1.f, 1.f, kNaN, kNaN};
  const int64_t n = int64_t(x.size());
  std::vector<float> want(x.size()), want_gx(x.size()), gy(x.size(), 1.f);
  ref::relu_fwd(n, x.data(), want.data());
  ref::relu_bwd(n, x.data(), gy.data(), want_gx.data());
  for (Isa isa : isas_under_test()) {
    INFO("isa " << isa_name(isa));
    std::vector<float> y(x.size()), gx(x.size());
    relu_forward(f32_kernels(isa), n, x.data(), y.data());
    CHECK(qsr_test::bitwise_equal(y.data(), want.data(), n));
    relu_backward(f32_kernels(isa), n, x.data(), gy.data(), gx.data());
    CHECK(qsr_test::bitwise_equal(gx.data(), want_gx.data(), n));
  }
}

TEST_CASE("kernels: drivers give bitwise-identical results for 1 and 2 threads", "[kernels][threads]") {
  if (!openmp_enabled()) {
    WARN("skipped: this build has no OpenMP, so only 1 thread exists");
    return;
  }
  const uint64_t seed = qsr_test::base_seed() + 5;
  INFO("seed " << seed << ", isas " << isa_list());
  const int prev = num_threads();
  std::vector<ConvGeom> shapes = {geom(1, 9, 11, 1, 64, 5), geom(1, 9, 11, 64, 64, 3), geom(1, 9, 11, 32, 9, 3),
                                  geom(2, 13, 7, 17, 33, 3), geom(3, 5, 3, 3, 9, 7), geom(1, 1, 2, 8, 17, 1),
                                  geom(1, 31, 29, 16, 16, 3)};
  for (size_t si = 0; si < shapes.size(); ++si) {
    const ConvGeom& g = shapes[si];
    INFO("shape " << geom_str(g));
    ConvData d = conv_data(g, seed + si);
    for (Isa isa : isas_under_test()) {
      INFO("isa " << isa_name(isa));
      const auto& K = f32_kernels(isa);
      std::vector<float> y[2], gx[2], gw[2], gb[2], d2s[2];
      const int threads[2] = {1, 2};
      for (int t = 0; t < 2; ++t) {
        qsr_test::ThreadCount tc(threads[t]);
        REQUIRE(num_threads() == threads[t]);
        y[t].assign(out_size(g), kNaN);
        gx[t].assign(in_size(g), kNaN);
        gw[t].assign(w_size(g), kNaN);
        gb[t].assign(size_t(g.cout), kNaN);
        conv2d_forward(K, g, d.x.data(), d.w.data(), d.b.data(), y[t].data(), true);
        conv2d_backward_data(K, g, d.gy.data(), d.w.data(), gx[t].data());
        conv2d_backward_weights(K, g, d.x.data(), d.gy.data(), gw[t].data(), gb[t].data());
        if (g.cout % 9 == 0) {
          d2s[t].assign(out_size(g), kNaN);
          depth_to_space(K, g.n, g.h, g.w, g.cout / 9, 3, y[t].data(), d2s[t].data());
        }
      }
      CHECK(qsr_test::bitwise_equal(y[0].data(), y[1].data(), int64_t(y[0].size())));
      CHECK(qsr_test::bitwise_equal(gx[0].data(), gx[1].data(), int64_t(gx[0].size())));
      CHECK(qsr_test::bitwise_equal(gw[0].data(), gw[1].data(), int64_t(gw[0].size())));
      CHECK(qsr_test::bitwise_equal(gb[0].data(), gb[1].data(), int64_t(gb[0].size())));
      CHECK(d2s[0] == d2s[1]);
    }
  }
  CHECK(num_threads() == prev);
}
