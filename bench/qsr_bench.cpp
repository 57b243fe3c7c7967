// qsr_bench: whole-model and per-layer timings of ESPCN on this engine.
// Same command-line contract as the peer programs in bench/peers/ (see
// bench/README.md), so bench/peers/compare.py can time everything in one run.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "engine/cpu.h"
#include "engine/f32_drivers.h"
#include "engine/ops.h"
#include "engine/optim.h"
#include "engine/parallel.h"
#include "engine/parse.h"
#include "engine/random.h"
#include "engine/stats.h"
#include "engine/winograd.h"
#include "models/espcn.h"
#include "quant/qat/qat.h"

using namespace qsr;

namespace {
using Clock = std::chrono::steady_clock;

struct Stats {
  std::vector<double> ms;
  double median() const { return qsr::median(ms); }
  double min() const { return *std::min_element(ms.begin(), ms.end()); }
};

Stats time_it(int warmup, int runs, const std::function<void()>& fn) {
  for (int i = 0; i < warmup; ++i) fn();
  Stats s;
  for (int i = 0; i < runs; ++i) {
    auto t = Clock::now();
    fn();
    s.ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t).count());
  }
  return s;
}

Tensor random_tensor(Shape s, Rng& rng, float lo = 0.f, float hi = 1.f) {
  Tensor t(std::move(s));
  for (int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = rng.uniform(lo, hi);
  return t;
}

std::string json_list(const std::vector<double>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += fmt::format("{}{:.4f}", i ? ", " : "", v[i]);
  return s + "]";
}

struct Config {
  int w = 640, h = 360, threads = 1, runs = 10, warmup = 2, batch = 0;
  std::string mode = "forward";
  std::string qat;  // train mode: also time QAT steps in this mode and print the ratio
  int rounds = 3;
  ConvAlgo conv = ConvAlgo::automatic;
  bool json = false, layers = false;
};

using Layers = std::vector<std::pair<std::string, Stats>>;

// Each forward conv on its own (direct for inference unless --conv winograd), then depth-to-space.
void time_forward_layers(const Config& c, Espcn& model, Tensor in, int batch, Layers& per_layer) {
  const auto& K = f32_kernels();
  for (size_t i = 0; i < model.convs.size(); ++i) {
    auto& cv = *model.convs[i];
    ConvGeom g{batch, c.h, c.w, cv.cin, cv.cout, cv.k};
    Tensor out = Tensor::empty({batch, c.h, c.w, cv.cout});
    const bool wino = cv.k == 3 && c.conv == ConvAlgo::winograd;  // auto: direct for inference
    per_layer.emplace_back(fmt::format("conv{} {}x{} {}->{}", i + 1, cv.k, cv.k, cv.cin, cv.cout),
                           time_it(c.warmup, c.runs, [&] {
                             if (wino)
                               winograd_conv2d_forward(K, g, in.f32(), cv.weight.value().f32(),
                                                       cv.bias.value().f32(), out.f32(), true);
                             else
                               conv2d_forward(K, g, in.f32(), cv.weight.value().f32(), cv.bias.value().f32(),
                                              out.f32(), true);
                           }));
    in = out;
  }
  Tensor hr = Tensor::empty({batch, c.h * 3, c.w * 3, 1});
  per_layer.emplace_back("depth_to_space x3", time_it(c.warmup, c.runs, [&] {
                           depth_to_space(K, batch, c.h, c.w, 1, 3, in.f32(), hr.f32());
                         }));
}

// Each conv's three training phases on its own, with the algorithm training uses.
void time_train_layers(const Config& c, Espcn& model, Tensor in, int batch, Rng& rng, Layers& per_layer) {
  const auto& K = f32_kernels();
  for (size_t i = 0; i < model.convs.size(); ++i) {
    auto& cv = *model.convs[i];
    ConvGeom g{batch, c.h, c.w, cv.cin, cv.cout, cv.k};
    const bool wino = cv.k == 3 && c.conv != ConvAlgo::direct;
    const float* wv = cv.weight.value().f32();
    Tensor out = Tensor::empty({batch, c.h, c.w, cv.cout});
    Tensor gy = random_tensor({batch, c.h, c.w, cv.cout}, rng, -1.f, 1.f);
    Tensor gx = Tensor::empty(in.shape()), gw = Tensor::empty(cv.weight.value().shape()), gb = Tensor::empty({cv.cout});
    const std::string name = fmt::format("conv{} {}x{} {}->{}", i + 1, cv.k, cv.k, cv.cin, cv.cout);
    per_layer.emplace_back(name + " fwd", time_it(c.warmup, c.runs, [&] {
                             if (wino) winograd_conv2d_forward(K, g, in.f32(), wv, cv.bias.value().f32(), out.f32(), true);
                             else conv2d_forward(K, g, in.f32(), wv, cv.bias.value().f32(), out.f32(), true);
                           }));
    if (i > 0)  // the first layer's input needs no gradient
      per_layer.emplace_back(name + " bwd-data", time_it(c.warmup, c.runs, [&] {
                               if (wino) winograd_conv2d_backward_data(K, g, gy.f32(), wv, gx.f32());
                               else conv2d_backward_data(K, g, gy.f32(), wv, gx.f32());
                             }));
    per_layer.emplace_back(name + " bwd-weights", time_it(c.warmup, c.runs, [&] {
                             if (wino) winograd_conv2d_backward_weights(K, g, in.f32(), gy.f32(), gw.f32(), gb.f32());
                             else conv2d_backward_weights(K, g, in.f32(), gy.f32(), gw.f32(), gb.f32());
                           }));
    in = out;
  }
}

// Float and QAT steps in alternating rounds (observers active: the costlier phase before
// freezing); each round's median, then the median over rounds.
void time_qat(const Config& c, const EspcnConfig& cfg, Espcn& model, int batch, const std::function<void()>& step) {
  quant::QatOptions qo;
  qo.mode = c.qat;
  auto qat = std::make_shared<quant::QatModel>(cfg, qo);
  std::vector<double> fm, qm;
  Stats fs, qs;
  for (int r = 0; r < c.rounds; ++r) {
    model.hooks = nullptr;
    fs = time_it(c.warmup, c.runs, step);
    model.hooks = qat;
    qs = time_it(c.warmup, c.runs, step);
    model.hooks = nullptr;
    fm.push_back(fs.median());
    qm.push_back(qs.median());
  }
  const double f = Stats{fm}.median(), q = Stats{qm}.median();
  if (c.json) {
    fmt::print("{{\"program\": \"qsr\", \"isa\": \"{}\", \"conv\": \"{}\", \"mode\": \"train\", \"qat\": \"{}\", "
               "\"size\": \"{}x{}\", \"threads\": {}, \"batch\": {}, \"rounds\": {}, \"float_median_ms\": {:.4f}, "
               "\"qat_median_ms\": {:.4f}, \"ratio\": {:.4f}, \"float_rounds_ms\": {}, \"qat_rounds_ms\": {}}}\n",
               isa_name(active_isa()), conv_algo_name(c.conv), c.qat, c.w, c.h, c.threads, batch, c.rounds, f, q, q / f,
               json_list(fm), json_list(qm));
  } else {
    fmt::print("qsr train {:>9s} batch {} threads {} isa {:6s} conv {:8s}: float {:9.3f} ms  QAT {} {:9.3f} ms  "
               "ratio {:.3f} (medians of {} rounds of {} runs)\n",
               fmt::format("{}x{}", c.w, c.h), batch, c.threads, isa_name(active_isa()), conv_algo_name(c.conv), f,
               c.qat, q, q / f, c.rounds, c.runs);
  }
}

void report(const Config& c, int batch, double macs, const Stats& st, const Layers& per_layer) {
  const double gm = (c.mode == "train" ? 3 : 1) * macs / (st.median() * 1e-3) / 1e9;
  if (c.json) {
    std::string layers;
    for (auto& [name, s] : per_layer) layers += fmt::format("{}{{\"layer\": \"{}\", \"median_ms\": {:.4f}}}", layers.empty() ? "" : ", ", name, s.median());
    fmt::print(
        "{{\"program\": \"qsr\", \"isa\": \"{}\", \"conv\": \"{}\", \"mode\": \"{}\", \"size\": \"{}x{}\", \"threads\": {}, "
        "\"batch\": {}, \"median_ms\": {:.4f}, \"min_ms\": {:.4f}, \"runs_ms\": {}, \"gmacs\": {:.3f}{}}}\n",
        isa_name(active_isa()), conv_algo_name(c.conv), c.mode, c.w, c.h, c.threads, batch, st.median(), st.min(), json_list(st.ms), gm,
        per_layer.empty() ? "" : ", \"layers\": [" + layers + "]");
  } else {
    fmt::print("qsr {:7s} {:>9s} batch {} threads {} isa {:6s} conv {:8s}: median {:9.3f} ms  min {:9.3f} ms  {:6.1f} GMAC/s\n",
               c.mode, fmt::format("{}x{}", c.w, c.h), batch, c.threads, isa_name(active_isa()), conv_algo_name(c.conv),
               st.median(), st.min(), gm);
    for (auto& [name, s] : per_layer)
      fmt::print("    {:24s} median {:9.3f} ms\n", name, s.median());
  }
}

int run(const Config& c) {
  set_num_threads(c.threads);
  const int batch = c.batch > 0 ? c.batch : (c.mode == "train" ? 8 : 1);
  EspcnConfig cfg;
  Espcn model(cfg);
  model.init_glorot(1337);
  model.set_conv_algo(c.conv);
  Rng rng(42);
  const double macs = double(cfg.macs_per_lr_pixel()) * c.w * c.h * batch;
  Stats st;
  Layers per_layer;
  if (c.mode == "forward") {
    Var x(random_tensor({batch, c.h, c.w, 1}, rng));
    NoGradGuard ng;
    st = time_it(c.warmup, c.runs, [&] { model.forward(x); });
    if (c.layers) time_forward_layers(c, model, x.value(), batch, per_layer);
  } else if (c.mode == "train") {
    Var x(random_tensor({batch, c.h, c.w, 1}, rng));
    Var y(random_tensor({batch, c.h * 3, c.w * 3, 1}, rng));
    Adam opt(model.parameters());
    auto step = [&] {
      Var loss = mse_loss(model.forward(x), y);
      opt.zero_grad();
      loss.backward();
      opt.step();
    };
    if (!c.qat.empty()) {
      time_qat(c, cfg, model, batch, step);
      return 0;
    }
    st = time_it(c.warmup, c.runs, step);
    if (c.layers) time_train_layers(c, model, x.value(), batch, rng, per_layer);
  } else {
    throw Error("--mode must be forward or train, got '" + c.mode + "'");
  }
  report(c, batch, macs, st, per_layer);
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "qsr_bench: time ESPCN (1->64 5x5, 64->64 3x3, 64->32 3x3, 32->9 3x3, ReLU, depth_to_space x3) on this engine.\n"
      "Without --size/--threads/--mode it runs the standard matrix: forward at 100x100 and 640x360 and one training\n"
      "step (batch 8 of 100x100), on 1 and 2 threads, with per-layer times. Set QSR_ISA to pick the kernels."};
  Config c;
  std::string size, mode;
  std::vector<int> threads;
  app.add_option("--size", size, "low-res input size WxH (default: the matrix)");
  app.add_option("--threads", threads, "thread counts (default: 1 and 2)")->check(CLI::PositiveNumber);
  app.add_option("--runs", c.runs, "timed runs per measurement; the median is reported")->check(CLI::Range(1, 100000));
  app.add_option("--warmup", c.warmup, "untimed runs before timing")->check(CLI::Range(0, 100000));
  app.add_option("--mode", mode, "forward or train (one Adam step on batch 8)")->check(CLI::IsMember({"forward", "train"}));
  app.add_option("--batch", c.batch, "batch (default 1 for forward, 8 for train)")->check(CLI::PositiveNumber);
  std::vector<std::string> convs;
  app.add_option("--conv", convs,
                 "3x3 conv algorithm: direct, winograd or auto (default auto: Winograd when training, direct for "
                 "inference); several values are timed one after the other in the same run")
      ->check(CLI::IsMember({"direct", "winograd", "auto"}));
  app.add_flag("--layers", c.layers, "also time each layer of the forward pass (train mode: each conv's forward, data and weight gradients)");
  app.add_flag("--json", c.json, "print one JSON object per measurement, one per line");
  app.add_option("--qat", c.qat,
                 "train mode: also time quantisation-aware training steps in this mode (as qsr train --qat, whole "
                 "model) and print the QAT / float step-time ratio");
  app.add_option("--rounds", c.rounds, "with --qat: alternating float / QAT rounds; medians of the round medians")
      ->check(CLI::Range(1, 1000));
  CLI11_PARSE(app, argc, argv);
  try {
    active_isa();
    std::vector<std::tuple<std::string, int, int>> configs;  // mode, w, h
    if (!c.qat.empty()) {
      QSR_CHECK(mode.empty() || mode == "train", "--qat times training steps: use it with --mode train (or no --mode)");
      mode = "train";
    }
    if (!size.empty()) {
      const auto wh = parse_size(size);
      if (!wh || wh->first <= 0 || wh->second <= 0) throw Error("bad --size '" + size + "': expected WIDTHxHEIGHT, e.g. 640x360");
      configs.emplace_back(mode.empty() ? "forward" : mode, wh->first, wh->second);
    } else if (!mode.empty()) {
      configs.emplace_back(mode, mode == "train" ? 100 : 640, mode == "train" ? 100 : 360);
    } else {
      configs = {{"forward", 100, 100}, {"forward", 640, 360}, {"train", 100, 100}};
      if (!app.count("--layers")) c.layers = true;
    }
    if (threads.empty()) threads = (size.empty() && mode.empty()) ? std::vector<int>{1, 2} : std::vector<int>{1};
    if (convs.empty()) convs = {"auto"};
    for (auto& [m, w, h] : configs)
      for (int t : threads)
        for (const std::string& cv : convs) {
          Config k = c;
          k.conv = parse_conv_algo(cv);
          k.mode = m;
          k.w = w;
          k.h = h;
          k.threads = t;
            run(k);
        }
  } catch (const std::exception& e) {
    fmt::print(stderr, "qsr_bench: error: {}\n", e.what());
    return 2;
  }
  return 0;
}
