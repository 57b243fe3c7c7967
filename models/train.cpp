#include "models/train.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <algorithm>
#include <csignal>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <fmt/core.h>

#include "engine/fileio.h"
#include "engine/ops.h"
#include "engine/optim.h"
#include "models/checkpoint.h"

namespace qsr {

namespace {

std::atomic<bool> g_interrupted{false};
extern "C" void on_sigint(int) { g_interrupted.store(true); }

// Restores the previous SIGINT handler when training ends.
struct SigintScope {
  using Handler = void (*)(int);
  Handler prev;
  SigintScope() {
    g_interrupted.store(false);
    prev = std::signal(SIGINT, on_sigint);
  }
  ~SigintScope() { std::signal(SIGINT, prev); }
};

using Clock = std::chrono::steady_clock;

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  long t = std::lround(s);
  if (t >= 3600) return fmt::format("{}h{:02d}m", t / 3600, (t / 60) % 60);
  if (t >= 60) return fmt::format("{}m{:02d}s", t / 60, t % 60);
  return fmt::format("{}s", t);
}

nlohmann::json record_json(const EpochRecord& r) {
  return {{"epoch", r.epoch}, {"loss", r.loss}, {"val_loss", r.val_loss}, {"val_psnr", r.val_psnr}, {"seconds", r.seconds}};
}

EpochRecord record_from(const nlohmann::json& j) {
  EpochRecord r;
  r.epoch = j.at("epoch").get<int>();
  r.loss = j.at("loss").get<double>();
  r.val_loss = j.at("val_loss").get<double>();
  r.val_psnr = j.at("val_psnr").get<double>();
  r.seconds = j.at("seconds").get<double>();
  return r;
}

// The logs are rewritten whole from the history each epoch, so they always
// agree with the checkpoint a resumed run starts from.
void write_logs(const std::string& dir, const std::vector<EpochRecord>& h) {
  std::string csv = "epoch,loss,val_loss,val_psnr,seconds\n", jsonl;
  for (const auto& r : h) {
    csv += fmt::format("{},{:.9g},{:.9g},{:.6f},{:.3f}\n", r.epoch, r.loss, r.val_loss, r.val_psnr, r.seconds);
    jsonl += record_json(r).dump() + "\n";
  }
  write_file_atomic(dir + "/log.csv", csv);
  write_file_atomic(dir + "/log.jsonl", jsonl);
}

struct RunState {
  int epoch = 0;          // completed epochs
  int64_t step = 0;       // steps done in the epoch being run (non-zero only for a mid-epoch stop)
  double loss_sum = 0;    // sum of the losses of those steps
  double best_loss = INFINITY;
  int best_epoch = 0;
  int wait = 0;           // epochs since the best loss
  std::vector<EpochRecord> history;
};

nlohmann::json state_json(const RunState& s, const TrainOptions& o, int64_t iterations) {
  nlohmann::json h = nlohmann::json::array();
  for (const auto& r : s.history) h.push_back(record_json(r));
  return {{"epoch", s.epoch},       {"step", s.step},           {"loss_sum", s.loss_sum},
          {"best_loss", s.best_loss}, {"best_epoch", s.best_epoch}, {"wait", s.wait},
          {"history", h},           {"seed", std::to_string(o.seed)}, {"lr", o.lr},
          {"epochs", o.epochs},     {"patience", o.patience},   {"iterations", iterations},
          {"lr_schedule", o.lr_schedule}, {"lr_min", o.lr_min}, {"monitor", o.monitor}};
}

// The optimised parameters: the model's, then the extension's.
std::vector<std::pair<std::string, Var>> all_parameters(Espcn& model, const TrainOptions& o) {
  auto named = model.named_parameters();
  if (o.extension)
    for (auto& p : o.extension->named_parameters()) named.push_back(p);
  return named;
}

void add_extension_state(const TrainOptions& o, nlohmann::json& meta, std::vector<std::pair<std::string, Tensor>>& extra) {
  if (!o.extension) return;
  meta[o.extension->key()] = o.extension->state();
  for (auto& t : o.extension->state_tensors()) extra.push_back(t);
}

void save_last(const std::string& path, Espcn& model, Adam& opt, const RunState& s, const TrainOptions& o) {
  std::vector<std::pair<std::string, Tensor>> extra;
  auto named = all_parameters(model, o);
  for (size_t i = 0; i < named.size(); ++i) {
    extra.emplace_back("adam.m." + named[i].first, opt.m()[i]);
    extra.emplace_back("adam.v." + named[i].first, opt.v()[i]);
  }
  nlohmann::json meta = o.meta;
  meta["train_state"] = state_json(s, o, opt.iterations());
  add_extension_state(o, meta, extra);
  save_model(path, model, meta, extra);
}

void save_best(const std::string& path, Espcn& model, const RunState& s, const TrainOptions& o) {
  nlohmann::json meta = o.meta;
  meta["trained"] = {{"epoch", s.best_epoch}, {"loss", s.best_loss}, {"seed", std::to_string(o.seed)}, {"lr", o.lr},
                     {"lr_schedule", o.lr_schedule}, {"lr_min", o.lr_min}, {"monitor", o.monitor}};
  std::vector<std::pair<std::string, Tensor>> extra;
  add_extension_state(o, meta, extra);
  save_model(path, model, meta, extra);
}

// Restores the extension's state from `raw` (read from `path`), or refuses a checkpoint whose
// extension state does not match the run's.
void load_extension(const std::string& path, const Checkpoint& raw, const TrainOptions& o) {
  if (o.extension) {
    QSR_CHECK(raw.meta.contains(o.extension->key()),
              path + ": holds no " + o.extension->key() + " state (a float run); it cannot be resumed with --" +
                  o.extension->key());
    o.extension->load_state(raw, path);
    return;
  }
  if (raw.meta.contains("qat")) {
    const auto& q = raw.meta["qat"];
    throw Error(path + ": is a quantisation-aware run (--qat " +
                (q.is_object() && q.contains("mode") ? q["mode"].get<std::string>() : std::string("?")) +
                "); resume it with the same --qat options");
  }
}

// Restores weights, Adam state and the run position from a resumable checkpoint (the
// extension's state is restored before, by load_extension, since it may replace its parameters).
RunState load_last(const std::string& path, Espcn& model, Adam& opt, const TrainOptions& o) {
  Checkpoint raw;
  std::unique_ptr<Espcn> saved = load_model(path, &raw);
  QSR_CHECK(saved->config().describe() == model.config().describe(),
            path + ": the checkpoint's architecture (" + saved->config().describe() + ") differs from the requested one (" +
                model.config().describe() + ")");
  QSR_CHECK(raw.meta.contains("train_state"), path + ": not a resumable checkpoint (no training state)");
  const nlohmann::json& st = raw.meta["train_state"];
  QSR_CHECK(st.at("seed").get<std::string>() == std::to_string(o.seed),
            path + ": was trained with --seed " + st.at("seed").get<std::string>() + "; resume with the same seed");
  const std::string mon = st.value("monitor", std::string("loss"));
  QSR_CHECK(mon == o.monitor, path + ": picked its best epoch by " + mon + "; resume with the same --monitor");
  const std::string sched = st.value("lr_schedule", std::string("constant"));
  QSR_CHECK(sched == o.lr_schedule, path + ": was trained with --lr-schedule " + sched + "; resume with the same schedule");
  if (sched == "cosine") {
    QSR_CHECK(st.at("epochs").get<int>() == o.epochs && st.value("lr_min", 0.f) == o.lr_min && st.at("lr").get<float>() == o.lr,
              path + ": a cosine schedule resumes only with the same --epochs, --lr and --lr-min");
  }
  auto dst = all_parameters(model, o);
  auto src = saved->named_parameters();
  for (size_t i = 0; i < dst.size(); ++i) {
    if (i < src.size()) dst[i].second.value() = src[i].second.value().clone();
    for (const char* which : {"m", "v"}) {
      std::string name = std::string("adam.") + which + "." + dst[i].first;
      const Tensor* t = raw.find(name);
      QSR_CHECK(t && t->shape() == dst[i].second.shape() && t->dtype() == DType::f32,
                path + ": optimiser state " + name + " is missing or misshapen");
      (which[0] == 'm' ? opt.m()[i] : opt.v()[i]) = t->clone();
    }
  }
  opt.set_iterations(st.at("iterations").get<int64_t>());
  RunState s;
  s.epoch = st.at("epoch").get<int>();
  s.step = st.at("step").get<int64_t>();
  s.loss_sum = st.at("loss_sum").get<double>();
  s.best_loss = st.at("best_loss").is_null() ? INFINITY : st.at("best_loss").get<double>();
  s.best_epoch = st.at("best_epoch").get<int>();
  s.wait = st.at("wait").get<int>();
  for (const auto& r : st.at("history")) s.history.push_back(record_from(r));
  return s;
}

void draw_graph(const std::string& dir, bool verbose) {
  if (std::system("command -v gnuplot > /dev/null 2>&1") != 0) {
    if (verbose) fmt::print(stderr, "note: gnuplot is not installed; the training log is in {}/log.csv (no graph)\n", dir);
    return;
  }
  std::string script = dir + "/training.gp";
  write_file_atomic(script,
                    "set terminal pngcairo size 900,500 noenhanced\n"
                    "set output '" + dir + "/training.png.tmp'\n"
                    "set datafile separator ','\n"
                    "set key autotitle columnhead\n"
                    "set xlabel 'epoch'\n"
                    "set ylabel 'MSE loss'\n"
                    "set logscale y\n"
                    "set y2label 'validation PSNR (dB)'\n"
                    "set y2tics\n"
                    "set ytics nomirror\n"
                    "set grid\n"
                    "plot '" + dir + "/log.csv' using 1:2 with lines lw 2 title 'loss', "
                    "'' using 1:3 with lines lw 2 title 'val_loss', "
                    "'' using 1:4 axes x1y2 with linespoints title 'val_psnr'\n");
  std::string cmd = "gnuplot '" + script + "' > '" + dir + "/gnuplot.log' 2>&1";
  if (std::system(cmd.c_str()) == 0) {
    std::filesystem::rename(dir + "/training.png.tmp", dir + "/training.png");
    std::filesystem::remove(dir + "/gnuplot.log");
  } else if (verbose) {
    fmt::print(stderr, "note: gnuplot failed; see {}/gnuplot.log (the training log is in {}/log.csv)\n", dir, dir);
  }
}

}  // namespace

Rng epoch_rng(uint64_t seed, int epoch) {
  return Rng(seed * 0x9e3779b97f4a7c15ull + static_cast<uint64_t>(epoch) * 0xd1b54a32d192ed03ull + 1);
}

std::pair<double, double> validate(Espcn& model, const std::vector<ValItem>& val) {
  NoGradGuard ng;
  struct EvalMode {
    Espcn& m;
    bool was;
    explicit EvalMode(Espcn& model) : m(model), was(model.training()) { m.train(false); }
    ~EvalMode() { m.train(was); }
  } eval_mode(model);
  // Validation is part of training: under the automatic choice its 3x3 convs run the
  // training algorithm (Winograd) too; inference elsewhere stays direct.
  struct AlgoScope {
    Espcn& m;
    ConvAlgo was;
    explicit AlgoScope(Espcn& model) : m(model), was(model.conv_algo()) {
      m.set_conv_algo(was == ConvAlgo::automatic ? ConvAlgo::winograd : was);
    }
    ~AlgoScope() { m.set_conv_algo(was); }
  } algo_scope(model);
  double loss = 0, psnr = 0;
  for (const auto& it : val) {
    Tensor p = model.forward(Var(it.x)).value();
    const float* a = p.f32();
    const float* b = it.y.f32();
    double se = 0, sec = 0;
    for (int64_t i = 0; i < p.numel(); ++i) {
      double d = double(a[i]) - b[i];
      double c = std::clamp(double(a[i]), 0.0, 1.0) - b[i];
      se += d * d;
      sec += c * c;
    }
    loss += se / p.numel();
    double mse = sec / p.numel();
    psnr += mse > 0 ? 10 * std::log10(1.0 / mse) : 100.0;
  }
  if (val.empty()) return {NAN, NAN};
  return {loss / val.size(), psnr / val.size()};
}

float scheduled_lr(const TrainOptions& opt, int64_t g, int64_t total) {
  if (opt.lr_schedule != "cosine" || total <= 0) return opt.lr;
  const double pi = 3.14159265358979323846;
  const double f = 0.5 * (1.0 + std::cos(pi * double(g) / double(total)));
  return static_cast<float>(opt.lr_min + (double(opt.lr) - opt.lr_min) * f);
}

namespace {

void check_options(const TrainOptions& opt) {
  QSR_CHECK(opt.epochs >= 1, "train: --epochs must be at least 1");
  QSR_CHECK(opt.patience >= 0, "train: --patience must not be negative");
  QSR_CHECK(opt.lr > 0 && std::isfinite(opt.lr), "train: the learning rate must be positive");
  QSR_CHECK(opt.lr_schedule == "constant" || opt.lr_schedule == "cosine",
            "train: unknown learning-rate schedule '" + opt.lr_schedule + "' (constant or cosine)");
  QSR_CHECK(opt.lr_min >= 0 && opt.lr_min <= opt.lr, "train: --lr-min must lie in [0, --lr]");
  QSR_CHECK(opt.monitor == "loss" || opt.monitor == "val_psnr", "train: unknown --monitor '" + opt.monitor + "' (loss or val_psnr)");
}

// One run of train_espcn: the model, its optimiser, where it writes, and how far it is.
struct Run {
  Espcn& model;
  TrainSource& data;
  const std::vector<ValItem>& val;
  const TrainOptions& opt;
  Adam& adam;
  RunState& s;
  int64_t steps;
  std::string last_path, best_path;
  bool tty;
  double mean_epoch_s = 0;
};

// One optimiser step of epoch e on the next batch; the progress line on a terminal.
void train_step(Run& R, Rng& rng, int e, int64_t st, Clock::time_point t0) {
  const TrainOptions& opt = R.opt;
  TrainBatch b = R.data.next_batch(rng);
  R.adam.lr = scheduled_lr(opt, int64_t(e - 1) * R.steps + st, int64_t(opt.epochs) * R.steps);
  Var loss = mse_loss(R.model.forward(Var(b.x)), Var(b.y));
  const double lv = loss.value().f32()[0];
  if (!std::isfinite(lv)) {
    throw Error(fmt::format("training stopped: the loss became {} at epoch {}, step {}; the last good checkpoint is {}",
                            lv, e, st + 1, std::filesystem::exists(R.last_path) ? R.last_path : "(none yet)"));
  }
  R.adam.zero_grad();
  loss.backward();
  R.adam.step();
  R.s.loss_sum += lv;
  R.s.step = st + 1;
  if (R.tty) {
    double el = std::chrono::duration<double>(Clock::now() - t0).count();
    double per_step = el / double(st + 1 - 0);
    double eta = per_step * (R.steps - st - 1) + (R.mean_epoch_s > 0 ? R.mean_epoch_s : per_step * R.steps) * (opt.epochs - e);
    int filled = int(30 * (st + 1) / R.steps);
    fmt::print(stderr, "\repoch {:3d}/{} [{}{}] {:4d}/{} loss {:.6f} ETA {}   ", e, opt.epochs, std::string(filled, '#'),
               std::string(30 - filled, '.'), st + 1, R.steps, R.s.loss_sum / (st + 1), format_duration(eta));
  }
}

// The end of epoch e: validation, the record, the best and last checkpoints, the logs and the
// epoch's line. Returns whether early stopping ends the run.
bool end_epoch(Run& R, int e, Clock::time_point t0) {
  const TrainOptions& opt = R.opt;
  RunState& s = R.s;
  EpochRecord r;
  r.epoch = e;
  r.loss = s.loss_sum / R.steps;
  std::tie(r.val_loss, r.val_psnr) = validate(R.model, R.val);
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  s.history.push_back(r);
  R.mean_epoch_s = 0;
  for (const auto& h : s.history) R.mean_epoch_s += h.seconds / s.history.size();
  s.epoch = e;
  s.step = 0;
  s.loss_sum = 0;
  // Keras EarlyStopping(monitor, patience) and ModelCheckpoint(save_best_only) semantics; the
  // monitored value is the training loss, or minus the validation PSNR (lower is better).
  const double score = opt.monitor == "val_psnr" ? -r.val_psnr : r.loss;
  bool improved = score < s.best_loss;
  if (improved) {
    s.best_loss = score;
    s.best_epoch = e;
    s.wait = 0;
    save_best(R.best_path, R.model, s, opt);
  } else {
    ++s.wait;
  }
  save_last(R.last_path, R.model, R.adam, s, opt);
  write_logs(opt.out_dir, s.history);
  if (opt.progress) {
    if (R.tty) fmt::print(stderr, "\r");
    fmt::print(stderr, "epoch {:3d}/{}: loss {:.6f}  val_loss {:.6f}  val_psnr {:.3f} dB  {:.1f}s{}{}\n", e, opt.epochs,
               r.loss, r.val_loss, r.val_psnr, r.seconds, improved ? "  (best)" : "",
               R.tty ? "                    " : "");
  }
  return opt.patience > 0 && s.wait >= opt.patience && e < opt.epochs;
}

// The best epoch's weights (and extension state) back into the model.
void restore_best(Espcn& model, const std::string& best_path, const TrainOptions& opt) {
  Checkpoint raw;
  std::unique_ptr<Espcn> best = load_model(best_path, &raw);
  auto dst = model.named_parameters();
  auto src = best->named_parameters();
  for (size_t i = 0; i < dst.size(); ++i) dst[i].second.value() = src[i].second.value().clone();
  if (opt.extension) opt.extension->load_state(raw, best_path);  // the extension state of the best epoch
}

TrainResult result_of(const RunState& s, const std::string& stop, TrainResult res) {
  res.history = s.history;
  res.best_epoch = s.best_epoch;
  res.best_loss = s.best_loss;
  res.stop_reason = stop;
  return res;
}

}  // namespace

TrainResult train_espcn(Espcn& model, TrainSource& data, const std::vector<ValItem>& val, const TrainOptions& opt) {
  check_options(opt);
  const int64_t steps = data.steps_per_epoch();
  QSR_CHECK(steps >= 1, "train: the data gives no training batch");
  std::filesystem::create_directories(opt.out_dir);
  const std::string last_path = opt.out_dir + "/last.safetensors";
  const std::string best_path = opt.out_dir + "/best.safetensors";
  model.train(true);
  if (opt.resume) {
    QSR_CHECK(std::filesystem::exists(last_path), "--resume: no checkpoint to resume at " + last_path);
    load_extension(last_path, load_safetensors(last_path), opt);
  }
  std::vector<Var> params;
  for (auto& p : all_parameters(model, opt)) params.push_back(p.second);
  Adam adam(params, AdamOptions{opt.lr, 0.9f, 0.999f, 1e-7f});
  RunState s;
  if (opt.resume) {
    s = load_last(last_path, model, adam, opt);
    if (opt.progress)
      fmt::print(stderr, "resuming {} at epoch {} step {}/{}\n", last_path, s.epoch + 1, s.step, steps);
  }
  TrainResult res;
  res.best_path = best_path;
  res.last_path = last_path;
  SigintScope sig;
  Run R{model, data, val, opt, adam, s, steps, last_path, best_path, opt.progress && ::isatty(STDERR_FILENO)};
  for (const auto& r : s.history) R.mean_epoch_s += r.seconds / s.history.size();
  std::string stop = "completed";
  while (s.epoch < opt.epochs) {
    const int e = s.epoch + 1;
    Rng rng = epoch_rng(opt.seed, e);
    data.start_epoch(rng);
    // A mid-epoch resume regenerates (without training on) the batches already used.
    for (int64_t i = 0; i < s.step; ++i) data.next_batch(rng);
    auto t0 = Clock::now();
    for (int64_t st = s.step; st < steps; ++st) {
      train_step(R, rng, e, st, t0);
      if (g_interrupted.load()) {
        if (R.tty) fmt::print(stderr, "\n");
        save_last(last_path, model, adam, s, opt);
        write_logs(opt.out_dir, s.history);
        if (opt.progress)
          fmt::print(stderr, "interrupted: saved {} (epoch {}, step {}); continue with --resume\n", last_path, e, s.step);
        return result_of(s, "interrupted", res);
      }
    }
    if (end_epoch(R, e, t0)) {
      stop = "early stopping";
      break;
    }
  }
  // Keep the best weights (by the monitored value).
  if (s.best_epoch > 0) restore_best(model, best_path, opt);
  draw_graph(opt.out_dir, opt.progress);
  return result_of(s, stop, res);
}

}  // namespace qsr
