// qsr bench, qsr verify and the network loading every command shares (run_cmds.h).
#include "tools/run_cmds.h"

#include "engine/fileio.h"
#include "quant/export/export_c.h"
#include "quant/infer/qsr_infer.h"
#include "quant/lower/network.h"

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <regex>

#include "engine/autograd.h"
#include "engine/cpu.h"
#include "engine/parallel.h"
#include "engine/random.h"
#include "models/checkpoint.h"

namespace qsr::cli {

using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

namespace {

// A smooth random image in [0, 1] with noise (what a photo's luma looks like to the kernels).
Tensor test_image(uint64_t seed, int h, int w, int c) {
  Rng r(seed);
  Tensor t({1, h, w, c});
  const float fa = r.uniform(0.05f, 0.5f), fb = r.uniform(0.05f, 0.5f);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int ch = 0; ch < c; ++ch)
        t.f32()[(int64_t(y) * w + x) * c + ch] =
            std::clamp(0.5f + 0.35f * std::sin(fa * x + fb * y + ch) + r.uniform(-0.1f, 0.1f), 0.f, 1.f);
  return t;
}

void parse_size(const std::string& s, int& w, int& h) {
  std::smatch m;
  QSR_CHECK(std::regex_match(s, m, std::regex("(\\d{1,5})x(\\d{1,5})")),
            "bad --size '" + s + "': expected WIDTHxHEIGHT, e.g. 640x360");
  w = std::stoi(m[1]);
  h = std::stoi(m[2]);
  QSR_CHECK(w >= 1 && h >= 1, "bad --size '" + s + "': width and height must be positive");
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace

int cmd_bench(const BenchArgs& a) {
  int w = 0, h = 0;
  parse_size(a.size, w, h);
  QSR_CHECK(a.runs >= 1, "--runs must be at least 1");
  quant::LoadedNet ln = quant::load_network(a.model, a.simulate);
  QSR_CHECK(!a.layers || ln.engine, "--layers times the integer engine's convs: give a quantised model without --simulate");
  const Tensor x = test_image(1337, h, w, ln.net.cfg.channels);
  NoGradGuard ng;
  for (int i = 0; i < a.warmup; ++i) (void)ln.net.forward(x);
  std::vector<double> times;
  std::vector<std::vector<double>> per_layer;
  for (int i = 0; i < a.runs; ++i) {
    std::vector<double> ls;
    const auto t = Clock::now();
    const Tensor y = ln.engine && a.layers ? ln.engine->forward(x, &ls) : ln.net.forward(x);
    times.push_back(std::chrono::duration<double>(Clock::now() - t).count());
    if (a.layers) per_layer.push_back(ls);
    QSR_CHECK(y.numel() > 0 && std::isfinite(y.f32()[0]), "bench: the output is not finite");
  }
  const double med = median(times), mn = *std::min_element(times.begin(), times.end());
  const int64_t macs = ln.net.cfg.macs_per_lr_pixel() * int64_t(w) * h;
  const std::string isa = isa_name(ln.engine ? ln.engine->kernels().isa : active_isa());
  const std::string mode = ln.qmodel ? ln.qmodel->mode : "f32";
  json j;
  j["model"] = a.model;
  j["mode"] = mode;
  j["engine"] = ln.engine ? "integer" : ln.qmodel ? "simulation" : "f32";
  j["isa"] = isa;
  if (ln.engine) j["kernels"] = ln.engine->kernels().name;
  j["threads"] = num_threads();
  j["size"] = fmt::format("{}x{}", w, h);
  j["runs"] = a.runs;
  j["warmup"] = a.warmup;
  j["median_ms"] = med * 1e3;
  j["min_ms"] = mn * 1e3;
  j["macs"] = macs;
  j["gmacs"] = double(macs) / med * 1e-9;
  if (a.layers) {
    const auto& infos = ln.engine->layers();
    json ls = json::array();
    for (size_t i = 0; i < infos.size(); ++i) {
      std::vector<double> t;
      for (const auto& r : per_layer) t.push_back(r[i]);
      const double lm = median(t);
      const int64_t lmacs = int64_t(infos[i].k) * infos[i].k * infos[i].cin * infos[i].cout * w * h;
      ls.push_back({{"name", fmt::format("conv{}", i + 1)},
                    {"path", quant::layer_path_name(infos[i].path)},
                    {"kernel", infos[i].describe()},
                    {"median_ms", lm * 1e3},
                    {"macs", lmacs},
                    {"gmacs", double(lmacs) / lm * 1e-9}});
    }
    j["layers"] = ls;
  }
  if (a.json) {
    fmt::print("{}\n", j.dump());
    return 0;
  }
  fmt::print("{}: {} on the {} engine ({}), {} thread(s), {}x{} low-res\n", a.model, mode, j["engine"].get<std::string>(),
             isa, num_threads(), w, h);
  fmt::print("  median {:.2f} ms, min {:.2f} ms over {} runs ({} warm-up); {:.2f} GMAC/s ({:.3f} GMAC per frame)\n",
             med * 1e3, mn * 1e3, a.runs, a.warmup, double(macs) / med * 1e-9, double(macs) * 1e-9);
  if (a.layers)
    for (const auto& l : j["layers"])
      fmt::print("  {:<6s} {:>8.2f} ms {:>7.2f} GMAC/s  {}\n", l["name"].get<std::string>(), l["median_ms"].get<double>(),
                 l["gmacs"].get<double>(), l["kernel"].get<std::string>());
  return 0;
}

int cmd_verify(const VerifyArgs& a) {
  QSR_CHECK(quant::is_quant_checkpoint(a.model),
            a.model + " is a float model: verify compares a quantised model's integer engine with its reference execution");
  const quant::QuantModel q = quant::load_quant_model(a.model);
  const quant::IntEngine e(q);
  const quant::ActQuant& out = q.acts.back();
  const bool codes = out.on && !out.dynamic;
  struct Input {
    std::string name;
    Tensor x;
  };
  std::vector<Input> inputs;
  Rng r(a.seed);
  const int sizes[][2] = {{1, 1}, {3, 5}, {37, 23}, {64, 48}, {130, 17}, {100, 100}};
  for (int i = 0; i < a.random; ++i) {
    const int w = sizes[i % 6][0], h = sizes[i % 6][1];
    inputs.push_back({fmt::format("random {}x{}", w, h), test_image(r.next_u64(), h, w, q.cfg.channels)});
  }
  if (!a.data.empty()) {
    const std::vector<Tensor> xs = quant::calibration_inputs(a.data, q.cfg.scale, a.images);
    for (size_t i = 0; i < xs.size(); ++i)
      inputs.push_back({fmt::format("{} image {} ({}x{})", a.data, i + 1, xs[i].dim(2), xs[i].dim(1)), xs[i]});
  }
  int64_t total = 0, bad = 0, worst_code = 0;
  double worst_abs = 0;
  json rows = json::array();
  for (const Input& in : inputs) {
    const Tensor ref = q.forward(in.x), got = e.forward(in.x);
    QSR_CHECK(ref.shape() == got.shape(), "verify: output shapes differ");
    int64_t n = 0, maxc = 0;
    double maxa = 0;
    for (int64_t i = 0; i < ref.numel(); ++i) {
      const float u = ref.f32()[i], v = got.f32()[i];
      if (std::memcmp(&u, &v, 4) == 0) continue;
      ++n;
      maxa = std::max(maxa, double(std::fabs(u - v)));
      if (codes)
        maxc = std::max<int64_t>(maxc, std::llabs(int64_t(quantize_value(u, out.params.scale[0], out.params.zero_point[0], out.fmt)) -
                                                  quantize_value(v, out.params.scale[0], out.params.zero_point[0], out.fmt)));
    }
    total += ref.numel();
    bad += n;
    worst_code = std::max(worst_code, maxc);
    worst_abs = std::max(worst_abs, maxa);
    rows.push_back({{"input", in.name}, {"values", ref.numel()}, {"mismatches", n}, {"max_code_diff", maxc}, {"max_abs_diff", maxa}});
    if (!a.json)
      fmt::print("{:<48s} {:>9} values  {:>7} mismatches{}\n", in.name, ref.numel(), n,
                 n ? fmt::format("  (max code difference {}, max |difference| {:.3g})", maxc, maxa) : "");
  }
  if (a.json) {
    fmt::print("{}\n", json{{"model", a.model},
                            {"mode", q.mode},
                            {"kernels", e.kernels().name},
                            {"inputs", rows},
                            {"values", total},
                            {"mismatches", bad},
                            {"max_code_diff", worst_code},
                            {"max_abs_diff", worst_abs},
                            {"exact", bad == 0}}
                           .dump());
  } else {
    fmt::print("{}", e.describe());
    if (bad == 0)
      fmt::print("verify: {} input{}, {} values: the native engine ({} integer kernels) equals the reference execution bit for bit\n",
                 inputs.size(), inputs.size() == 1 ? "" : "s", total, e.kernels().name);
    else
      fmt::print("verify: {} input{}, {} values: {} MISMATCHES (max code difference {}, max |difference| {:.3g})\n",
                 inputs.size(), inputs.size() == 1 ? "" : "s", total, bad, worst_code, worst_abs);
  }
  return bad == 0 ? 0 : 1;
}

namespace {

// `qsr export --format engine`: the integer engine's lowering as a model file of the
// inference-only library (quant/infer/qsr_infer.h), checked by opening it with the library.
int export_engine(const ExportArgs& a, const quant::QuantModel& q, int gw, int gh) {
  QSR_CHECK(a.width <= 65536, "--width " + std::to_string(a.width) + ": the inference library takes rows up to 65536 pixels");
  const Isa isa = parse_isa(a.isa);
  const quant::IntEngine lowered(q, kernel_set_lowering(isa));
  const std::vector<uint8_t> blob = lowered.infer_model();
  // The library's own check of what it will read (and the arena it will ask for), on the scalar
  // twin, which runs every layout (the file may be for another machine); a vector's storage has
  // operator new's 16-byte alignment, as the library needs.
  qsr_infer_model m;
  const int rc = qsr_infer_open(&m, blob.data(), blob.size(), QSR_INFER_FORCE_SCALAR);
  QSR_CHECK(rc == QSR_INFER_OK, std::string("the written model does not open: ") + qsr_infer_strerror(rc));
  const std::filesystem::path out(a.out);
  if (out.has_parent_path()) std::filesystem::create_directories(out.parent_path());
  write_file_atomic(a.out, std::string_view(reinterpret_cast<const char*>(blob.data()), blob.size()));
  int64_t weights = 0;
  for (const auto& L : lowered.layers()) weights += int64_t(L.k) * L.k * L.cin * L.cout;
  fmt::print("{}: {} ({}), lowered for {} layouts\n{}", a.model, q.mode, q.cfg.describe(), isa_name(isa), lowered.describe());
  fmt::print("wrote {}: {} bytes ({} weights packed for the kernels, requantisation tables)\n", a.out, blob.size(), weights);
  for (int band : {QSR_INFER_DEFAULT_BAND, 2})
    fmt::print("  arena for {}-pixel-wide rows, band {}: {} bytes (any height)\n", a.width, band,
               qsr_infer_arena_bytes(&m, a.width, band));
  if (gw > 0) {
    // Golden 8-bit luma: a random low-res image and the integer engine's output for it.
    QSR_CHECK(q.cfg.channels == 1, "--golden: the engine format's golden images are luma; this model has " +
                                       std::to_string(q.cfg.channels) + " channels");
    Rng rng(a.seed);
    std::string in(size_t(gw) * gh, '\0');
    Tensor x = Tensor::empty({1, gh, gw, 1});
    for (size_t i = 0; i < in.size(); ++i) {
      in[i] = static_cast<char>(rng.below(256));
      x.f32()[i] = float(uint8_t(in[i])) * (1.f / 255.f);
    }
    const Tensor y = quant::IntEngine(q).forward(x);
    std::string o(size_t(y.numel()), '\0');
    for (size_t i = 0; i < o.size(); ++i)
      o[i] = static_cast<char>(std::lround(std::clamp(y.f32()[i], 0.f, 1.f) * 255.f));
    write_file_atomic(a.out + ".golden_in.raw", in);
    write_file_atomic(a.out + ".golden_out.raw", o);
    fmt::print("wrote {0}.golden_in.raw ({1}x{2} bytes) and {0}.golden_out.raw ({3}x{4}): the integer engine's output\n", a.out,
               gw, gh, gw * q.cfg.scale, gh * q.cfg.scale);
  }
  return 0;
}

}  // namespace

int cmd_export(const ExportArgs& a) {
  QSR_CHECK(a.format == "c" || a.format == "engine", "--format " + a.format + ": expected c or engine");
  QSR_CHECK(quant::is_quant_checkpoint(a.model), a.model + ": not a quantised model (qsr quantize or qsr train --qat make one)");
  int gw = 0, gh = 0;
  char tail = 0;
  const std::string golden = a.golden.empty() ? (a.format == "c" ? "37x23" : "") : a.golden;
  QSR_CHECK(golden.empty() ||
                (std::sscanf(golden.c_str(), "%dx%d%c", &gw, &gh, &tail) == 2 && gw >= 1 && gh >= 1 && gw <= 1024 && gh <= 1024),
            "--golden " + golden + ": expected WxH, e.g. 37x23");
  const quant::QuantModel q = quant::load_quant_model(a.model);
  if (a.format == "engine") return export_engine(a, q, gw, gh);
  const quant::CExport e = quant::export_c(q, a.name, a.width, gw, gh, a.seed, a.weight_storage == "packed");
  std::filesystem::create_directories(a.out);
  const std::filesystem::path d(a.out);
  write_file_atomic((d / (a.name + ".h")).string(), e.header);
  write_file_atomic((d / (a.name + ".c")).string(), e.source);
  write_file_atomic((d / (a.name + "_golden.h")).string(), e.golden);
  write_file_atomic((d / (a.name + "_check.c")).string(), e.check);
  nlohmann::json side = e.sidecar;
  // Flash: the const data, and the code when a C compiler is at hand to measure it (cc -Os).
  std::string code = "unknown (no cc to compile it)";
  if (std::system("command -v cc > /dev/null 2>&1 && command -v size > /dev/null 2>&1") == 0) {
    const std::string obj = (d / (a.name + ".o.tmp")).string(), txt = (d / (a.name + ".size.tmp")).string();
    const std::string cmd = "cc -std=c99 -Os -c '" + (d / (a.name + ".c")).string() + "' -o '" + obj + "' && size -A '" + obj + "' > '" + txt + "'";
    if (std::system(cmd.c_str()) == 0) {
      std::ifstream in(txt);
      int64_t text = 0, rodata = 0;
      for (std::string line; std::getline(in, line);) {  // "section size addr" per line, after a header
        std::istringstream ls(line);
        std::string sec;
        int64_t sz = 0;
        if (!(ls >> sec >> sz)) continue;
        if (sec == ".text") text += sz;
        if (sec.rfind(".rodata", 0) == 0) rodata += sz;
      }
      side["code_bytes"] = text;
      side["rodata_bytes"] = rodata;
      code = fmt::format("{} bytes of code (cc -Os, .text), {} bytes of const data (.rodata)", text, rodata);
    }
    std::filesystem::remove(obj);
    std::filesystem::remove(txt);
  }
  write_file_atomic((d / (a.name + ".json")).string(), side.dump(1) + "\n");
  fmt::print("{}: {} ({})\n  flash: {} bytes of weights and requantisation constants; {}\n"
             "  RAM: {} bytes of arena for {}-pixel-wide rows (line buffers; any height), plus the caller's input and output\n"
             "wrote {}/{}.h, {}.c, {}_golden.h ({}x{}), {}_check.c, {}.json\n",
             a.model, q.mode, q.cfg.describe(), e.weight_bytes, code, e.arena_bytes, a.width, a.out, a.name, a.name, a.name, gw, gh,
             a.name, a.name);
  return 0;
}

}  // namespace qsr::cli
