// `qsr demo`: train a small ESPCN on synthetic images for a few steps, then time inference.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "engine/cpu.h"
#include "engine/ops.h"
#include "engine/optim.h"
#include "engine/parallel.h"
#include "engine/parse.h"
#include "engine/random.h"
#include "engine/stats.h"
#include "models/espcn.h"
#include "models/image/resize.h"
#include "models/metrics.h"
#include "models/synthetic.h"
#include "tools/cli.h"

namespace qsr::cli {

namespace {

struct DemoArgs {
  int steps = 60, batch = 8, patch = 32;
  std::string size = "640x360";
  uint64_t seed = 1337;
};

std::string format_eta(double s) {
  if (s < 0 || !std::isfinite(s)) return "?";
  int t = int(s + 0.5);
  return t >= 60 ? fmt::format("{}m{:02d}s", t / 60, t % 60) : fmt::format("{}s", t);
}

// Adam on MSE for a.steps batches of synthetic patches, with a progress line; the first and
// the last loss.
std::pair<double, double> train_steps(Espcn& model, const DemoArgs& a, Rng& rng) {
  const int r = model.config().scale;
  Adam opt(model.parameters());
  fmt::print("training {} steps of batch {} ({}x{} low-res patches, synthetic images)\n", a.steps, a.batch, a.patch, a.patch);
  auto t0 = Clock::now();
  double first = 0, last = 0;
  for (int s = 1; s <= a.steps; ++s) {
    Tensor hr = synthetic_images(a.batch, a.patch * r, a.patch * r, rng);
    Var x(area_downscale(hr, r)), y(hr);
    Var loss = mse_loss(model.forward(x), y);
    opt.zero_grad();
    loss.backward();
    opt.step();
    last = loss.value().f32()[0];
    QSR_CHECK(std::isfinite(last), "training diverged: loss is " + std::to_string(last) + " at step " + std::to_string(s));
    if (s == 1) first = last;
    if (s == 1 || s % 10 == 0 || s == a.steps) {
      double el = seconds_since(t0);
      fmt::print("\r  step {:4d}/{}  loss {:.6f}  {:.1f}s elapsed, ETA {}   ", s, a.steps, last, el,
                 format_eta(el / s * (a.steps - s)));
      std::fflush(stdout);
    }
  }
  fmt::print("\n");
  return {first, last};
}

// The median of 5 timed inferences of a bw x bh frame, after a warm-up, in ms.
double time_inference(Espcn& model, int bw, int bh, Rng& rng) {
  Var frame(synthetic_images(1, bh, bw, rng));
  model.forward(frame);  // warm-up
  std::vector<double> ms;
  for (int i = 0; i < 5; ++i) {
    auto t = Clock::now();
    model.forward(frame);
    ms.push_back(seconds_since(t) * 1e3);
  }
  return median(ms);
}

int run_demo(const DemoArgs& a, const Env& env) {
  const auto wh = parse_size(a.size);
  QSR_CHECK(wh && wh->first > 0 && wh->second > 0, "bad size '" + a.size + "': expected WIDTHxHEIGHT, e.g. 640x360");
  const auto [bw, bh] = *wh;
  EspcnConfig cfg;
  Espcn model(cfg);
  model.init_glorot(a.seed);
  model.set_conv_algo(env.conv);
  fmt::print("{}\n", model.describe());
  fmt::print("isa: {}, threads: {}\n\n", isa_name(active_isa()), num_threads());
  const int r = cfg.scale;
  Rng rng(a.seed);
  Tensor val_hr = synthetic_images(4, a.patch * r, a.patch * r, rng);
  Tensor val_lr = area_downscale(val_hr, r);
  const auto [first, last] = train_steps(model, a, rng);
  NoGradGuard ng;
  Tensor pred = clamp(model.forward(Var(val_lr)), 0.f, 1.f).value();
  fmt::print("loss {:.6f} -> {:.6f}; validation PSNR {:.2f} dB (nearest-neighbour upscale: {:.2f} dB)\n\n", first, last,
             psnr(pred, val_hr), psnr(nearest_upscale(val_lr, r), val_hr));
  const double med = time_inference(model, bw, bh, rng);
  fmt::print("inference {}x{} -> {}x{}: median {:.1f} ms over 5 runs, {:.1f} GMAC/s\n", bw, bh, bw * r, bh * r, med,
             double(cfg.macs_per_lr_pixel()) * bw * bh / (med * 1e-3) / 1e9);
  return 0;
}

}  // namespace

Command add_demo(CLI::App& app) {
  auto a = std::make_shared<DemoArgs>();
  auto* sub = app.add_subcommand("demo", "train a small ESPCN on synthetic images for a few steps, then time inference");
  sub->add_option("--steps", a->steps, "training steps")->check(CLI::PositiveNumber);
  sub->add_option("--batch", a->batch, "batch size")->check(CLI::PositiveNumber);
  sub->add_option("--patch", a->patch, "low-res training patch side")->check(CLI::Range(4, 512));
  sub->add_option("--size", a->size, "low-res frame size WxH for the inference timing");
  sub->add_option("--seed", a->seed, "random seed");
  return {sub, [a](const Env& env) { return run_demo(*a, env); }};
}

}  // namespace qsr::cli
