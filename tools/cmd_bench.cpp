// `qsr bench`: time a float or quantised checkpoint on one frame: median of repeated runs after
// warm-up, optionally per conv of the integer engine.
#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/cpu.h"
#include "engine/parallel.h"
#include "engine/parse.h"
#include "engine/stats.h"
#include "models/synthetic.h"
#include "quant/lower/network.h"
#include "tools/cli.h"

namespace qsr::cli {

namespace {

using json = nlohmann::json;

struct BenchArgs {
  std::string model;
  std::string size = "640x360";
  int runs = 10, warmup = 2;
  bool json = false, simulate = false, layers = false;
};

struct Timings {
  std::vector<double> runs;                    // seconds per run
  std::vector<std::vector<double>> per_layer;  // --layers: seconds per conv, per run
};

Timings time_runs(const BenchArgs& a, const quant::LoadedNet& ln, const Tensor& x) {
  NoGradGuard ng;
  for (int i = 0; i < a.warmup; ++i) (void)ln.net.forward(x);
  Timings t;
  for (int i = 0; i < a.runs; ++i) {
    std::vector<double> ls;
    const auto t0 = Clock::now();
    const Tensor y = ln.engine && a.layers ? ln.engine->forward(x, &ls) : ln.net.forward(x);
    t.runs.push_back(seconds_since(t0));
    if (a.layers) t.per_layer.push_back(ls);
    QSR_CHECK(y.numel() > 0 && std::isfinite(y.f32()[0]), "bench: the output is not finite");
  }
  return t;
}

json layer_rows(const quant::IntEngine& engine, const Timings& t, int w, int h) {
  const auto& infos = engine.layers();
  json ls = json::array();
  for (size_t i = 0; i < infos.size(); ++i) {
    std::vector<double> s;
    for (const auto& r : t.per_layer) s.push_back(r[i]);
    const double lm = median(s);
    const int64_t lmacs = int64_t(infos[i].k) * infos[i].k * infos[i].cin * infos[i].cout * w * h;
    ls.push_back({{"name", fmt::format("conv{}", i + 1)},
                  {"path", quant::layer_path_name(infos[i].path)},
                  {"kernel", infos[i].describe()},
                  {"median_ms", lm * 1e3},
                  {"macs", lmacs},
                  {"gmacs", double(lmacs) / lm * 1e-9}});
  }
  return ls;
}

// The frame's timing, for the text report.
struct Summary {
  int w = 0, h = 0;
  double med = 0, mn = 0;  // seconds
  int64_t macs = 0;
};

void print_text(const BenchArgs& a, const json& j, const Summary& s) {
  fmt::print("{}: {} on the {} engine ({}), {} thread(s), {}x{} low-res\n", a.model, j["mode"].get<std::string>(),
             j["engine"].get<std::string>(), j["isa"].get<std::string>(), num_threads(), s.w, s.h);
  fmt::print("  median {:.2f} ms, min {:.2f} ms over {} runs ({} warm-up); {:.2f} GMAC/s ({:.3f} GMAC per frame)\n",
             s.med * 1e3, s.mn * 1e3, a.runs, a.warmup, double(s.macs) / s.med * 1e-9, double(s.macs) * 1e-9);
  if (a.layers)
    for (const auto& l : j["layers"])
      fmt::print("  {:<6s} {:>8.2f} ms {:>7.2f} GMAC/s  {}\n", l["name"].get<std::string>(), l["median_ms"].get<double>(),
                 l["gmacs"].get<double>(), l["kernel"].get<std::string>());
}

int run_bench(const BenchArgs& a, const Env& env) {
  const auto wh = parse_size(a.size);
  QSR_CHECK(wh, "bad --size '" + a.size + "': expected WIDTHxHEIGHT, e.g. 640x360");
  const auto [w, h] = *wh;
  QSR_CHECK(w >= 1 && h >= 1, "bad --size '" + a.size + "': width and height must be positive");
  QSR_CHECK(a.runs >= 1, "--runs must be at least 1");
  quant::LowerOptions lo;
  lo.conv_algo = env.conv;
  const quant::LoadedNet ln = quant::load_network(a.model, a.simulate, lo);
  QSR_CHECK(!a.layers || ln.engine, "--layers times the integer engine's convs: give a quantised model without --simulate");
  const Timings t = time_runs(a, ln, random_test_image(1337, h, w, ln.net.cfg.channels));
  const double med = median(t.runs), mn = *std::min_element(t.runs.begin(), t.runs.end());
  const int64_t macs = ln.net.cfg.macs_per_lr_pixel() * int64_t(w) * h;
  json j;
  j["model"] = a.model;
  j["mode"] = ln.qmodel ? ln.qmodel->mode : "f32";
  j["engine"] = ln.engine ? "integer" : ln.qmodel ? "simulation" : "f32";
  j["isa"] = isa_name(ln.engine ? ln.engine->kernels().isa : active_isa());
  if (ln.engine) j["kernels"] = ln.engine->kernels().name;
  j["threads"] = num_threads();
  j["size"] = fmt::format("{}x{}", w, h);
  j["runs"] = a.runs;
  j["warmup"] = a.warmup;
  j["median_ms"] = med * 1e3;
  j["min_ms"] = mn * 1e3;
  j["macs"] = macs;
  j["gmacs"] = double(macs) / med * 1e-9;
  if (a.layers) j["layers"] = layer_rows(*ln.engine, t, w, h);
  if (a.json)
    fmt::print("{}\n", j.dump());
  else
    print_text(a, j, {w, h, med, mn, macs});
  return 0;
}

}  // namespace

Command add_bench(CLI::App& app) {
  auto a = std::make_shared<BenchArgs>();
  auto* sub = app.add_subcommand("bench", "time a float or quantised checkpoint on one frame: median of repeated runs after warm-up");
  sub->add_option("--model", a->model, "checkpoint (.safetensors): float models run on the f32 engine, quantised ones on the integer engine")
      ->required();
  sub->add_option("--size", a->size, "low-res frame size WxH (default 640x360, a 1920x1080 output at x3)");
  sub->add_option("--runs", a->runs, "timed runs; the median is reported (default 10)")->check(CLI::Range(1, 100000));
  sub->add_option("--warmup", a->warmup, "untimed runs first (default 2)")->check(CLI::Range(0, 100000));
  sub->add_flag("--layers", a->layers, "also time each conv (integer engine)");
  sub->add_flag("--json", a->json, "print one JSON object: model, mode, engine, isa, [kernels], threads, size, runs, median_ms, min_ms, macs, gmacs (GMAC/s), [layers]");
  sub->add_flag("--simulate", a->simulate, kSimulateHelp);
  return {sub, [a](const Env& env) { return run_bench(*a, env); }};
}

}  // namespace qsr::cli
