// The half-weight forward conv (conv2d_forward_f16w, kernel conv_fwd_row_f16w): with
// every runnable ISA table it must give BIT FOR BIT the direct f32 conv
// (conv2d_forward) run on the weights widened with f16_to_f32, and match the
// reference conv within float tolerance. Seed and shape are printed on failure;
// QSR_TEST_SEED=<n> reproduces a run.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "engine/cpu.h"
#include "engine/dtype.h"
#include "engine/f32_drivers.h"
#include "engine/kernels/f32/f32_kernels.h"
#include "engine/kernels/f32/reference.h"
#include "engine/parallel.h"
#include "tests/conv_test_util.h"
#include "tests/test_util.h"

using namespace qsr;
using namespace qsr_test;

namespace {

// Fixed edge cases plus random shapes: k 1/3/5, cin and cout 1..70 (9 and 64 among them),
// odd widths, images smaller than the kernel, rows long enough for several chunks.
std::vector<ConvGeom> f16w_shapes(uint64_t seed) {
  std::vector<ConvGeom> v = {
      // ESPCN x3 layers.
      geom(1, 9, 11, 1, 64, 5), geom(1, 9, 11, 64, 64, 3), geom(1, 9, 11, 64, 32, 3), geom(1, 9, 11, 32, 9, 3),
      // Smaller than the kernel, single pixels.
      geom(1, 1, 1, 1, 9, 3), geom(1, 2, 3, 1, 9, 5), geom(2, 1, 1, 64, 64, 5), geom(1, 4, 3, 7, 9, 5),
      // The dot-product channels (cout 1, 2, 9, 17, 18) and vector tails.
      geom(1, 5, 7, 1, 1, 1), geom(1, 3, 5, 70, 1, 3), geom(1, 6, 5, 3, 2, 5), geom(1, 5, 9, 17, 17, 3),
      geom(1, 3, 7, 33, 18, 3), geom(1, 7, 5, 70, 70, 5), geom(1, 5, 3, 5, 70, 1), geom(2, 3, 13, 9, 33, 3),
      // Long rows: several chunks, full edge tiles through patches; and patches too large to fit.
      geom(1, 3, 201, 16, 64, 3), geom(1, 2, 199, 64, 9, 3), geom(1, 2, 153, 3, 64, 5), geom(1, 2, 101, 70, 33, 5),
  };
  Rng rng(seed);
  const int dims[] = {1, 2, 3, 4, 5, 7, 9, 13, 31};
  const int ks[] = {1, 3, 5};
  const int random_count = kSmall ? 12 : 40;
  for (int i = 0; i < random_count; ++i) {
    auto chan = [&] {
      const int r = int(rng.below(8));
      return r == 0 ? 9 : r == 1 ? 64 : 1 + int(rng.below(70));
    };
    const int n = 1 + int(rng.below(2)), h = dims[rng.below(9)], w = dims[rng.below(9)] | 1;
    const int cin = chan(), cout = chan();
    v.push_back(geom(n, h, w, cin, cout, ks[rng.below(3)]));
  }
  return v;
}

// Random half codes of weights in about [-1, 1), with exact zeros of both signs,
// subnormals and large values mixed in (all finite).
std::vector<uint16_t> random_f16_weights(int64_t n, Rng& rng) {
  std::vector<uint16_t> v(static_cast<size_t>(n));
  for (auto& h : v) {
    const uint32_t r = static_cast<uint32_t>(rng.below(64));
    if (r == 0) h = 0x0000;
    else if (r == 1) h = 0x8000;
    else if (r == 2) h = static_cast<uint16_t>(rng.below(0x400) | (rng.below(2) << 15));  // subnormal
    else if (r == 3) h = static_cast<uint16_t>(0x7bff - rng.below(0x400));              // up to 65504
    else h = f32_to_f16(rng.uniform(-1.f, 1.f));
  }
  return v;
}

std::vector<float> widen(const std::vector<uint16_t>& h) {
  std::vector<float> f(h.size());
  for (size_t i = 0; i < h.size(); ++i) f[i] = f16_to_f32(h[i]);
  return f;
}

std::vector<uint16_t> pack_f16(const ConvGeom& g, const std::vector<uint16_t>& w) {
  std::vector<uint16_t> p(packed_conv_weights_size(g), 0xffff);
  pack_conv_weights_for_fwd_f16(g, w.data(), p.data());
  return p;
}

}  // namespace

TEST_CASE("f16w: pack_conv_weights_for_fwd_f16 is pack_conv_weights_for_fwd on halves", "[f16w][pack]") {
  const uint64_t seed = base_seed() + 40;
  INFO("seed " << seed << " (QSR_TEST_SEED + 40)");
  const auto shapes = f16w_shapes(seed);
  Rng rng(seed);
  for (const ConvGeom& g : shapes) {
    INFO("shape " << geom_str(g));
    const auto wh = random_f16_weights(int64_t(w_size(g)), rng);
    const auto packed = pack_f16(g, wh);
    std::vector<float> want(packed_conv_weights_size(g), kNaN);
    pack_conv_weights_for_fwd(g, widen(wh).data(), want.data());
    const auto got = widen(packed);
    CHECK(bitwise_equal(got.data(), want.data(), int64_t(got.size())));
  }
}

TEST_CASE("f16w: conv2d_forward_f16w equals conv2d_forward on the widened weights bit for bit", "[f16w][conv]") {
  const uint64_t seed = base_seed() + 41;
  INFO("seed " << seed << " (QSR_TEST_SEED + 41), isas " << isa_list());
  const auto shapes = f16w_shapes(seed);
  for (size_t si = 0; si < shapes.size(); ++si) {
    const ConvGeom& g = shapes[si];
    INFO("shape " << geom_str(g));
    Rng rng(seed + si);
    const auto x = random_vec(int64_t(in_size(g)), rng);
    const auto b = random_vec(g.cout, rng);
    const auto wh = random_f16_weights(int64_t(w_size(g)), rng);
    const auto wf = widen(wh);
    const auto packed = pack_f16(g, wh);
    const auto packed0 = packed;
    for (bool with_bias : {true, false})
      for (bool relu : {false, true}) {
        INFO((with_bias ? "bias" : "no bias") << ", " << (relu ? "relu" : "no relu"));
        const float* bp = with_bias ? b.data() : nullptr;
        for (Isa isa : isas_under_test()) {
          INFO("isa " << isa_name(isa));
          const auto& K = f32_kernels(isa);
          std::vector<float> want(out_size(g), kNaN), got(out_size(g), kNaN);
          conv2d_forward(K, g, x.data(), wf.data(), bp, want.data(), relu);
          conv2d_forward_f16w(K, g, x.data(), packed.data(), bp, got.data(), relu);
          CHECK(bitwise_equal(got.data(), want.data(), int64_t(got.size())));
          CHECK(packed == packed0);  // weights untouched
        }
      }
  }
}

TEST_CASE("f16w: conv2d_forward_f16w matches the reference conv", "[f16w][conv]") {
  const uint64_t seed = base_seed() + 42;
  INFO("seed " << seed << " (QSR_TEST_SEED + 42), isas " << isa_list());
  const auto shapes = f16w_shapes(seed);
  for (size_t si = 0; si < shapes.size(); ++si) {
    const ConvGeom& g = shapes[si];
    INFO("shape " << geom_str(g));
    Rng rng(seed + si);
    const auto x = random_vec(int64_t(in_size(g)), rng);
    const auto b = random_vec(g.cout, rng);
    const auto wh = random_f16_weights(int64_t(w_size(g)), rng);
    const auto wf = widen(wh);
    const auto packed = pack_f16(g, wh);
    for (bool relu : {false, true}) {
      INFO((relu ? "relu" : "no relu"));
      std::vector<float> want(out_size(g)), bound(out_size(g));
      ref::conv2d_forward(g, x.data(), wf.data(), b.data(), want.data(), relu);
      ref::conv2d_forward(g, abs_vec(x).data(), abs_vec(wf).data(), abs_vec(b).data(), bound.data(), false);
      for (Isa isa : isas_under_test()) {
        INFO("isa " << isa_name(isa));
        std::vector<float> got(out_size(g), kNaN);
        conv2d_forward_f16w(f32_kernels(isa), g, x.data(), packed.data(), b.data(), got.data(), relu);
        // |got - want| <= 4 * eps * sqrt(K) * bound + 1e-6 (as the f32 kernel tests).
        const double K = double(g.rows()) + 1;
        int bad = 0;
        for (size_t i = 0; i < got.size(); ++i) {
          const double tol = 4 * 1.2e-7 * std::sqrt(K) * double(bound[i]) + 1e-6;
          const double err = std::fabs(double(got[i]) - double(want[i]));
          if (!(err <= tol) && ++bad <= 3)
            FAIL_CHECK("element " << i << " got " << got[i] << " want " << want[i] << " tol " << tol);
        }
        CHECK(bad == 0);
        if (relu) CHECK(std::all_of(got.begin(), got.end(), [](float v) { return v >= 0.f; }));
      }
    }
  }
}

TEST_CASE("f16w: conv2d_forward_f16w gives the same bits for 1 and 2 threads", "[f16w][threads]") {
  if (!openmp_enabled()) {
    WARN("skipped: this build has no OpenMP, so only 1 thread exists");
    return;
  }
  const uint64_t seed = base_seed() + 43;
  INFO("seed " << seed << ", isas " << isa_list());
  const std::vector<ConvGeom> shapes = {geom(1, 9, 11, 1, 64, 5), geom(1, 9, 11, 64, 64, 3), geom(1, 9, 11, 32, 9, 3),
                                        geom(2, 13, 7, 17, 33, 3), geom(1, 3, 101, 70, 70, 5)};
  for (size_t si = 0; si < shapes.size(); ++si) {
    const ConvGeom& g = shapes[si];
    INFO("shape " << geom_str(g));
    Rng rng(seed + si);
    const auto x = random_vec(int64_t(in_size(g)), rng);
    const auto b = random_vec(g.cout, rng);
    const auto packed = pack_f16(g, random_f16_weights(int64_t(w_size(g)), rng));
    for (Isa isa : isas_under_test()) {
      INFO("isa " << isa_name(isa));
      std::vector<float> y[2];
      for (int t = 0; t < 2; ++t) {
        ThreadCount tc(t + 1);
        y[t].assign(out_size(g), kNaN);
        conv2d_forward_f16w(f32_kernels(isa), g, x.data(), packed.data(), b.data(), y[t].data(), true);
      }
      CHECK(bitwise_equal(y[0].data(), y[1].data(), int64_t(y[0].size())));
    }
  }
}

TEST_CASE("f16w: conv2d_forward_f16w rejects an even kernel size", "[f16w]") {
  const ConvGeom g = geom(1, 3, 3, 1, 1, 2);
  std::vector<uint16_t> w(packed_conv_weights_size(g), 0);
  std::vector<float> x(in_size(g), 1.f), y(out_size(g));
  CHECK(contains(error_of([&] { conv2d_forward_f16w(f32_kernels(Isa::scalar), g, x.data(), w.data(), nullptr, y.data()); }),
                 "kernel size must be odd"));
}
