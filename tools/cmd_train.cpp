// `qsr train`: train an ESPCN on a folder of images (Adam, MSE, early stopping, resumable),
// optionally fine-tuning a checkpoint and with quantisation-aware training.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <cmath>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/parallel.h"
#include "models/checkpoint.h"
#include "models/dataset.h"
#include "models/espcn.h"
#include "models/train.h"
#include "models/train_source.h"
#include "quant/ptq/qmodel.h"
#include "quant/qat/qat.h"
#include "tools/cli.h"

namespace qsr::cli {

namespace {

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

  std::string out_dir() const { return out.empty() ? fmt::format("runs/espcn_x{}_{}", scale, protocol) : out; }
};

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

EspcnConfig model_config(const TrainArgs& a) {
  EspcnConfig cfg;
  cfg.scale = a.scale;
  cfg.features = parse_int_list(a.features, "--features");
  cfg.kernels = parse_int_list(a.kernels, "--kernels");
  cfg.activation = parse_activation(a.activation);
  cfg.activate_last = !a.no_last_act;
  cfg.validate();
  return cfg;
}

// The QAT options as given (freeze_after settled later); a bad mode, layer list or observer
// is an error now, before the data is read.
quant::QatOptions qat_options(const TrainArgs& a, const EspcnConfig& cfg) {
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
    quant::QatModel check(cfg, qo);
  }
  return qo;
}

// --from: the checkpoint to fine-tune. A quantised checkpoint gives its effective (rounded)
// weights, and to QAT its calibrated activation grids: QAT starts where post-training
// quantisation ended.
struct FromModel {
  std::unique_ptr<Espcn> model;
  std::optional<quant::QuantModel> quant;
};

FromModel load_from(const TrainArgs& a, const EspcnConfig& cfg, const quant::QatOptions& qo) {
  FromModel f;
  if (a.from.empty()) return f;
  if (quant::is_quant_checkpoint(a.from)) {
    f.quant = quant::load_quant_model(a.from);
    f.model = f.quant->float_model();
  } else {
    f.model = load_model(a.from);
  }
  QSR_CHECK(f.model->config().describe() == cfg.describe(),
            fmt::format("--from {}: the checkpoint's architecture ({}) differs from the requested one ({}); pass "
                        "matching --scale/--features/--kernels/--activation",
                        a.from, f.model->config().describe(), cfg.describe()));
  if (f.quant && !a.qat.empty()) quant::QatModel(cfg, qo).adopt_grids(*f.quant, "--from " + a.from);  // checked before the data is read
  return f;
}

Dataset load_training_data(const TrainArgs& a) {
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
  return ds;
}

// The QAT state of the run: the default freeze point is half of the run's training steps; a
// resumed run keeps its own.
std::shared_ptr<quant::QatModel> make_qat(const TrainArgs& a, const EspcnConfig& cfg, quant::QatOptions qo,
                                          int64_t steps_per_epoch, const FromModel& from) {
  qo.freeze_after = a.qat_freeze_after >= 0 ? a.qat_freeze_after : int64_t(a.epochs) * steps_per_epoch / 2;
  const std::string last = a.out_dir() + "/last.safetensors";
  if (a.resume && a.qat_freeze_after < 0 && std::filesystem::exists(last)) {
    const Checkpoint c = load_safetensors(last);
    if (c.meta.contains("qat") && c.meta["qat"].contains("freeze_after"))
      qo.freeze_after = c.meta["qat"]["freeze_after"].get<int64_t>();
  }
  auto qat = std::make_shared<quant::QatModel>(cfg, qo);
  if (from.quant) qat->adopt_grids(*from.quant, "--from " + a.from);  // its calibrated grids, frozen (a resumed run then loads its own state)
  return qat;
}

TrainOptions train_options(const TrainArgs& a, const Dataset& ds, const SamplerSource& src, const std::string& command_line) {
  TrainOptions o;
  o.epochs = a.epochs;
  o.patience = a.patience;
  o.monitor = a.monitor;
  o.lr = a.lr;
  o.lr_schedule = a.lr_schedule;
  o.lr_min = a.lr_min;
  o.seed = a.seed;
  o.out_dir = a.out_dir();
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
  return o;
}

// The model and the QAT state now hold the best epoch's: export them (no re-calibration).
void export_qat(const TrainArgs& a, Espcn& model, quant::QatModel& qat, const TrainResult& r, const TrainOptions& o,
                const std::string& command_line) {
  const std::string qpath = o.out_dir + "/quant.safetensors";
  quant::QuantModel q = quant::export_quant_model(model, qat);
  nlohmann::json meta = {{"source_model", r.best_path}, {"qat", qat.state()}, {"command", command_line}};
  quant::save_quant_model(qpath, q, meta);
  if (!a.quiet) fmt::print(stderr, "{}\n", q.describe());
  fmt::print("quantised model (QAT {}, epoch {}): {}\n", a.qat, r.best_epoch, qpath);
}

int run_train(const TrainArgs& a, const Env& env) {
  const EspcnConfig cfg = model_config(a);
  const quant::QatOptions qo = qat_options(a, cfg);
  const FromModel from = load_from(a, cfg, qo);
  const Dataset ds = load_training_data(a);
  const std::vector<ValItem> val = validation_items(ds);
  Espcn model(cfg);
  model.init_orthogonal(a.seed);
  model.set_conv_algo(env.conv);
  if (from.model) {  // fine-tune: start from its weights
    auto dst = model.named_parameters();
    auto srcp = from.model->named_parameters();
    for (size_t i = 0; i < dst.size(); ++i) dst[i].second.value() = srcp[i].second.value().clone();
  }
  SamplerSource src(ds, a.batch, a.steps);
  std::shared_ptr<quant::QatModel> qat;
  if (!a.qat.empty()) model.hooks = qat = make_qat(a, cfg, qo, src.steps_per_epoch(), from);
  TrainOptions o = train_options(a, ds, src, env.command_line);
  o.extension = qat.get();
  if (!a.quiet)
    fmt::print(stderr, "{}\ntraining: {} epochs x {} steps of batch {}, Adam lr {}{}, seed {}, {} threads -> {}\n",
               cfg.describe(), a.epochs, src.steps_per_epoch(), a.batch, a.lr,
               a.lr_schedule == "cosine" ? fmt::format(" (cosine to {})", a.lr_min) : std::string(), a.seed, num_threads(), o.out_dir);
  if (!a.quiet && from.model) fmt::print(stderr, "fine-tuning {}\n", a.from);
  if (!a.quiet && qat) fmt::print(stderr, "{}\n", qat->describe());
  TrainResult r = train_espcn(model, src, val, o);
  double total = 0;
  for (auto& e : r.history) total += e.seconds;
  fmt::print("{}: {} epochs ({}), best loss {:.6g} at epoch {}, {:.1f}s training; model: {}\n", r.stop_reason,
             r.history.size(), o.out_dir, r.best_loss, r.best_epoch, total, r.best_path);
  if (qat && r.stop_reason != "interrupted" && r.best_epoch > 0) export_qat(a, model, *qat, r, o, env.command_line);
  return r.stop_reason == "interrupted" ? 130 : 0;
}

void add_data_options(CLI::App* sub, TrainArgs& a) {
  sub->add_option("--data", a.data, "dataset folder: BSDS500 root (images/{train,val,test}) or any folder of images")
      ->required();
  sub->add_option("--protocol", a.protocol, "bsds (train/val/test folders, crops, bicubic LR) or keras (the Keras example's 80/20 split of every image, 300x300 bilinear, area LR)")
      ->check(CLI::IsMember({"bsds", "keras"}));
  sub->add_option("--scale", a.scale, "upscaling factor r")->check(CLI::Range(2, 4));
  sub->add_option("--epochs", a.epochs, "maximum epochs")->check(CLI::PositiveNumber);
  sub->add_option("--batch", a.batch, "batch size")->check(CLI::PositiveNumber);
  sub->add_option("--steps-per-epoch", a.steps, "steps per epoch (0: training images / batch, as Keras)")->check(CLI::NonNegativeNumber);
  sub->add_option("--lr", a.lr, "Adam learning rate")->check(CLI::PositiveNumber);
  sub->add_option("--lr-schedule", a.lr_schedule, "constant (Keras) or cosine: per-step cosine decay from --lr to --lr-min over all epochs")
      ->check(CLI::IsMember({"constant", "cosine"}));
  sub->add_option("--lr-min", a.lr_min, "final learning rate of the cosine schedule")->check(CLI::NonNegativeNumber);
  sub->add_option("--seed", a.seed, "seed: same seed and thread count give the same run");
  sub->add_option("--patience", a.patience, "early stopping: epochs without a better --monitor value (0: off)")->check(CLI::NonNegativeNumber);
  sub->add_option("--monitor", a.monitor, "what picks the best epoch and drives early stopping: loss (training loss, as Keras; default) or val_psnr")
      ->check(CLI::IsMember({"loss", "val_psnr"}));
  sub->add_option("--crop", a.crop, "high-res training size (crop or resize target)")->check(CLI::PositiveNumber);
  sub->add_flag("--whole-image", a.whole_image, "bsds: resize whole images instead of random crops");
  sub->add_flag("--flips", a.flips, "bsds: random horizontal and vertical flips");
  sub->add_option("--downscale", a.downscale, "bsds: how the low-res input is made")->check(CLI::IsMember({"bicubic", "area"}));
}

void add_model_options(CLI::App* sub, TrainArgs& a) {
  sub->add_option("--features", a.features, "hidden conv widths");
  sub->add_option("--kernels", a.kernels, "kernel size of every conv (one more than --features)");
  sub->add_option("--activation", a.activation, "relu or tanh")->check(CLI::IsMember({"relu", "tanh"}));
  sub->add_flag("--no-last-activation", a.no_last_act, "no activation on the last conv");
  sub->add_option("--out", a.out, "output folder (default runs/espcn_x<r>_<protocol>): best.safetensors, last.safetensors, log.csv, log.jsonl, training.png");
  sub->add_flag("--resume", a.resume, "continue the run in --out from last.safetensors (Ctrl-C saves it)");
  sub->add_flag("--quiet,-q", a.quiet, "no progress output");
  sub->add_option("--from", a.from, "checkpoint to fine-tune (same architecture): its weights replace the initialisation; a quantised "
                 "checkpoint (qsr quantize) gives its rounded weights (e.g. GPTQ's) and, with --qat, its calibrated "
                 "activation grids (kept frozen)");
}

void add_qat_options(CLI::App* sub, TrainArgs& a) {
  sub->add_option("--qat", a.qat,
                  "quantisation-aware training in MODE, as qsr quantize --mode: int8 | int16x8 | wNaM | wN | aM | qM.N; "
                  "writes OUT/quant.safetensors (the quantised model) at the end");
  sub->add_option("--qat-layers", a.qat_layers, "convs to train quantised: all (default), or a list like conv1,conv3 or 2,4");
  sub->add_option("--qat-observer", a.qat_observer, "activation range observer during QAT: ema (moving average, default) or minmax")
      ->check(CLI::IsMember({"ema", "minmax"}));
  sub->add_option("--qat-observer-option", a.qat_observer_option, "ema: the decay in [0, 1) (default 0.99)");
  sub->add_option("--qat-freeze-after", a.qat_freeze_after,
                  "training steps after which the activation ranges freeze (default: half of the run's steps, kept on --resume; 0: never)")
      ->check(CLI::NonNegativeNumber);
  sub->add_flag("--qat-learn-scale", a.qat_learn_scale, "learn the activation scales (LSQ), initialised by the observer");
}

}  // namespace

Command add_train(CLI::App& app) {
  auto a = std::make_shared<TrainArgs>();
  auto* sub = app.add_subcommand("train", "train an ESPCN on a folder of images (Adam, MSE, early stopping, resumable)");
  add_data_options(sub, *a);
  add_model_options(sub, *a);
  add_qat_options(sub, *a);
  return {sub, [a](const Env& env) { return run_train(*a, env); }};
}

}  // namespace qsr::cli
