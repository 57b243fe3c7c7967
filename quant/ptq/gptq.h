// Output-aware rounding of integer weights for post-training quantisation.
//
// Rounding each weight to its nearest code minimises the error of the weights, not of the
// layer's output. GPTQ (Frantar et al. 2023, "GPTQ: Accurate Post-Training Quantization for
// Generative Pre-trained Transformers", after Optimal Brain Quantization) rounds the weights
// of a conv one input position at a time and moves each rounding error onto the weights not
// yet rounded, weighted by the inverse Hessian H = X^T X of the layer's inputs X on
// calibration images (im2col rows), so the output error ||X W - X W_q||^2 stays small.
//
// Here, for every conv with integer weights, in order (conv1 first):
//   * X: the layer's inputs as the quantised model computes them (the previous convs already
//     re-rounded; a statically quantised input is taken on its integer grid, as the integer
//     path sees it);
//   * scale search (symmetric weights): per channel (or tensor), the scale alpha * s_minmax,
//     alpha in {1, 0.98, ..., 0.5}, whose nearest rounding gives the smallest output error
//     d^T H d; clipping a few large weights buys a finer grid for the rest (worth 0.1 dB at
//     4 bits, nothing at 8); zero points and formats stay those of the plan, so the file
//     format, the integer path and every bit width work unchanged;
//   * "act order": input positions with larger H_jj are rounded first;
//   * damping: H + damp * mean(diag H) * I;
//   * bias correction (optional): the conv's float bias absorbs the mean output shift against
//     the float model on the calibration images, per channel (mean of X_float W - X W_q).
// Deterministic: the same inputs give the same codes for every thread count (the Hessian is
// accumulated in a fixed order in double precision).
#pragma once
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "quant/ptq/qmodel.h"

namespace qsr::quant {

struct GptqOptions {
  double damp = 0.01;          // fraction of mean(diag H) added to the diagonal
  bool act_order = true;       // round the input positions with the largest H_jj first
  bool bias_correction = true;
  // Symmetric weights: per scale group, the clipped scale (1 down to 0.5 times min-max's) whose
  // nearest rounding gives the smallest output error, before GPTQ.
  bool scale_search = true;
  int64_t max_rows = 1 << 16;  // im2col rows used per layer (evenly strided over the images)
};

struct GptqLayerReport {
  int layer = 0;               // 0-based conv index
  double err_nearest = 0;      // mean squared output error on the calibration rows, nearest rounding
  double err_gptq = 0;         // the same after GPTQ
  double changed = 0;          // fraction of codes that differ from nearest rounding
};

// Re-rounds the integer weights of every conv of `q` that has them. `inputs`: calibration
// images as calibration_inputs() gives them. `q` must be calibrated (needs_calibration() false).
std::vector<GptqLayerReport> gptq_round(QuantModel& q, const std::vector<Tensor>& inputs, const GptqOptions& opt = {});

}  // namespace qsr::quant
