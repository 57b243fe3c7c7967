// Helpers shared by the convolution tests (kernels, Winograd): shapes, random
// data, the ISAs under test.
#pragma once
#include <cstdint>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "engine/cpu.h"
#include "engine/kernels/f32/f32_kernels.h"
#include "engine/kernels/f32/reference.h"
#include "tests/test_util.h"

namespace qsr_test {

inline const float kNaN = std::numeric_limits<float>::quiet_NaN();

inline qsr::ConvGeom geom(int n, int h, int w, int cin, int cout, int k) {
  qsr::ConvGeom g;
  g.n = n, g.h = h, g.w = w, g.cin = cin, g.cout = cout, g.k = k;
  return g;
}

inline std::string geom_str(const qsr::ConvGeom& g) {
  std::ostringstream s;
  s << "n=" << g.n << " h=" << g.h << " w=" << g.w << " cin=" << g.cin << " cout=" << g.cout << " k=" << g.k;
  return s.str();
}

// The ISAs to test; ISAs this build or CPU cannot run are reported, not replaced.
inline std::vector<qsr::Isa> isas_under_test() {
  static const std::vector<qsr::Isa> v = [] {
    std::vector<qsr::Isa> r;
    for (qsr::Isa i : {qsr::Isa::scalar, qsr::Isa::avx2, qsr::Isa::avx512}) {
      if (qsr::isa_supported(i))
        r.push_back(i);
      else
        WARN("skipping ISA " << qsr::isa_name(i) << ": "
                             << (qsr::isa_compiled(i) ? "this CPU cannot run it" : "not compiled in this build"));
    }
    std::string names;
    for (qsr::Isa i : r) names += " " + qsr::isa_name(i);
    WARN("testing ISAs:" << names);
    return r;
  }();
  return v;
}

inline std::string isa_list() {
  std::string s;
  for (qsr::Isa i : isas_under_test()) s += qsr::isa_name(i) + " ";
  return s;
}

struct ConvData {
  qsr::ConvGeom g;
  std::vector<float> x, w, b, gy;
};

// Uniform [-1, 1) input, weights, bias and output gradient for g.
inline ConvData conv_data(const qsr::ConvGeom& g, uint64_t seed) {
  qsr::Rng rng(seed);
  ConvData d{g, {}, {}, {}, {}};
  d.x = random_vec(int64_t(g.n) * g.h * g.w * g.cin, rng);
  d.w = random_vec(int64_t(g.k) * g.k * g.cin * g.cout, rng);
  d.b = random_vec(g.cout, rng);
  d.gy = random_vec(int64_t(g.n) * g.h * g.w * g.cout, rng);
  return d;
}

inline size_t out_size(const qsr::ConvGeom& g) { return size_t(g.n) * g.h * g.w * g.cout; }
inline size_t in_size(const qsr::ConvGeom& g) { return size_t(g.n) * g.h * g.w * g.cin; }
inline size_t w_size(const qsr::ConvGeom& g) { return size_t(g.k) * g.k * g.cin * g.cout; }

// The reference's gradients of d and their error bounds (the same sums over absolute values).
struct RefGrad {
  std::vector<float> want, bound, wantb, boundb;  // wantb, boundb: the bias (weights only)
};
inline RefGrad ref_backward_data(const qsr::ConvGeom& g, const ConvData& d) {
  RefGrad r{std::vector<float>(in_size(g)), std::vector<float>(in_size(g)), {}, {}};
  qsr::ref::conv2d_backward_data(g, d.gy.data(), d.w.data(), r.want.data());
  qsr::ref::conv2d_backward_data(g, abs_vec(d.gy).data(), abs_vec(d.w).data(), r.bound.data());
  return r;
}
inline RefGrad ref_backward_weights(const qsr::ConvGeom& g, const ConvData& d) {
  RefGrad r{std::vector<float>(w_size(g)), std::vector<float>(w_size(g)), std::vector<float>(size_t(g.cout)),
            std::vector<float>(size_t(g.cout))};
  qsr::ref::conv2d_backward_weights(g, d.x.data(), d.gy.data(), r.want.data(), r.wantb.data());
  qsr::ref::conv2d_backward_weights(g, abs_vec(d.x).data(), abs_vec(d.gy).data(), r.bound.data(), r.boundb.data());
  return r;
}

}  // namespace qsr_test
