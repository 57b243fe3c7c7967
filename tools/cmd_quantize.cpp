// `qsr quantize`: post-training quantisation of a float model (any mode, word length and layer
// set), calibrated and GPTQ-rounded on images when the mode needs them.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "models/checkpoint.h"
#include "models/espcn.h"
#include "quant/ptq/gptq.h"
#include "quant/ptq/qmodel.h"
#include "tools/cli.h"

namespace qsr::cli {

namespace {

struct QuantizeArgs {
  std::string model, out, calib, layers = "all", observer = "minmax", rounding = "half_even";
  std::string weight_rounding = "gptq";
  quant::QuantRequest req;
  int calib_images = 8;
  bool per_tensor = false;
  float observer_option = NAN;
};

// Calibrates the activation grids and GPTQ-rounds the weights, as q needs, on the first
// calibration images of --calib or of the model's training data; the folder used.
std::string calibrate(const QuantizeArgs& a, quant::QuantModel& q, bool gptq, const Checkpoint& raw, int scale) {
  std::string calib = a.calib;
  if (calib.empty() && raw.meta.contains("data") && raw.meta["data"].contains("root"))
    calib = raw.meta["data"]["root"].get<std::string>();
  QSR_CHECK(!calib.empty(), "mode " + a.req.mode + (gptq ? " with --weight-rounding gptq" : "") +
                                " needs calibration images: pass --calib DIR" +
                                (gptq && !q.needs_calibration() ? " (or --weight-rounding nearest)" : ""));
  auto t = Clock::now();
  std::vector<Tensor> inputs = quant::calibration_inputs(calib, scale, a.calib_images);
  if (q.needs_calibration()) {
    q.calibrate(inputs, a.observer, a.observer_option);
    fmt::print(stderr, "calibrated on {} images of {} ({} observer) in {:.1f}s\n", inputs.size(), calib, a.observer,
               seconds_since(t));
  }
  if (gptq) {
    t = Clock::now();
    for (const auto& r : quant::gptq_round(q, inputs))
      fmt::print(stderr, "gptq conv{}: output MSE {:.3g} -> {:.3g} ({:.1f}% of codes moved)\n", r.layer + 1,
                 r.err_nearest, r.err_gptq, 100 * r.changed);
    fmt::print(stderr, "gptq rounding on {} images in {:.1f}s\n", inputs.size(), seconds_since(t));
  }
  return calib;
}

int run_quantize(QuantizeArgs a, const Env& env) {
  Checkpoint raw;
  std::unique_ptr<Espcn> fm = load_model(a.model, &raw);
  fm->set_conv_algo(env.conv);  // the quantised model's float path takes it
  a.req.layers = quant::parse_layers(a.layers, int(fm->convs.size()));
  a.req.per_channel = !a.per_tensor;
  a.req.rounding = quant::parse_rounding(a.rounding);
  QSR_CHECK(a.req.rounding != quant::Rounding::stochastic, "--rounding stochastic is for training only");
  a.req.observer = a.observer;
  a.req.observer_option = a.observer_option;
  quant::QuantModel q(*fm, a.req);
  bool integer_weights = false;
  for (const auto& w : q.weights) integer_weights |= w.kind == quant::WeightKind::integer;
  const bool gptq = a.weight_rounding == "gptq" && integer_weights;
  const std::string calib = q.needs_calibration() || gptq ? calibrate(a, q, gptq, raw, fm->config().scale) : a.calib;
  nlohmann::json meta = {{"source_model", a.model},   {"calibration", calib},
                         {"calibration_images", a.calib_images}, {"observer", a.observer},
                         {"weight_rounding", gptq ? "gptq" : "nearest"}};
  quant::save_quant_model(a.out, q, meta);
  fmt::print("{}\nwrote {}\n", q.describe(), a.out);
  return 0;
}

}  // namespace

Command add_quantize(CLI::App& app) {
  auto a = std::make_shared<QuantizeArgs>();
  auto* sub = app.add_subcommand("quantize", "post-training quantisation of a float model (any mode, word length and layer set)");
  sub->add_option("--model", a->model, "float model checkpoint")->required();
  sub->add_option("--mode", a->req.mode,
                  "float16 | bfloat16 | dynamic-range (int8 weights, float activations) | int8 (full integer) | "
                  "int16x8 (int16 activations, int8 weights) | wNaM (N-bit weights, M-bit activations) | wN "
                  "(weights only) | aM (activations only) | qM.N (fixed point, M integer bits with sign, N fraction bits) | wW1.W2...aA0.A1... (mixed precision: conv i's weights at Wi bits, activation tensor j -- a0 the input, then each conv's output -- at Aj bits, e.g. w8.6.6.8a8.8.6.8.8)")
      ->required();
  sub->add_option("--layers", a->layers, "convs to quantise: all, or a list like conv1,conv3 or 2,4 (the others stay float)");
  sub->add_option("--calib", a->calib, "calibration images: a folder (a BSDS500 root uses images/train); default: the model's training data");
  sub->add_option("--calib-images", a->calib_images, "calibration images to use (the first N, sorted)")->check(CLI::PositiveNumber);
  sub->add_option("--observer", a->observer, "activation range observer: minmax, ema, percentile or mse");
  sub->add_option("--observer-option", a->observer_option, "percentile: the percentile (default 99.99); ema: the decay");
  sub->add_flag("--per-tensor", a->per_tensor, "one weight scale per tensor instead of per output channel");
  sub->add_option("--rounding", a->rounding, "half_even (default) or half_away")->check(CLI::IsMember({"half_even", "half_away"}));
  sub->add_option("--weight-rounding", a->weight_rounding,
                  "integer weights: gptq (default; output-aware: each rounding error compensated by the weights not "
                  "yet rounded, using the calibration images, plus bias correction) or nearest (each weight to its "
                  "nearest code, no images needed)")
      ->check(CLI::IsMember({"nearest", "gptq"}));
  sub->add_option("--out", a->out, "output checkpoint (.safetensors)")->required();
  return {sub, [a](const Env& env) { return run_quantize(*a, env); }};
}

}  // namespace qsr::cli
