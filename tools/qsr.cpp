// qsr: the command-line program. Thin: parse arguments, call the library, print.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>

#include "engine/cpu.h"
#include "engine/kernels/kernels.h"
#include "engine/ops.h"
#include "engine/optim.h"
#include "engine/parallel.h"
#include "engine/random.h"
#include "models/espcn.h"

#ifndef QSR_VERSION
#define QSR_VERSION "0.0.0"
#endif

using namespace qsr;

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::pair<int, int> parse_size(const std::string& s) {
  int w = 0, h = 0;
  char x = 0, extra = 0;
  if (std::sscanf(s.c_str(), "%d%c%d%c", &w, &x, &h, &extra) != 3 || (x != 'x' && x != 'X') || w <= 0 || h <= 0)
    throw Error("bad size '" + s + "': expected WIDTHxHEIGHT, e.g. 640x360");
  return {w, h};
}

std::string format_eta(double s) {
  if (s < 0 || !std::isfinite(s)) return "?";
  int t = int(s + 0.5);
  return t >= 60 ? fmt::format("{}m{:02d}s", t / 60, t % 60) : fmt::format("{}s", t);
}

// Procedural "natural-ish" luminance images in [0, 1]: smooth gradients,
// soft-edged discs and oriented gratings, different for each seed.
Tensor synthetic_images(int n, int h, int w, Rng& rng) {
  Tensor t({n, h, w, 1});
  float* p = t.f32();
  for (int b = 0; b < n; ++b) {
    double gx = rng.uniform() - 0.5, gy = rng.uniform() - 0.5, base = 0.3 + 0.4 * rng.uniform();
    double fx = 0.05 + 0.5 * rng.uniform(), fy = 0.05 + 0.5 * rng.uniform(), amp = 0.1 + 0.2 * rng.uniform();
    double cx = w * rng.uniform(), cy = h * rng.uniform(), rad = 0.1 * w + 0.3 * w * rng.uniform();
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) {
        double v = base + gx * x / w + gy * y / h + amp * std::sin(fx * x + fy * y);
        double d = std::hypot(x - cx, y - cy);
        v += 0.25 / (1.0 + std::exp((d - rad) * 0.8));
        p[(int64_t(b) * h + y) * w + x] = static_cast<float>(std::clamp(v, 0.0, 1.0));
      }
  }
  return t;
}

// Area (box) downscale by an integer factor.
Tensor area_down(const Tensor& hr, int r) {
  int n = int(hr.dim(0)), h = int(hr.dim(1)) / r, w = int(hr.dim(2)) / r;
  Tensor lr({n, h, w, 1});
  const float* s = hr.f32();
  float* d = lr.f32();
  for (int b = 0; b < n; ++b)
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) {
        double acc = 0;
        for (int i = 0; i < r; ++i)
          for (int j = 0; j < r; ++j) acc += s[(int64_t(b) * hr.dim(1) + y * r + i) * hr.dim(2) + x * r + j];
        d[(int64_t(b) * h + y) * w + x] = static_cast<float>(acc / (r * r));
      }
  return lr;
}

double psnr(const Tensor& a, const Tensor& b) {
  double s = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    double d = std::clamp(double(a.f32()[i]), 0.0, 1.0) - b.f32()[i];
    s += d * d;
  }
  double mse = s / a.numel();
  return mse > 0 ? 10 * std::log10(1.0 / mse) : INFINITY;
}

Tensor nearest_up(const Tensor& lr, int r) {
  int n = int(lr.dim(0)), h = int(lr.dim(1)), w = int(lr.dim(2));
  Tensor up({n, int64_t(h) * r, int64_t(w) * r, 1});
  for (int b = 0; b < n; ++b)
    for (int y = 0; y < h * r; ++y)
      for (int x = 0; x < w * r; ++x)
        up.f32()[(int64_t(b) * h * r + y) * w * r + x] = lr.f32()[(int64_t(b) * h + y / r) * w + x / r];
  return up;
}

int cmd_demo(int steps, int batch, int patch, const std::string& size, uint64_t seed) {
  auto [bw, bh] = parse_size(size);
  EspcnConfig cfg;
  Espcn model(cfg);
  model.init_glorot(seed);
  fmt::print("{}\n", model.describe());
  fmt::print("isa: {}, threads: {}\n\n", isa_name(active_isa()), num_threads());
  const int r = cfg.scale;
  Rng rng(seed);
  Tensor val_hr = synthetic_images(4, patch * r, patch * r, rng);
  Tensor val_lr = area_down(val_hr, r);
  Adam opt(model.parameters());
  fmt::print("training {} steps of batch {} ({}x{} low-res patches, synthetic images)\n", steps, batch, patch, patch);
  auto t0 = Clock::now();
  double first = 0, last = 0;
  for (int s = 1; s <= steps; ++s) {
    Tensor hr = synthetic_images(batch, patch * r, patch * r, rng);
    Var x(area_down(hr, r)), y(hr);
    Var loss = mse_loss(model.forward(x), y);
    opt.zero_grad();
    loss.backward();
    opt.step();
    last = loss.value().f32()[0];
    QSR_CHECK(std::isfinite(last), "training diverged: loss is " + std::to_string(last) + " at step " + std::to_string(s));
    if (s == 1) first = last;
    if (s == 1 || s % 10 == 0 || s == steps) {
      double el = seconds_since(t0);
      fmt::print("\r  step {:4d}/{}  loss {:.6f}  {:.1f}s elapsed, ETA {}   ", s, steps, last, el,
                 format_eta(el / s * (steps - s)));
      std::fflush(stdout);
    }
  }
  fmt::print("\n");
  NoGradGuard ng;
  Tensor pred = model.forward(Var(val_lr)).value();
  fmt::print("loss {:.6f} -> {:.6f}; validation PSNR {:.2f} dB (nearest-neighbour upscale: {:.2f} dB)\n\n", first, last,
             psnr(pred, val_hr), psnr(nearest_up(val_lr, r), val_hr));
  // Inference time on a frame of the requested size.
  Var frame(synthetic_images(1, bh, bw, rng));
  model.forward(frame);  // warm-up
  std::vector<double> ms;
  for (int i = 0; i < 5; ++i) {
    auto t = Clock::now();
    model.forward(frame);
    ms.push_back(seconds_since(t) * 1e3);
  }
  std::sort(ms.begin(), ms.end());
  double med = ms[ms.size() / 2];
  fmt::print("inference {}x{} -> {}x{}: median {:.1f} ms over 5 runs, {:.1f} GMAC/s\n", bw, bh, bw * r, bh * r, med,
             double(cfg.macs_per_lr_pixel()) * bw * bh / (med * 1e-3) / 1e9);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"qsr: train, quantise and run ESPCN super-resolution networks at any word length"};
  app.set_version_flag("--version", [] { return std::string("qsr ") + QSR_VERSION + "\n" + cpu_report(); });
  int threads = 0;
  app.add_option("--threads,-t", threads, "threads to use (default: all cores)")->check(CLI::PositiveNumber);
  app.require_subcommand(1);

  auto* info = app.add_subcommand("info", "print the CPU features, the kernel path in use and the thread count");

  auto* demo = app.add_subcommand("demo", "train a small ESPCN on synthetic images for a few steps, then time inference");
  int steps = 60, batch = 8, patch = 32;
  std::string size = "640x360";
  uint64_t seed = 1337;
  demo->add_option("--steps", steps, "training steps")->check(CLI::PositiveNumber);
  demo->add_option("--batch", batch, "batch size")->check(CLI::PositiveNumber);
  demo->add_option("--patch", patch, "low-res training patch side")->check(CLI::Range(4, 512));
  demo->add_option("--size", size, "low-res frame size WxH for the inference timing");
  demo->add_option("--seed", seed, "random seed");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    if (threads > 0) set_num_threads(threads);
    active_isa();  // resolve QSR_ISA now so a bad value is reported up front
    if (*info) {
      fmt::print("qsr {}\n{}", QSR_VERSION, cpu_report());
      return 0;
    }
    if (*demo) return cmd_demo(steps, batch, patch, size, seed);
  } catch (const std::exception& e) {
    fmt::print(stderr, "qsr: error: {}\n", e.what());
    return 1;
  }
  return 0;
}
