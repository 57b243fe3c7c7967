// The output stage of one quantised conv, derived in one place: what turns its accumulators
// into output codes (the spec's requantisation, quant/spec.h) and what bounds them.
//
// Every user takes it from conv_output_stage(): the reference execution
// (QuantModel::forward_layer, and QuantModel::accumulator_bits_of for describe and the
// checkpoint's JSON), the integer engine's lowering and its describe (`qsr info`), the
// inference library's model writer (IntEngine::infer_model) and the C exporter
// (quant/export/export_c.h). It lives in qsr_ptq, next to QuantModel, because it is derived
// from a QuantModel conv (its weight codes and scales, its float biases, the grids of its input
// and output activations, its fused activation): qsr_quant (quant/spec.h) sits below the models
// and knows none of that, and the reference itself is in qsr_ptq, so no lower library could
// hold it; the lowering (qsr_lower) and the exporters (qsr_export) sit above it.
//
// Two accumulator bounds, two different facts, both computed here:
//   worst_bits  the format's worst case, k*k*cin products of max |x - z_in| by the layer's
//               largest |w|, plus the largest |bias| (quant::accumulator_bits). Any weights
//               with the same largest code stay within it. Reported by QuantModel::describe
//               ("accumulator at most N bits") and stored in checkpoints ("accumulator_bits").
//   acc_bound   per output channel, from the actual codes: |bias| + max |x - z_in| * sum |w|.
//               Every partial sum of bias + sum (x - z_in) w (the reference's and the C
//               export's order) lies within it. acc_bits, its width, is what the C export
//               declares and checks against int32, what the engine reports (`qsr info`:
//               "N-bit bound") and what steers its requantisation arithmetic.
// The engine accumulates in another order: the zero-point correction folded into the bias
// (bias_eff = bias - z_in * sum w) and the raw input codes summed, so its partial sums are
// bounded by max |x| * sum |w| and its bias must fit int32 as well; int32_folded says whether
// all three (acc_bound, that raw sum and bias_eff) fit int32, and decides int32 against int64
// accumulators in the engine and the inference library.
#pragma once
#include <cstdint>
#include <vector>

#include "quant/ptq/qmodel.h"

namespace qsr::quant {

struct ConvOutputStage {
  int k = 1, cin = 1, cout = 1;
  bool dynamic = false;  // dynamic-range: the input's grid is chosen per call, float output stage
  Activation act = Activation::none;

  // The input codes: a_{i-1}'s grid.
  int32_t in_qmin = 0, in_qmax = 0;
  int32_t zin = 0;       // its zero point (static; 0 when dynamic)
  int64_t in_span = 0;   // max |x - zin| over the codes (dynamic: qmax - qmin, for any zero point)
  int64_t in_abs = 0;    // max |x| over the codes

  // The weights, per output channel in the model's order.
  int64_t w_max = 0;             // max |w| over the conv
  std::vector<int64_t> w_l1;     // sum |w|
  std::vector<int64_t> w_sum;    // sum w (the zero-point correction)
  std::vector<double> w_scale;   // s_w[c] (per-tensor weights: the one scale, repeated)
  std::vector<float> bias_real;  // the float bias

  // Static convs: q = clamp(round(acc * m0 / 2^shift) + zo, lo, hi) with acc = bias[c] +
  // sum (x - zin) w, rounded by `rounding` (the output format's rule).
  std::vector<Multiplier> mult;   // quantize_multiplier(s_in * s_w[c] / s_out)
  std::vector<int32_t> bias;      // quantize_bias(bias_real[c], s_in * s_w[c])
  std::vector<int64_t> bias_eff;  // bias - zin * w_sum: the bias with the zero point folded in
  int32_t zo = 0, lo = 0, hi = 0; // a_i's zero point; the clamp ([max(qmin, zo), qmax] under ReLU)
  Rounding rounding = Rounding::half_even;
  // Dynamic convs: out = acc * s_in * w_scale[c] + bias_real[c], then the activation.

  // The accumulator bounds (above).
  std::vector<int64_t> acc_bound;  // per channel
  int64_t acc_bound_max = 0;
  int acc_bits = 0;                // bits_of_bound(acc_bound_max)
  int worst_bits = 0;
  bool int32_folded = false;

  bool half_away() const { return rounding == Rounding::half_away; }
};

// The output stage of conv i (0-based), which must run the integer or the dynamic-range path
// (QuantModel::integer_layer / dynamic_layer) with calibrated activations; else qsr::Error.
ConvOutputStage conv_output_stage(const QuantModel& q, int i);

// The width (sign included) of the smallest signed integer holding every |v| <= bound
// (at most 63).
int bits_of_bound(int64_t bound);

}  // namespace qsr::quant
