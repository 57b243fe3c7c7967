// qsr: the command-line program. Thin: parse arguments, call the library, print.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

#include "engine/cpu.h"
#include "engine/kernels/f32/f32_kernels.h"
#include "engine/ops.h"
#include "engine/optim.h"
#include "engine/parallel.h"
#include "engine/random.h"
#include "models/checkpoint.h"
#include "models/dataset.h"
#include "models/espcn.h"
#include "models/evaluate.h"
#include "models/train.h"
#include "models/upscale.h"
#include "quant/ptq/gptq.h"
#include "quant/qat/qat.h"
#include "quant/ptq/qmodel.h"
#include "quant/lower/int_engine.h"
#include "engine/kernels/int/int_kernels.h"
#include "tools/run_cmds.h"
#include "models/train_source.h"
#include "quant/lower/network.h"
#include "quant/study/study.h"

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

std::vector<int> parse_int_list(const std::string& s, const char* what) {
  std::vector<int> v;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t e = s.find(',', pos);
    std::string item = s.substr(pos, e == std::string::npos ? std::string::npos : e - pos);
    try {
      size_t used = 0;
      int x = std::stoi(item, &used);
      if (used != item.size()) throw std::invalid_argument(item);
      v.push_back(x);
    } catch (const std::exception&) {
      throw Error(std::string("bad ") + what + " '" + s + "': expected comma-separated integers");
    }
    if (e == std::string::npos) break;
    pos = e + 1;
  }
  return v;
}

struct TrainArgs {
  std::string data, protocol = "bsds", out, features = "64,64,32", kernels = "5,3,3,3", activation = "relu",
                    downscale = "bicubic", lr_schedule = "constant", monitor = "loss";
  int scale = 3, epochs = 100, batch = 8, steps = 0, patience = 10, crop = 300;
  float lr = 1e-3f, lr_min = 0.f;
  uint64_t seed = 1337;
  bool resume = false, whole_image = false, flips = false, no_last_act = false, quiet = false;
  // Fine-tuning and quantisation-aware training.
  std::string from, qat, qat_layers, qat_observer = "ema";
  float qat_observer_option = NAN;
  int64_t qat_freeze_after = -1;  // -1: half of the run's steps
  bool qat_learn_scale = false;
};

int cmd_train(const TrainArgs& a, const std::string& command_line) {
  EspcnConfig cfg;
  cfg.scale = a.scale;
  cfg.features = parse_int_list(a.features, "--features");
  cfg.kernels = parse_int_list(a.kernels, "--kernels");
  cfg.activation = parse_activation(a.activation);
  cfg.activate_last = !a.no_last_act;
  cfg.validate();
  // QAT options and --from are checked before the data is read.
  QSR_CHECK(!a.qat.empty() || (a.qat_layers.empty() && !a.qat_learn_scale && a.qat_freeze_after < 0 &&
                               std::isnan(a.qat_observer_option) && a.qat_observer == "ema"),
            "the --qat-* options need --qat MODE");
  quant::QatOptions qo;
  if (!a.qat.empty()) {
    qo.mode = a.qat;
    qo.layers = a.qat_layers.empty() ? "all" : a.qat_layers;
    qo.observer = a.qat_observer;
    qo.observer_option = a.qat_observer_option;
    qo.learn_scale = a.qat_learn_scale;
    qo.freeze_after = std::max<int64_t>(a.qat_freeze_after, 0);
    quant::QatModel check(cfg, qo);  // a bad mode, layer list or observer is an error now
  }
  std::unique_ptr<Espcn> from;
  std::optional<quant::QuantModel> from_quant;
  if (!a.from.empty()) {
    // A quantised checkpoint gives its effective (rounded) weights, and to QAT its calibrated
    // activation grids: QAT starts where post-training quantisation ended.
    if (quant::is_quant_checkpoint(a.from)) {
      from_quant = quant::load_quant_model(a.from);
      from = from_quant->float_model();
    } else {
      from = load_model(a.from);
    }
    QSR_CHECK(from->config().describe() == cfg.describe(),
              fmt::format("--from {}: the checkpoint's architecture ({}) differs from the requested one ({}); pass "
                          "matching --scale/--features/--kernels/--activation",
                          a.from, from->config().describe(), cfg.describe()));
  }
  if (from_quant && !a.qat.empty()) quant::QatModel(cfg, qo).adopt_grids(*from_quant, "--from " + a.from);  // checked before the data is read
  DatasetOptions dopt;
  dopt.protocol = parse_dataset_protocol(a.protocol);
  dopt.scale = a.scale;
  dopt.crop = a.crop;
  dopt.whole_image = a.whole_image;
  dopt.flips = a.flips;
  dopt.downscale = parse_downscale(a.downscale);
  dopt.split_seed = 1337;
  dopt.validate();
  Dataset ds = load_dataset(a.data, dopt);
  if (!ds.warning.empty()) fmt::print(stderr, "warning: {}\n", ds.warning);
  if (!a.quiet) fmt::print(stderr, "{} (decoded in {:.1f}s)\n", ds.describe(), ds.load_seconds);
  const std::vector<ValItem> val = validation_items(ds);
  Espcn model(cfg);
  model.init_orthogonal(a.seed);
  if (from) {  // fine-tune: start from its weights
    auto dst = model.named_parameters();
    auto srcp = from->named_parameters();
    for (size_t i = 0; i < dst.size(); ++i) dst[i].second.value() = srcp[i].second.value().clone();
  }
  SamplerSource src(ds, a.batch, a.steps);
  std::shared_ptr<quant::QatModel> qat;
  if (!a.qat.empty()) {
    // Default freeze point: half of the run's training steps; a resumed run keeps its own.
    qo.freeze_after = a.qat_freeze_after >= 0 ? a.qat_freeze_after : int64_t(a.epochs) * src.steps_per_epoch() / 2;
    const std::string last = (a.out.empty() ? fmt::format("runs/espcn_x{}_{}", a.scale, a.protocol) : a.out) + "/last.safetensors";
    if (a.resume && a.qat_freeze_after < 0 && std::filesystem::exists(last)) {
      const Checkpoint c = load_safetensors(last);
      if (c.meta.contains("qat") && c.meta["qat"].contains("freeze_after"))
        qo.freeze_after = c.meta["qat"]["freeze_after"].get<int64_t>();
    }
    qat = std::make_shared<quant::QatModel>(cfg, qo);
    model.hooks = qat;
    if (from_quant) qat->adopt_grids(*from_quant, "--from " + a.from);  // its calibrated grids, frozen (a resumed run then loads its own state)
  }
  TrainOptions o;
  o.epochs = a.epochs;
  o.patience = a.patience;
  o.monitor = a.monitor;
  o.lr = a.lr;
  o.lr_schedule = a.lr_schedule;
  o.lr_min = a.lr_min;
  o.seed = a.seed;
  o.out_dir = a.out.empty() ? fmt::format("runs/espcn_x{}_{}", a.scale, a.protocol) : a.out;
  o.resume = a.resume;
  o.progress = !a.quiet;
  o.meta = {{"data", {{"protocol", a.protocol},
                      {"root", a.data},
                      {"crop", a.crop},
                      {"whole_image", a.whole_image},
                      {"flips", a.flips},
                      {"downscale", a.downscale},
                      {"train_images", ds.train.size()},
                      {"val_images", ds.val.size()}}},
            {"batch", a.batch},
            {"steps_per_epoch", src.steps_per_epoch()},
            {"threads", num_threads()},
            {"command", command_line}};
  if (!a.from.empty()) o.meta["from"] = a.from;
  o.extension = qat.get();
  if (!a.quiet)
    fmt::print(stderr, "{}\ntraining: {} epochs x {} steps of batch {}, Adam lr {}{}, seed {}, {} threads -> {}\n",
               cfg.describe(), a.epochs, src.steps_per_epoch(), a.batch, a.lr,
               a.lr_schedule == "cosine" ? fmt::format(" (cosine to {})", a.lr_min) : std::string(), a.seed, num_threads(), o.out_dir);
  if (!a.quiet && from) fmt::print(stderr, "fine-tuning {}\n", a.from);
  if (!a.quiet && qat) fmt::print(stderr, "{}\n", qat->describe());
  TrainResult r = train_espcn(model, src, val, o);
  double total = 0;
  for (auto& e : r.history) total += e.seconds;
  fmt::print("{}: {} epochs ({}), best loss {:.6g} at epoch {}, {:.1f}s training; model: {}\n", r.stop_reason,
             r.history.size(), o.out_dir, r.best_loss, r.best_epoch, total, r.best_path);
  if (qat && r.stop_reason != "interrupted" && r.best_epoch > 0) {
    // The model and the QAT state now hold the best epoch's: export them (no re-calibration).
    const std::string qpath = o.out_dir + "/quant.safetensors";
    quant::QuantModel q = quant::export_quant_model(model, *qat);
    nlohmann::json meta = {{"source_model", r.best_path}, {"qat", qat->state()}, {"command", command_line}};
    quant::save_quant_model(qpath, q, meta);
    if (!a.quiet) fmt::print(stderr, "{}\n", q.describe());
    fmt::print("quantised model (QAT {}, epoch {}): {}\n", a.qat, r.best_epoch, qpath);
  }
  return r.stop_reason == "interrupted" ? 130 : 0;
}

// The shipped x3 model, used when --model is omitted: $QSR_MODEL if set, else
// models/pretrained/espcn_x3.safetensors under the working directory, else
// under the source tree this binary was built from.
constexpr const char* kPretrained = "models/pretrained/espcn_x3.safetensors";

std::string resolve_model(const std::string& given, int scale) {
  if (!given.empty()) return given;
  if (const char* env = std::getenv("QSR_MODEL"); env && *env) return env;
  QSR_CHECK(scale == 0 || scale == 3,
            fmt::format("no pretrained model for x{} ships with qsr (only x3); pass --model", scale));
  for (const std::string& p : {std::string(kPretrained), std::string(QSR_SOURCE_DIR) + "/" + kPretrained}) {
    if (std::filesystem::exists(p)) {
      fmt::print(stderr, "model: {} (the shipped x3 model; --model picks another)\n", p);
      return p;
    }
  }
  throw Error(fmt::format("no --model given and the shipped model {} was not found (looked in . and {}); pass --model",
                          kPretrained, QSR_SOURCE_DIR));
}

int cmd_info_model(const std::string& path) {
  if (quant::is_quant_checkpoint(path)) {
    const quant::QuantModel q = quant::load_quant_model(path);
    fmt::print("{}: {}\n", path, q.describe());
    try {  // how the native engine runs it
      fmt::print("{}", quant::IntEngine(q).describe());
    } catch (const Error& e) {
      fmt::print("the native engine cannot run this model ({}); eval, upscale and bench need --simulate\n", e.what());
    }
    return 0;
  }
  Checkpoint raw;
  std::unique_ptr<Espcn> m = load_model(path, &raw);
  int64_t params = 0, bytes = 0;
  fmt::print("{}: float ESPCN x{} ({})\n", path, m->config().scale, m->config().describe());
  for (auto& [name, v] : m->named_parameters()) {
    params += v.value().numel();
    bytes += int64_t(v.value().nbytes());
    fmt::print("  {:<14s} {:<16s} f32\n", name, shape_str(v.value().shape()));
  }
  fmt::print("  {} parameters, {} bytes as f32; {} MAC per low-res pixel\n", params, bytes, m->config().macs_per_lr_pixel());
  if (raw.meta.contains("trained")) fmt::print("  trained: {}\n", raw.meta["trained"].dump());
  if (raw.meta.contains("command")) fmt::print("  command: {}\n", raw.meta["command"].get<std::string>());
  return 0;
}

struct QuantizeArgs {
  std::string model, out, calib, layers = "all", observer = "minmax", rounding = "half_even";
  std::string weight_rounding = "gptq";
  quant::QuantRequest req;
  int calib_images = 8;
  bool per_tensor = false;
  float observer_option = NAN;
};

int cmd_quantize(QuantizeArgs a) {
  std::unique_ptr<Espcn> fm;
  Checkpoint raw;
  fm = load_model(a.model, &raw);
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
  std::string calib = a.calib;
  if (q.needs_calibration() || gptq) {
    if (calib.empty() && raw.meta.contains("data") && raw.meta["data"].contains("root"))
      calib = raw.meta["data"]["root"].get<std::string>();
    QSR_CHECK(!calib.empty(), "mode " + a.req.mode + (gptq ? " with --weight-rounding gptq" : "") +
                                  " needs calibration images: pass --calib DIR" +
                                  (gptq && !q.needs_calibration() ? " (or --weight-rounding nearest)" : ""));
    auto t = Clock::now();
    std::vector<Tensor> inputs = quant::calibration_inputs(calib, fm->config().scale, a.calib_images);
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
  }
  nlohmann::json meta = {{"source_model", a.model},   {"calibration", calib},
                         {"calibration_images", a.calib_images}, {"observer", a.observer},
                         {"weight_rounding", gptq ? "gptq" : "nearest"}};
  quant::save_quant_model(a.out, q, meta);
  fmt::print("{}\nwrote {}\n", q.describe(), a.out);
  return 0;
}

int cmd_eval(const std::string& model_path, const std::string& data, const std::string& protocol, int scale, bool all,
             bool json, int tile, bool simulate) {
  quant::LoadedNet ln = quant::load_network(resolve_model(model_path, scale), simulate);
  const int r = ln.net.cfg.scale;
  QSR_CHECK(scale == 0 || scale == r, fmt::format("--scale {} does not match the model's scale {}", scale, r));
  EvalOptions eo;
  eo.protocol = parse_eval_protocol(protocol);
  eo.scale = r;
  eo.all = all;
  Upscaler up = [&](const Tensor& x) { return upscale_tensor(ln.net, x, tile); };
  EvalResult res = evaluate(data, eo, up);
  if (json) {
    fmt::print("{}\n", eval_result_json(res));
    return 0;
  }
  fmt::print("{:<24s} {:>12s} {:>12s} {:>10s} {:>10s} {:>9s}\n", "image", "PSNR bicubic", "PSNR model", "SSIM bic.",
             "SSIM model", "ms");
  for (auto& im : res.images)
    fmt::print("{:<24s} {:>12.4f} {:>12.4f} {:>10.4f} {:>10.4f} {:>9.1f}\n", im.name, im.psnr_bicubic, im.psnr_model,
               im.ssim_bicubic, im.ssim_model, im.seconds * 1e3);
  fmt::print("{:<24s} {:>12.4f} {:>12.4f} {:>10.4f} {:>10.4f}\n", "mean", res.mean_psnr_bicubic, res.mean_psnr_model,
             res.mean_ssim_bicubic, res.mean_ssim_model);
  fmt::print("protocol {}, x{}, {} images: model {:+.4f} dB over bicubic\n", res.protocol, r, res.images.size(),
             res.mean_psnr_model - res.mean_psnr_bicubic);
  return 0;
}

int cmd_upscale(const std::string& model_path, const std::string& in, const std::string& out, int tile, bool simulate) {
  quant::LoadedNet ln = quant::load_network(resolve_model(model_path, 0), simulate);
  Image im = load_image(in);
  auto t = Clock::now();
  Image up = upscale_image(ln.net, im, tile);
  double s = seconds_since(t);
  save_png(up, out);
  fmt::print("{} ({}x{}) -> {} ({}x{}) in {:.1f} ms\n", in, im.width, im.height, out, up.width, up.height, s * 1e3);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"qsr: train, quantise and run ESPCN super-resolution networks at any word length"};
  app.set_version_flag("--version", [] { return std::string("qsr ") + QSR_VERSION + "\n" + cpu_report(); });
  int threads = 0;
  app.add_option("--threads,-t", threads, "threads to use (default: all cores)")->check(CLI::PositiveNumber);
  app.require_subcommand(1);
  app.fallthrough();  // --threads may also follow the subcommand

  auto* info = app.add_subcommand("info", "print the CPU features, the kernel path in use and the thread count; with a model file, its layers, formats and size");
  std::string info_model;
  info->add_option("model", info_model, "a float or quantised checkpoint (.safetensors)");

  auto* demo = app.add_subcommand("demo", "train a small ESPCN on synthetic images for a few steps, then time inference");
  int steps = 60, batch = 8, patch = 32;
  std::string size = "640x360";
  uint64_t seed = 1337;
  demo->add_option("--steps", steps, "training steps")->check(CLI::PositiveNumber);
  demo->add_option("--batch", batch, "batch size")->check(CLI::PositiveNumber);
  demo->add_option("--patch", patch, "low-res training patch side")->check(CLI::Range(4, 512));
  demo->add_option("--size", size, "low-res frame size WxH for the inference timing");
  demo->add_option("--seed", seed, "random seed");

  TrainArgs ta;
  auto* train = app.add_subcommand("train", "train an ESPCN on a folder of images (Adam, MSE, early stopping, resumable)");
  train->add_option("--data", ta.data, "dataset folder: BSDS500 root (images/{train,val,test}) or any folder of images")
      ->required();
  train->add_option("--protocol", ta.protocol, "bsds (train/val/test folders, crops, bicubic LR) or keras (the Keras example's 80/20 split of every image, 300x300 bilinear, area LR)")
      ->check(CLI::IsMember({"bsds", "keras"}));
  train->add_option("--scale", ta.scale, "upscaling factor r")->check(CLI::Range(2, 4));
  train->add_option("--epochs", ta.epochs, "maximum epochs")->check(CLI::PositiveNumber);
  train->add_option("--batch", ta.batch, "batch size")->check(CLI::PositiveNumber);
  train->add_option("--steps-per-epoch", ta.steps, "steps per epoch (0: training images / batch, as Keras)")->check(CLI::NonNegativeNumber);
  train->add_option("--lr", ta.lr, "Adam learning rate")->check(CLI::PositiveNumber);
  train->add_option("--lr-schedule", ta.lr_schedule, "constant (Keras) or cosine: per-step cosine decay from --lr to --lr-min over all epochs")
      ->check(CLI::IsMember({"constant", "cosine"}));
  train->add_option("--lr-min", ta.lr_min, "final learning rate of the cosine schedule")->check(CLI::NonNegativeNumber);
  train->add_option("--seed", ta.seed, "seed: same seed and thread count give the same run");
  train->add_option("--patience", ta.patience, "early stopping: epochs without a better --monitor value (0: off)")->check(CLI::NonNegativeNumber);
  train->add_option("--monitor", ta.monitor, "what picks the best epoch and drives early stopping: loss (training loss, as Keras; default) or val_psnr")
      ->check(CLI::IsMember({"loss", "val_psnr"}));
  train->add_option("--crop", ta.crop, "high-res training size (crop or resize target)")->check(CLI::PositiveNumber);
  train->add_flag("--whole-image", ta.whole_image, "bsds: resize whole images instead of random crops");
  train->add_flag("--flips", ta.flips, "bsds: random horizontal and vertical flips");
  train->add_option("--downscale", ta.downscale, "bsds: how the low-res input is made")->check(CLI::IsMember({"bicubic", "area"}));
  train->add_option("--features", ta.features, "hidden conv widths");
  train->add_option("--kernels", ta.kernels, "kernel size of every conv (one more than --features)");
  train->add_option("--activation", ta.activation, "relu or tanh")->check(CLI::IsMember({"relu", "tanh"}));
  train->add_flag("--no-last-activation", ta.no_last_act, "no activation on the last conv");
  train->add_option("--out", ta.out, "output folder (default runs/espcn_x<r>_<protocol>): best.safetensors, last.safetensors, log.csv, log.jsonl, training.png");
  train->add_flag("--resume", ta.resume, "continue the run in --out from last.safetensors (Ctrl-C saves it)");
  train->add_flag("--quiet,-q", ta.quiet, "no progress output");
  train->add_option("--from", ta.from, "checkpoint to fine-tune (same architecture): its weights replace the initialisation; a quantised "
                 "checkpoint (qsr quantize) gives its rounded weights (e.g. GPTQ's) and, with --qat, its calibrated "
                 "activation grids (kept frozen)");
  train->add_option("--qat", ta.qat,
                    "quantisation-aware training in MODE, as qsr quantize --mode: int8 | int16x8 | wNaM | wN | aM | qM.N; "
                    "writes OUT/quant.safetensors (the quantised model) at the end");
  train->add_option("--qat-layers", ta.qat_layers, "convs to train quantised: all (default), or a list like conv1,conv3 or 2,4");
  train->add_option("--qat-observer", ta.qat_observer, "activation range observer during QAT: ema (moving average, default) or minmax")
      ->check(CLI::IsMember({"ema", "minmax"}));
  train->add_option("--qat-observer-option", ta.qat_observer_option, "ema: the decay in [0, 1) (default 0.99)");
  train->add_option("--qat-freeze-after", ta.qat_freeze_after,
                    "training steps after which the activation ranges freeze (default: half of the run's steps, kept on --resume; 0: never)")
      ->check(CLI::NonNegativeNumber);
  train->add_flag("--qat-learn-scale", ta.qat_learn_scale, "learn the activation scales (LSQ), initialised by the observer");

  auto* eval = app.add_subcommand("eval", "PSNR/SSIM of a model against bicubic under the keras or y protocol");
  std::string model_path, eval_data, eval_protocol = "y";
  int eval_scale = 0, tile = 256;
  bool eval_all = false, eval_json = false;
  eval->add_option("--model", model_path, "model checkpoint (.safetensors); default: $QSR_MODEL, else the shipped x3 model models/pretrained/espcn_x3.safetensors");
  eval->add_option("--data", eval_data, "y: a folder of images (e.g. Set5); keras: the BSDS500 root or its test folder")->required();
  eval->add_option("--protocol", eval_protocol, "keras (the Keras example's procedure) or y (standard SR: MATLAB Y, bicubic, shave r)")
      ->check(CLI::IsMember({"keras", "y"}));
  eval->add_option("--scale", eval_scale, "must match the model (default: the model's)");
  eval->add_flag("--all", eval_all, "keras: every test image instead of sorted [50:60]");
  eval->add_flag("--json", eval_json, "print one JSON object");
  eval->add_option("--tile", tile, "low-res tile size for large images (0: whole image)")->check(CLI::NonNegativeNumber);

  auto* upscale = app.add_subcommand("upscale", "upscale an image (PNG or JPEG in, PNG out)");
  std::string up_in, up_out;
  upscale->add_option("--model", model_path, "model checkpoint (.safetensors); default: $QSR_MODEL, else the shipped x3 model models/pretrained/espcn_x3.safetensors");
  upscale->add_option("input", up_in, "input image")->required();
  upscale->add_option("output", up_out, "output PNG")->required();
  upscale->add_option("--tile", tile, "low-res tile size (0: whole image); the result does not depend on it")->check(CLI::NonNegativeNumber);
  bool simulate = false;
  const char* simulate_help =
      "quantised models: run the reference execution (quant/ptq/qmodel.h) instead of the integer engine (the default); "
      "both give the same numbers (qsr verify checks it), the engine much faster";
  eval->add_flag("--simulate", simulate, simulate_help);
  upscale->add_flag("--simulate", simulate, simulate_help);

  cli::BenchArgs ba;
  auto* bench = app.add_subcommand("bench", "time a float or quantised checkpoint on one frame: median of repeated runs after warm-up");
  bench->add_option("--model", ba.model, "checkpoint (.safetensors): float models run on the f32 engine, quantised ones on the integer engine")
      ->required();
  bench->add_option("--size", ba.size, "low-res frame size WxH (default 640x360, a 1920x1080 output at x3)");
  bench->add_option("--runs", ba.runs, "timed runs; the median is reported (default 10)")->check(CLI::Range(1, 100000));
  bench->add_option("--warmup", ba.warmup, "untimed runs first (default 2)")->check(CLI::Range(0, 100000));
  bench->add_flag("--layers", ba.layers, "also time each conv (integer engine)");
  bench->add_flag("--json", ba.json, "print one JSON object: model, mode, engine, isa, [kernels], threads, size, runs, median_ms, min_ms, macs, gmacs (GMAC/s), [layers]");
  bench->add_flag("--simulate", simulate, simulate_help);

  cli::VerifyArgs va;
  auto* verify = app.add_subcommand("verify",
                                    "check that a quantised model's integer engine gives exactly the reference execution's "
                                    "numbers, on random inputs and on images; exit status 1 on any mismatch");
  verify->add_option("model", va.model, "quantised checkpoint (.safetensors)")->required();
  verify->add_option("--data", va.data, "also a folder of images (a BSDS500 root uses images/train), fed as the y protocol's low-res inputs");
  verify->add_option("--images", va.images, "at most this many images of --data (default 8)")->check(CLI::PositiveNumber);
  verify->add_option("--random", va.random, "random inputs of assorted sizes, from 1x1 to 100x100 and 130x17 (default 6)")->check(CLI::NonNegativeNumber);
  verify->add_option("--seed", va.seed, "seed of the random inputs");
  verify->add_flag("--json", va.json, "print one JSON object (per input: values, mismatches, max_code_diff, max_abs_diff; totals; exact)");

  QuantizeArgs qa;
  auto* quantize = app.add_subcommand("quantize", "post-training quantisation of a float model (any mode, word length and layer set)");
  quantize->add_option("--model", qa.model, "float model checkpoint")->required();
  quantize->add_option("--mode", qa.req.mode,
                       "float16 | bfloat16 | dynamic-range (int8 weights, float activations) | int8 (full integer) | "
                       "int16x8 (int16 activations, int8 weights) | wNaM (N-bit weights, M-bit activations) | wN "
                       "(weights only) | aM (activations only) | qM.N (fixed point, M integer bits with sign, N fraction bits) | wW1.W2...aA0.A1... (mixed precision: conv i's weights at Wi bits, activation tensor j -- a0 the input, then each conv's output -- at Aj bits, e.g. w8.6.6.8a8.8.6.8.8)")
      ->required();
  quantize->add_option("--layers", qa.layers, "convs to quantise: all, or a list like conv1,conv3 or 2,4 (the others stay float)");
  quantize->add_option("--calib", qa.calib, "calibration images: a folder (a BSDS500 root uses images/train); default: the model's training data");
  quantize->add_option("--calib-images", qa.calib_images, "calibration images to use (the first N, sorted)")->check(CLI::PositiveNumber);
  quantize->add_option("--observer", qa.observer, "activation range observer: minmax, ema, percentile or mse");
  quantize->add_option("--observer-option", qa.observer_option, "percentile: the percentile (default 99.99); ema: the decay");
  quantize->add_flag("--per-tensor", qa.per_tensor, "one weight scale per tensor instead of per output channel");
  quantize->add_option("--rounding", qa.rounding, "half_even (default) or half_away")->check(CLI::IsMember({"half_even", "half_away"}));
  quantize->add_option("--weight-rounding", qa.weight_rounding,
                       "integer weights: gptq (default; output-aware: each rounding error compensated by the weights not "
                       "yet rounded, using the calibration images, plus bias correction) or nearest (each weight to its "
                       "nearest code, no images needed)")
      ->check(CLI::IsMember({"nearest", "gptq"}));
  quantize->add_option("--out", qa.out, "output checkpoint (.safetensors)")->required();

  cli::ExportArgs xa;
  auto* exp = app.add_subcommand(
      "export",
      "a quantised model for embedding (docs/EMBEDDED.md): --format c writes self-contained integer-only C99 (line-buffered "
      "forward, golden vectors, JSON sidecar for hardware); --format engine writes the integer engine's lowering for the "
      "inference-only library qsr_infer (quant/infer/qsr_infer.h)");
  exp->add_option("--format", xa.format, "c (default) or engine")->check(CLI::IsMember({"c", "engine"}));
  exp->add_option("--model", xa.model, "quantised checkpoint (every conv on the integer path: int8, int16x8, wNaM, qM.N)")->required();
  exp->add_option("--out", xa.out, "c: output folder (NAME.h, NAME.c, NAME_golden.h, NAME_check.c, NAME.json); engine: the model file, e.g. espcn.qsri")->required();
  exp->add_option("--name", xa.name, "c: C identifier prefix (default espcn)");
  exp->add_option("--width", xa.width, "low-res row width the reported arena is for (default 640)")->check(CLI::Range(1, 1 << 20));
  exp->add_option("--golden", xa.golden, "low-res size of the golden vectors, WxH (c: default 37x23; engine: OUT.golden_in.raw and OUT.golden_out.raw, 8-bit luma, only when given)");
  exp->add_option("--seed", xa.seed, "seed of the golden input");
  exp->add_option("--weight-storage", xa.weight_storage,
                  "c: packed (default: weights of at most 4 bits two per byte, half the flash, unpacked in the inner loop) "
                  "or bytes (one per int8_t: faster)")
      ->check(CLI::IsMember({"packed", "bytes"}));
  exp->add_option("--isa", xa.isa, "engine: the kernel layouts to lower for: avx2 (default; runs on AVX2 and scalar kernels), avx512 (AVX-512 VNNI and scalar) or scalar (no Winograd: smaller)")
      ->check(CLI::IsMember({"avx2", "avx512", "scalar"}));

  cli::StudyArgs sa;
  auto* study = app.add_subcommand(
      "study",
      "the comparison, measured: float, post-training dynamic-range / float16 / int8 / int16x8 and QAT of the whole model "
      "and of every layer subset, word-length sweeps, fixed point, per-layer sensitivity, automatic mixed precision; "
      "PSNR/SSIM, frame time, weight bytes, training curves, a visual comparison; resumable, shardable (docs/STUDY.md)");
  study->add_option("--data", sa.data, "a folder holding Set5/, Set14/ and BSDS500/ (as ../shared/data)");
  study->add_option("--out", sa.out, "output folder: rows/<id>.json (one per row, kept between runs), study.json, README.md, results.csv, results.json");
  study->add_option("--budget", sa.budget_db, "the summary's PSNR budget: the fastest row and the shortest word length within this many dB of float on Set5 (default 0.1)")
      ->check(CLI::NonNegativeNumber);
  study->add_option("--shard", sa.shard, "i/N: run only rows i-1, i-1+N, ... (a cluster job array runs N of them; then `qsr study merge`)");
  std::vector<std::string> merge_dirs;
  auto* merge = study->add_subcommand("merge", "join shards: copy the rows of the other study folders into the first and write its report");
  merge->add_option("dirs", merge_dirs, "study folders (same settings); the first receives the rows")->required();
  study->add_option("--from", sa.from, "the float model (default: the shipped x3 model)");
  study->add_flag("--quick", sa.quick, "a few minutes: the whole model only, bits 4 and 8, one fixed-point format, sensitivity at 4 bits, short QAT, Set5 only, 100x100 frames");
  study->add_option("--calib-images", sa.calib_images, "BSDS500 training images to calibrate on (default 8)")->check(CLI::PositiveNumber);
  study->add_option("--weight-rounding", sa.weight_rounding, "nearest (default) or gptq")->check(CLI::IsMember({"nearest", "gptq"}));
  study->add_flag("--no-qat", [&](int64_t) { sa.qat = false; }, "no training rows (float fine-tuning, QAT)");
  study->add_option("--qat-mode", sa.qat_mode, "the QAT rows' mode, as qsr train --qat (default int8, i.e. W8A8)");
  study->add_option("--qat-layers", sa.qat_layers,
                    "QAT layer sets, comma-separated, each all or conv numbers like 23 (default: all and every non-empty subset; --quick: all)");
  study->add_option("--qat-bits", sa.qat_bits, "the QAT word-length sweep: wNaN of the whole model for these N (default 3,4,5,6; --quick: 4), or none");
  study->add_option("--qat-epochs", sa.qat_epochs, "QAT (and float fine-tuning) epochs per row (default 4; --quick: 2)")->check(CLI::PositiveNumber);
  study->add_option("--qat-steps", sa.qat_steps, "steps per epoch (default 25; --quick: 10)")->check(CLI::PositiveNumber);
  study->add_option("--qat-batch", sa.qat_batch, "batch size (default 32)")->check(CLI::PositiveNumber);
  study->add_option("--qat-crop", sa.qat_crop, "high-res training crop side, a multiple of the scale (default 144)")->check(CLI::PositiveNumber);
  study->add_option("--qat-lr", sa.qat_lr, "Adam learning rate of the layer-set rows, cosine decay to 1/100 (default 1e-4)")->check(CLI::PositiveNumber);
  study->add_option("--qat-sweep-lr", sa.qat_sweep_lr, "the same for the word-length sweep's rows (default 3e-4)")->check(CLI::PositiveNumber);
  study->add_flag("--qat-learn-scale", sa.qat_learn_scale, "learn the activation scales (LSQ) in QAT");
  study->add_flag("--no-mixed", [&](int64_t) { sa.mixed = false; }, "no automatic mixed-precision row");
  study->add_option("--train-float", sa.train_float,
                    "train the float baseline first, by the Keras example's recipe for this many epochs (100 is the example's; "
                    "about 7 s per epoch on 2 cores), instead of using --from")
      ->check(CLI::PositiveNumber);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    if (threads > 0) set_num_threads(threads);
    active_isa();  // resolve QSR_ISA now so a bad value is reported up front
    const ConvAlgo conv = conv_algo_from_env();  // likewise QSR_CONV
    if (*info && !info_model.empty()) return cmd_info_model(info_model);
    if (*info) {
      fmt::print("qsr {}\n{}", QSR_VERSION, cpu_report());
      fmt::print("3x3 convolutions: {} (QSR_CONV=direct|winograd|auto; auto: Winograd F(4x4,3x3) when training, direct for inference)\n",
                 conv_algo_name(conv));
      fmt::print("quantised models: the native engine, {} integer kernels (int16 pairs and u8 quads; QSR_ISA picks them too); "
                 "--simulate runs the reference execution\n",
                 quant::int_kernels().name);
      return 0;
    }
    if (*demo) return cmd_demo(steps, batch, patch, size, seed);
    if (*train) {
      std::string cl;
      for (int i = 0; i < argc; ++i) cl += (i ? " " : "") + std::string(argv[i]);
      return cmd_train(ta, cl);
    }
    if (*eval) return cmd_eval(model_path, eval_data, eval_protocol, eval_scale, eval_all, eval_json, tile, simulate);
    if (*quantize) return cmd_quantize(qa);
    if (*upscale) return cmd_upscale(model_path, up_in, up_out, tile, simulate);
    if (*bench) {
      ba.simulate = simulate;
      return cli::cmd_bench(ba);
    }
    if (*verify) return cli::cmd_verify(va);
    if (*exp) return cli::cmd_export(xa);
    if (*study) {
      if (*merge) return cli::cmd_study_merge(merge_dirs);
      QSR_CHECK(!sa.data.empty() && !sa.out.empty(), "qsr study needs --data DIR and --out DIR (see qsr study --help)");
      sa.from = resolve_model(sa.from, 0);
      return cli::cmd_study(sa);
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "qsr: error: {}\n", e.what());
    return 1;
  }
  return 0;
}
