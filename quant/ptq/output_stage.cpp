// The one derivation of a conv's output stage (output_stage.h).
#include "quant/ptq/output_stage.h"

#include <fmt/core.h>

#include <algorithm>
#include <cstdlib>
#include <limits>

namespace qsr::quant {

namespace {

constexpr int64_t kI32Max = std::numeric_limits<int32_t>::max();

// The weights' per-channel sums (codes HWIO, the output channel last).
void weight_sums(ConvOutputStage& s, const std::vector<int32_t>& w) {
  const size_t cout = size_t(s.cout);
  s.w_l1.assign(cout, 0);
  s.w_sum.assign(cout, 0);
  for (size_t j = 0; j < w.size(); ++j) {
    s.w_l1[j % cout] += std::abs(int64_t(w[j]));
    s.w_sum[j % cout] += w[j];
    s.w_max = std::max<int64_t>(s.w_max, std::abs(int64_t(w[j])));
  }
}

// Requantisation, bias codes and clamp of a static conv (QuantModel::forward_layer's arithmetic).
void static_stage(ConvOutputStage& s, const ActQuant& ai, const ActQuant& ao) {
  const float s_in = ai.params.scale[0], s_out = ao.params.scale[0];
  for (int c = 0; c < s.cout; ++c) {
    const double s_acc = double(s_in) * s.w_scale[size_t(c)];
    s.mult.push_back(quantize_multiplier(s_acc / double(s_out)));
    s.bias.push_back(quantize_bias(s.bias_real[size_t(c)], s_acc));
    s.bias_eff.push_back(int64_t(s.bias.back()) - int64_t(s.zin) * s.w_sum[size_t(c)]);
  }
  s.zo = ao.params.zero_point[0];
  s.lo = s.act == Activation::relu ? std::max(ao.fmt.qmin(), s.zo) : ao.fmt.qmin();
  s.hi = ao.fmt.qmax();
  s.rounding = ao.fmt.rounding;
}

// acc_bound, acc_bits, worst_bits and int32_folded (output_stage.h).
void bounds(ConvOutputStage& s) {
  bool fits = true;
  int64_t bias_max = 0;
  for (int c = 0; c < s.cout; ++c) {
    const size_t u = size_t(c);
    const int64_t b = s.dynamic ? 0 : std::abs(int64_t(s.bias[u]));
    const int64_t bound = b + s.in_span * s.w_l1[u];
    // The folded order's bias: bias_eff, or for a dynamic conv -zin * w_sum with any zin on the grid.
    const int64_t folded_bias = s.dynamic ? s.in_abs * std::abs(s.w_sum[u]) : std::abs(s.bias_eff[u]);
    s.acc_bound.push_back(bound);
    s.acc_bound_max = std::max(s.acc_bound_max, bound);
    bias_max = std::max(bias_max, b);
    fits = fits && s.in_abs * s.w_l1[u] <= kI32Max && bound <= kI32Max && folded_bias <= kI32Max;
  }
  s.acc_bits = bits_of_bound(s.acc_bound_max);
  s.worst_bits = accumulator_bits(s.k, s.cin, s.in_span, s.w_max, bias_max);
  s.int32_folded = fits;
}

}  // namespace

int bits_of_bound(int64_t bound) {
  int b = 1;
  while (b < 63 && (int64_t(1) << (b - 1)) - 1 < bound) ++b;
  return b;
}

ConvOutputStage conv_output_stage(const QuantModel& q, int i) {
  QSR_CHECK(i >= 0 && size_t(i) < q.kernels.size(), fmt::format("conv{}: no such conv", i + 1));
  QSR_CHECK(q.integer_layer(i) || q.dynamic_layer(i),
            fmt::format("conv{} runs neither the integer nor the dynamic-range path: no integer output stage", i + 1));
  const size_t u = size_t(i);
  const ActQuant& ai = q.acts[u];
  ConvOutputStage s;
  s.dynamic = q.dynamic_layer(i);
  QSR_CHECK(s.dynamic || (ai.params.size() && q.acts[u + 1].params.size()),
            fmt::format("conv{}: activations are not calibrated", i + 1));
  const Tensor& kern = q.kernels[u];
  s.k = int(kern.dim(0));
  s.cin = int(kern.dim(2));
  s.cout = int(kern.dim(3));
  s.act = conv_activation(q.cfg, u);
  s.in_qmin = ai.fmt.qmin();
  s.in_qmax = ai.fmt.qmax();
  s.in_abs = std::max(std::abs(int64_t(s.in_qmin)), std::abs(int64_t(s.in_qmax)));
  if (s.dynamic) {
    s.in_span = int64_t(s.in_qmax) - s.in_qmin;
  } else {
    s.zin = ai.params.zero_point[0];
    s.in_span = std::max<int64_t>(int64_t(s.in_qmax) - s.zin, int64_t(s.zin) - s.in_qmin);
  }
  weight_sums(s, codes_to_int32(q.weights[u].codes));
  const QParams& wp = q.weights[u].params;
  const float* b = q.biases[u].f32();
  for (int c = 0; c < s.cout; ++c) {
    s.w_scale.push_back(double(wp.scale[wp.size() == 1 ? 0 : size_t(c)]));
    s.bias_real.push_back(b[c]);
  }
  if (!s.dynamic) static_stage(s, ai, q.acts[u + 1]);
  bounds(s);
  return s;
}

}  // namespace qsr::quant
