// `qsr verify`: check that a quantised model's integer engine gives exactly the reference
// execution's numbers, on random inputs and on images; exit status 1 on any mismatch.
#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "engine/random.h"
#include "models/synthetic.h"
#include "quant/lower/int_engine.h"
#include "quant/ptq/qmodel.h"
#include "tools/cli.h"

namespace qsr::cli {

namespace {

using json = nlohmann::json;

struct VerifyArgs {
  std::string model;
  std::string data;      // optional folder of images
  int images = 8;        // at most this many images of data
  int random = 6;        // random inputs
  uint64_t seed = 1337;
  bool json = false;
};

struct Input {
  std::string name;
  Tensor x;
};

std::vector<Input> inputs_of(const VerifyArgs& a, const quant::QuantModel& q) {
  std::vector<Input> inputs;
  Rng r(a.seed);
  const int sizes[][2] = {{1, 1}, {3, 5}, {37, 23}, {64, 48}, {130, 17}, {100, 100}};
  for (int i = 0; i < a.random; ++i) {
    const int w = sizes[i % 6][0], h = sizes[i % 6][1];
    inputs.push_back({fmt::format("random {}x{}", w, h), random_test_image(r.next_u64(), h, w, q.cfg.channels)});
  }
  if (!a.data.empty()) {
    const std::vector<Tensor> xs = quant::calibration_inputs(a.data, q.cfg.scale, a.images);
    for (size_t i = 0; i < xs.size(); ++i)
      inputs.push_back({fmt::format("{} image {} ({}x{})", a.data, i + 1, xs[i].dim(2), xs[i].dim(1)), xs[i]});
  }
  return inputs;
}

// The differences of one input's outputs, and their running totals.
struct Diff {
  int64_t values = 0, mismatches = 0, max_code = 0;
  double max_abs = 0;
  void add(const Diff& d) {
    values += d.values;
    mismatches += d.mismatches;
    max_code = std::max(max_code, d.max_code);
    max_abs = std::max(max_abs, d.max_abs);
  }
};

// Compares bit for bit; the code difference is measured on the output grid when it has one.
Diff compare(const Tensor& ref, const Tensor& got, const quant::ActQuant& out) {
  QSR_CHECK(ref.shape() == got.shape(), "verify: output shapes differ");
  const bool codes = out.on && !out.dynamic;
  Diff d;
  d.values = ref.numel();
  for (int64_t i = 0; i < ref.numel(); ++i) {
    const float u = ref.f32()[i], v = got.f32()[i];
    if (std::memcmp(&u, &v, 4) == 0) continue;
    ++d.mismatches;
    d.max_abs = std::max(d.max_abs, double(std::fabs(u - v)));
    if (codes)
      d.max_code = std::max<int64_t>(d.max_code, std::llabs(int64_t(quantize_value(u, out.params.scale[0], out.params.zero_point[0], out.fmt)) -
                                                            quantize_value(v, out.params.scale[0], out.params.zero_point[0], out.fmt)));
  }
  return d;
}

void print_summary(const VerifyArgs& a, const quant::QuantModel& q, const quant::IntEngine& e, size_t inputs, const Diff& t,
                   const json& rows) {
  if (a.json) {
    fmt::print("{}\n", json{{"model", a.model},
                            {"mode", q.mode},
                            {"kernels", e.kernels().name},
                            {"inputs", rows},
                            {"values", t.values},
                            {"mismatches", t.mismatches},
                            {"max_code_diff", t.max_code},
                            {"max_abs_diff", t.max_abs},
                            {"exact", t.mismatches == 0}}
                           .dump());
    return;
  }
  fmt::print("{}", e.describe());
  if (t.mismatches == 0)
    fmt::print("verify: {} input{}, {} values: the native engine ({} integer kernels) equals the reference execution bit for bit\n",
               inputs, inputs == 1 ? "" : "s", t.values, e.kernels().name);
  else
    fmt::print("verify: {} input{}, {} values: {} MISMATCHES (max code difference {}, max |difference| {:.3g})\n", inputs,
               inputs == 1 ? "" : "s", t.values, t.mismatches, t.max_code, t.max_abs);
}

int run_verify(const VerifyArgs& a, const Env& env) {
  QSR_CHECK(quant::is_quant_checkpoint(a.model),
            a.model + " is a float model: verify compares a quantised model's integer engine with its reference execution");
  quant::QuantModel q = quant::load_quant_model(a.model);
  q.float_path.algo = env.conv;
  quant::LowerOptions lo;
  lo.conv_algo = env.conv;
  const quant::IntEngine e(q, lo);
  const std::vector<Input> inputs = inputs_of(a, q);
  Diff total;
  json rows = json::array();
  for (const Input& in : inputs) {
    const Tensor ref = q.forward(in.x), got = e.forward(in.x);
    const Diff d = compare(ref, got, q.acts.back());
    total.add(d);
    rows.push_back({{"input", in.name}, {"values", d.values}, {"mismatches", d.mismatches}, {"max_code_diff", d.max_code}, {"max_abs_diff", d.max_abs}});
    if (!a.json)
      fmt::print("{:<48s} {:>9} values  {:>7} mismatches{}\n", in.name, d.values, d.mismatches,
                 d.mismatches ? fmt::format("  (max code difference {}, max |difference| {:.3g})", d.max_code, d.max_abs) : "");
  }
  print_summary(a, q, e, inputs.size(), total, rows);
  return total.mismatches == 0 ? 0 : 1;
}

}  // namespace

Command add_verify(CLI::App& app) {
  auto a = std::make_shared<VerifyArgs>();
  auto* sub = app.add_subcommand("verify",
                                 "check that a quantised model's integer engine gives exactly the reference execution's "
                                 "numbers, on random inputs and on images; exit status 1 on any mismatch");
  sub->add_option("model", a->model, "quantised checkpoint (.safetensors)")->required();
  sub->add_option("--data", a->data, "also a folder of images (a BSDS500 root uses images/train), fed as the y protocol's low-res inputs");
  sub->add_option("--images", a->images, "at most this many images of --data (default 8)")->check(CLI::PositiveNumber);
  sub->add_option("--random", a->random, "random inputs of assorted sizes, from 1x1 to 100x100 and 130x17 (default 6)")->check(CLI::NonNegativeNumber);
  sub->add_option("--seed", a->seed, "seed of the random inputs");
  sub->add_flag("--json", a->json, "print one JSON object (per input: values, mismatches, max_code_diff, max_abs_diff; totals; exact)");
  return {sub, [a](const Env& env) { return run_verify(*a, env); }};
}

}  // namespace qsr::cli
