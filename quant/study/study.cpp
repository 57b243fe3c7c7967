// `qsr study`: the comparison the project reproduces, as one command (study.h, docs/STUDY.md).
#include "quant/study/study.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "engine/fileio.h"
#include "engine/random.h"
#include "models/checkpoint.h"
#include "models/image/color.h"
#include "models/dataset.h"
#include "models/evaluate.h"
#include "models/image/image.h"
#include "models/image/resize.h"
#include "models/train.h"
#include "models/upscale.h"
#include "quant/ptq/gptq.h"
#include "quant/lower/int_engine.h"
#include "quant/qat/qat.h"
#include "quant/ptq/qmodel.h"
#include "models/train_source.h"
#include "quant/lower/network.h"

namespace qsr::cli {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

struct Row {
  std::string id, kind, mode, layers;  // layers: "all" or conv numbers, e.g. "13"
  bool per_channel = true;
};

// Layer subsets as conv numbers: every non-empty subset of n convs, the whole model ("all") first.
std::vector<std::string> subsets(int n, bool quick) {
  std::vector<std::string> v = {"all"};
  if (quick) return v;
  for (int m = 1; m < (1 << n) - 1; ++m) {
    std::string s;
    for (int i = 0; i < n; ++i)
      if (m >> i & 1) s += char('1' + i);
    v.push_back(s);
  }
  std::stable_sort(v.begin() + 1, v.end(), [](const std::string& a, const std::string& b) { return a.size() < b.size(); });
  return v;
}

// The rows of a study, in order, from its settings (study.json): the post-training rows, then
// the training rows (float fine-tuning, QAT of the layer sets, the QAT word-length sweep),
// then the mixed precision.
std::vector<Row> plan(const json& m) {
  const int nconv = m.at("nconv").get<int>();
  const bool quick = m.at("quick").get<bool>();
  std::vector<Row> rows = {{"float", "float", "float", "all"}};
  for (const char* mode : {"dynamic-range", "float16", "int8", "int16x8"})
    for (const auto& s : subsets(nconv, quick))
      rows.push_back({fmt::format("ptq-{}-{}", mode, s), "ptq", mode, s});
  std::vector<int> bits;
  if (quick) bits = {4, 8};
  else
    for (int b = 2; b <= 16; ++b) bits.push_back(b);
  for (int b : bits)
    for (const std::string m : {"w{}a{}", "w{}", "a{}"}) {
      const std::string mode = fmt::format(fmt::runtime(m), b, b);
      rows.push_back({"sweep-" + mode, "sweep", mode, "all"});
    }
  // Per tensor (one weight scale per conv) at the same word lengths, both quantised.
  for (int b : bits) {
    const std::string mode = fmt::format("w{}a{}", b, b);
    rows.push_back({"sweep-pt-" + mode, "sweep", mode, "all", false});
  }
  // Fixed point: 8 and 16-bit words with a power-of-two scale (sign and integer bits . fraction bits).
  for (const char* mode : quick ? std::vector<const char*>{"q2.6"} : std::vector<const char*>{"q1.7", "q2.6", "q3.5", "q4.12", "q6.10"})
    rows.push_back({std::string("fixed-") + mode, "fixed", mode, "all"});
  // Sensitivity: only conv k quantised, weights and activations at b bits.
  for (int k = 1; k <= nconv; ++k)
    for (int b : quick ? std::vector<int>{4} : std::vector<int>{2, 3, 4, 5, 6, 7, 8})
      rows.push_back({fmt::format("sens-conv{}-w{}a{}", k, b, b), "sensitivity", fmt::format("w{}a{}", b, b), std::to_string(k)});
  const json q = m.value("qat", json::object());
  if (q.value("enabled", false)) {
    // The float model fine-tuned by the same recipe: the curve QAT is compared with.
    rows.push_back({"finetune-float", "finetune", "float", "all"});
    const std::string mode = q.at("mode").get<std::string>();
    for (const auto& s : q.at("layers")) rows.push_back({fmt::format("qat-{}-{}", mode, s.get<std::string>()), "qat", mode, s});
    for (const auto& b : q.at("bits")) {
      const std::string bm = fmt::format("w{}a{}", b.get<int>(), b.get<int>());
      rows.push_back({"qat-sweep-" + bm, "qat-sweep", bm, "all"});
    }
  }
  if (m.value("mixed", false)) rows.push_back({"mixed", "mixed", "mixed", "all"});
  return rows;
}

std::vector<int> layers_of(const std::string& s) {
  std::vector<int> v;
  if (s == "all") return v;  // QuantRequest: empty = every conv
  for (char c : s) v.push_back(c - '1');
  return v;
}

// An evaluation set, prepared once (decoded, low-res made, bicubic scored) for every row.
struct EvalSet {
  std::string name;
  std::vector<EvalInput> inputs;
};

// The set `name`: the files eval_files(dir) gives for protocol p (every test image when `all`),
// scored under protocol `as` (p unless given).
EvalSet prepare_set(const std::string& name, const std::string& dir, EvalProtocol p, int scale, bool all = false,
                    std::optional<EvalProtocol> as = std::nullopt) {
  EvalOptions eo;
  eo.protocol = p;
  eo.scale = scale;
  eo.all = all;
  EvalSet s{name, {}};
  for (const std::string& f : eval_files(dir, eo)) s.inputs.push_back(prepare_eval_input({f, load_image(f)}, as.value_or(p), scale));
  return s;
}

// Thrown when training was interrupted (Ctrl-C): the study stops, the row is not written.
struct Interrupted {};

// What every row needs: the settings, the float model, calibration images, the prepared
// evaluation sets, the timed inputs, and (loaded on first use) the training data.
struct Ctx {
  const StudyArgs& a;
  json manifest;
  Espcn* fmodel = nullptr;
  std::vector<Tensor> calib;
  std::vector<EvalSet> sets;  // sets[0] is Set5
  int fw = 0, fh = 0;         // the timed frame (low-res)
  Tensor frame;               // the timed frame: fw x fh uniform random pixels (seed 7)
  Tensor example;             // the Keras example's first test image, low-res: the other timed input
  std::string bsds;           // the BSDS500 root
  std::unique_ptr<Dataset> train_ds;
  std::vector<ValItem> val;

  const Dataset& train_data() {
    if (!train_ds) {
      const json& q = manifest.at("qat");
      DatasetOptions o;
      o.protocol = DatasetProtocol::bsds;
      o.scale = fmodel->config().scale;
      o.crop = q.at("crop").get<int>();
      o.flips = true;
      o.validate();
      train_ds = std::make_unique<Dataset>(load_dataset(bsds, o));
      val = validation_items(*train_ds);
      fmt::print(stderr, "study: training data {} (decoded in {:.1f}s)\n", train_ds->describe(), train_ds->load_seconds);
    }
    return *train_ds;
  }
};

// Median forward time of `x` on `net` (after one warm-up run).
double median_ms(const Network& net, const Tensor& x, int runs) {
  net.forward(x);
  std::vector<double> t;
  for (int i = 0; i < runs; ++i) {
    const auto t0 = Clock::now();
    net.forward(x);
    t.push_back(since(t0) * 1e3);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// Scores `net` on every set and times it: PSNR / SSIM per set, the frame and the example image.
void measure(const Network& net, Ctx& c, json& j) {
  Upscaler up = [&](const Tensor& x) { return upscale_tensor(net, x, 0); };
  for (const auto& s : c.sets) {
    const EvalResult r = evaluate_prepared(s.inputs, up);
    j["psnr"][s.name] = r.mean_psnr_model;
    j["ssim"][s.name] = r.mean_ssim_model;
    j["psnr_bicubic"][s.name] = r.mean_psnr_bicubic;
    j["images"][s.name] = r.images.size();
  }
  const int runs = c.a.quick ? 3 : 9;
  j["frame"] = fmt::format("{}x{}", c.fw, c.fh);
  j["frame_ms"] = median_ms(net, c.frame, runs);
  j["example_ms"] = median_ms(net, c.example, runs);
}

// A post-training quantised model of the float one: the mode, on `layers` (empty: all),
// calibrated on the study's images, weights rounded as --weight-rounding says.
std::shared_ptr<quant::QuantModel> ptq_model(Ctx& c, const std::string& mode, const std::vector<int>& layers, bool per_channel) {
  quant::QuantRequest req;
  req.mode = mode;
  req.layers = layers;
  req.per_channel = per_channel;
  auto q = std::make_shared<quant::QuantModel>(*c.fmodel, req);
  if (q->needs_calibration()) q->calibrate(c.calib);
  bool integer_weights = false;
  for (const auto& w : q->weights) integer_weights |= w.kind == quant::WeightKind::integer;
  if (c.a.weight_rounding == "gptq" && integer_weights) quant::gptq_round(*q, c.calib);
  return q;
}

// The network a user gets for a quantised model: the integer engine. Records engine and sizes.
Network engine_net(const std::shared_ptr<quant::QuantModel>& q, json& j) {
  auto engine = std::make_shared<quant::IntEngine>(*q);
  Network net;
  net.cfg = q->cfg;
  net.tile_invariant = q->tile_invariant();
  net.forward = [engine, q](const Tensor& x) { return engine->forward(x); };  // (the engine refers to q: kept alive)
  j["weight_bytes"] = q->stored_bytes();
  j["weight_packed_bytes"] = (q->packed_bits() + 7) / 8;
  j["engine"] = "integer (" + std::string(engine->kernels().name) + ")";
  return net;
}

Network float_net(Espcn& m, json& j) {
  int64_t params = 0;
  for (auto& conv : m.convs) params += conv->weight.value().numel() + conv->bias.value().numel();
  j["weight_bytes"] = params * 4;
  j["weight_packed_bytes"] = params * 4;
  j["engine"] = "f32";
  return network_of(m);
}

std::string layer_list(const std::string& digits) {  // "23" -> "2,3"; "all" stays
  if (digits == "all") return digits;
  std::string s;
  for (char ch : digits) s += (s.empty() ? "" : ",") + std::string(1, ch);
  return s;
}

// The training rows: the float model fine-tuned, or QAT of `row.mode` on `row.layers` starting
// from the post-training model of the same mode and layers (its rounded weights, its calibrated
// activation grids, frozen), by the recipe in study.json's "qat". The run lives in
// OUT/train/<id>/ (checkpoints and logs; an interrupted row resumes from its last epoch).
json run_train_row(const Row& row, Ctx& c, json j) {
  const json& qs = c.manifest.at("qat");
  const EspcnConfig cfg = c.fmodel->config();
  Espcn model(cfg);
  std::shared_ptr<quant::QuantModel> start;
  std::shared_ptr<quant::QatModel> qat;
  const auto t0 = Clock::now();
  std::unique_ptr<Espcn> from;
  if (row.kind != "finetune") {
    start = ptq_model(c, row.mode, layers_of(row.layers), true);
    from = start->float_model();
    quant::QatOptions qo;
    qo.mode = row.mode;
    qo.layers = layer_list(row.layers);
    qo.freeze_after = 0;
    qo.learn_scale = qs.value("learn_scale", false);
    qat = std::make_shared<quant::QatModel>(cfg, qo);
    qat->adopt_grids(*start, row.id);
    model.hooks = qat;
  }
  auto dst = model.named_parameters();
  auto src = (from ? *from : *c.fmodel).named_parameters();
  for (size_t i = 0; i < dst.size(); ++i) dst[i].second.value() = src[i].second.value().clone();
  j["prepare_s"] = since(t0);
  const Dataset& ds = c.train_data();
  SamplerSource data(ds, qs.at("batch").get<int>(), qs.at("steps").get<int>());
  TrainOptions o;
  o.epochs = qs.at("epochs").get<int>();
  o.patience = 0;
  o.monitor = "val_psnr";  // the exported epoch: the best on BSDS500 val (not a test set)
  o.lr = qs.at(row.kind == "qat-sweep" ? "sweep_lr" : "lr").get<float>();
  o.lr_schedule = "cosine";
  o.lr_min = o.lr / 100;
  o.seed = 1337;
  o.out_dir = (fs::path(c.a.out) / "train" / row.id).string();
  o.resume = fs::exists(fs::path(o.out_dir) / "last.safetensors");
  o.progress = false;
  o.meta = {{"study_row", row.id}, {"qat", qs}};
  o.extension = qat.get();
  const double start_psnr = validate(model, c.val).second;
  const TrainResult r = train_espcn(model, data, c.val, o);
  if (r.stop_reason == "interrupted") throw Interrupted{};
  json curve = {{"epoch", {0}}, {"loss", {nullptr}}, {"val_psnr", {start_psnr}}};
  double train_s = 0;
  for (const auto& e : r.history) {
    curve["epoch"].push_back(e.epoch);
    curve["loss"].push_back(e.loss);
    curve["val_psnr"].push_back(e.val_psnr);
    train_s += e.seconds;
  }
  j["curve"] = curve;
  j["best_epoch"] = r.best_epoch;
  j["train_s"] = train_s;
  Network net;
  std::shared_ptr<quant::QuantModel> q;
  if (qat) {
    q = std::make_shared<quant::QuantModel>(quant::export_quant_model(model, *qat));
    net = engine_net(q, j);
  } else {
    net = float_net(model, j);
  }
  measure(net, c, j);
  return j;
}

// The automatic mixed precision: the smallest allocation of word lengths, one per conv's
// weights and one per activation tensor (docs/STUDY.md), whose Set5 PSNR stays within the
// budget of float. Start: two bits above the shortest uniform word length within the budget.
// Then, greedily, lower one tensor by one bit, the move that saves the most bits per dB of
// PSNR lost (per 0.01 dB + the loss), while the drop stays within the budget. Bits = weights x word length + per low-res pixel the
// activations' channels x word length.
json run_mixed_row(Ctx& c, json j) {
  const auto t0 = Clock::now();
  const double budget = c.manifest.value("budget_db", 0.1);
  const int L = int(c.fmodel->convs.size());
  std::vector<int64_t> size(size_t(2 * L + 1));  // per tensor: weights' numel, then activation channels a0..aL
  for (int i = 0; i < L; ++i) size[size_t(i)] = c.fmodel->convs[size_t(i)]->weight.value().numel();
  size[size_t(L)] = c.fmodel->config().channels;
  for (int i = 0; i < L; ++i) size[size_t(L + 1 + i)] = c.fmodel->convs[size_t(i)]->weight.value().dim(3);
  auto mode_of = [&](const std::vector<int>& b) {
    std::string s = "w";
    for (int i = 0; i <= 2 * L; ++i) s += (i == L ? "a" : (i == 0 ? "" : ".")) + std::to_string(b[size_t(i)]);
    return s;
  };
  auto bits_of = [&](const std::vector<int>& b) {
    int64_t t = 0;
    for (size_t i = 0; i < b.size(); ++i) t += size[i] * b[i];
    return t;
  };
  const Network fnet = network_of(*c.fmodel);
  Upscaler fup = [&](const Tensor& x) { return upscale_tensor(fnet, x, 0); };
  const double base = evaluate_prepared(c.sets[0].inputs, fup).mean_psnr_model;
  int evals = 0;
  auto drop = [&](const std::vector<int>& b) {
    ++evals;
    json tmp;
    const Network net = engine_net(ptq_model(c, mode_of(b), {}, true), tmp);
    Upscaler up = [&](const Tensor& x) { return upscale_tensor(net, x, 0); };
    return base - evaluate_prepared(c.sets[0].inputs, up).mean_psnr_model;
  };
  // The shortest uniform word length within the budget.
  int u = 8;
  double d = drop(std::vector<int>(size_t(2 * L + 1), u));
  if (d <= budget) {
    while (u > 2) {
      const double d2 = drop(std::vector<int>(size_t(2 * L + 1), u - 1));
      if (d2 > budget) break;
      --u, d = d2;
    }
  } else {
    while (d > budget && u < 16) d = drop(std::vector<int>(size_t(2 * L + 1), ++u));
    QSR_CHECK(d <= budget, fmt::format("mixed precision: even 16 bits everywhere loses {:.4f} dB on Set5, more than the budget {}", d, budget));
  }
  // The greedy descent starts two bits above it, so that it can spend the budget where it buys the most bits.
  std::vector<int> b(size_t(2 * L + 1), std::min(u + 2, 16));
  d = drop(b);
  json steps = json::array({{{"mode", mode_of(b)}, {"drop_set5", d}, {"bits", bits_of(b)}}});
  for (;;) {
    int best = -1;
    double best_eff = -1, best_d = 0;
    for (int t = 0; t <= 2 * L; ++t) {
      if (b[size_t(t)] <= 2) continue;
      std::vector<int> cand = b;
      --cand[size_t(t)];
      const double dc = drop(cand);
      if (dc > budget) continue;
      const double eff = double(size[size_t(t)]) / (std::max(dc - d, 0.0) + 0.01);
      if (eff > best_eff) best = t, best_eff = eff, best_d = dc;
    }
    if (best < 0) break;
    --b[size_t(best)];
    d = best_d;
    steps.push_back({{"mode", mode_of(b)}, {"drop_set5", d}, {"bits", bits_of(b)}});
  }
  fmt::print(stderr, "study: mixed precision {} ({} evaluations, Set5 drop {:.4f} dB)\n", mode_of(b), evals, d);
  j["mode"] = mode_of(b);
  j["allocation"] = {{"weights", std::vector<int>(b.begin(), b.begin() + L)}, {"activations", std::vector<int>(b.begin() + L, b.end())}};
  j["uniform_bits"] = u;
  j["search"] = steps;
  j["evaluations"] = evals;
  j["search_s"] = since(t0);
  const auto t1 = Clock::now();
  const auto q = ptq_model(c, mode_of(b), {}, true);
  j["prepare_s"] = since(t1);
  measure(engine_net(q, j), c, j);
  return j;
}

json run_row(const Row& row, Ctx& c) {
  json j = {{"id", row.id}, {"kind", row.kind}, {"mode", row.mode}, {"layers", row.layers}, {"per_channel", row.per_channel}};
  if (row.kind == "finetune" || row.kind == "qat" || row.kind == "qat-sweep") return run_train_row(row, c, j);
  if (row.kind == "mixed") return run_mixed_row(c, j);
  const auto t0 = Clock::now();
  Network net;
  if (row.kind == "float") {
    net = float_net(*c.fmodel, j);
    j["prepare_s"] = since(t0);
  } else {
    const auto q = ptq_model(c, row.mode, layers_of(row.layers), row.per_channel);
    j["prepare_s"] = since(t0);
    net = engine_net(q, j);
  }
  measure(net, c, j);
  return j;
}

std::string fmt_num(const json& j, const char* key, const std::string& set, int prec) {
  if (!j.contains(key) || !j[key].contains(set)) return "-";
  return fmt::format("{:.{}f}", j[key][set].get<double>(), prec);
}

}  // namespace

namespace {

// The plots of a report (gnuplot, PNG, each written as .tmp and renamed): PSNR on Set5
// against word length, PSNR against frame time with the Pareto front labelled, and the
// sensitivity heatmap. Returns the names of the plots made; without gnuplot, none (and a note).
std::vector<std::string> draw_plots(const std::string& out, const std::vector<json>& results) {
  if (std::system("command -v gnuplot > /dev/null 2>&1") != 0) {
    fmt::print(stderr, "note: gnuplot is not installed (Debian: gnuplot-nox); the report has no plots\n");
    return {};
  }
  const fs::path dir = fs::path(out) / "plots";
  fs::create_directories(dir);
  auto psnr = [](const json& r) { return r.contains("psnr") && r["psnr"].contains("set5") ? r["psnr"]["set5"].get<double>() : NAN; };
  // Data files: sweep.dat (bits, wNaN, wN, aN, per-tensor wNaN, QAT wNaN), ptq.dat (ms, psnr, id), front.dat,
  // sens.dat (k, b, drop), curve_<id>.dat (epoch, loss, validation PSNR).
  std::map<int, std::array<double, 5>> sweep;
  std::vector<std::pair<std::string, std::string>> curves;  // id, kind
  double base = NAN;
  std::vector<std::tuple<double, double, std::string>> pts;
  std::vector<std::tuple<int, int, double>> sens;
  for (const auto& r : results) {
    if (r.contains("error")) continue;
    const std::string id = r.value("id", ""), mode = r.value("mode", ""), kind = r.value("kind", "");
    if (id == "float") base = psnr(r);
    int w = 0, a = 0;
    const bool wa = std::sscanf(mode.c_str(), "w%da%d", &w, &a) == 2, wo = !wa && std::sscanf(mode.c_str(), "w%d", &w) == 1,
               ao = !wa && !wo && std::sscanf(mode.c_str(), "a%d", &a) == 1;
    if (kind == "sweep" || kind == "qat-sweep") {
      auto& e = sweep.try_emplace(wa ? w : wo ? w : a, std::array<double, 5>{NAN, NAN, NAN, NAN, NAN}).first->second;
      if (kind == "qat-sweep") e[4] = psnr(r);
      else if (wa && r.value("per_channel", true)) e[0] = psnr(r);
      else if (wa) e[3] = psnr(r);
      else if (wo) e[1] = psnr(r);
      else if (ao) e[2] = psnr(r);
    }
    if ((kind == "ptq" || kind == "float" || kind == "qat" || kind == "mixed") && r.contains("frame_ms"))
      pts.emplace_back(r["frame_ms"].get<double>(), psnr(r), id);
    if (r.contains("curve")) {
      const json& cv = r["curve"];
      std::string d = "# epoch loss val_psnr (" + id + ")\n";
      for (size_t i = 0; i < cv["epoch"].size(); ++i)
        d += fmt::format("{} {} {:.4f}\n", cv["epoch"][i].get<int>(), cv["loss"][i].is_null() ? std::string("NaN") : fmt::format("{:.6g}", cv["loss"][i].get<double>()),
                         cv["val_psnr"][i].get<double>());
      write_file_atomic((dir / ("curve_" + id + ".dat")).string(), d);
      curves.push_back({id, kind});
    }
    if (kind == "sensitivity" && wa) sens.emplace_back(std::stoi(r.value("layers", "0")), w, psnr(r));
  }
  std::vector<std::string> made;
  auto run = [&](const std::string& name, const std::string& script) {
    const std::string gp = (dir / (name + ".gp")).string(), png = (dir / (name + ".png")).string();
    write_file_atomic(gp, "set terminal pngcairo size 900,540 noenhanced\nset output '" + png + ".tmp'\nset grid\n" + script);
    const std::string cmd = "gnuplot '" + gp + "' > '" + (dir / "gnuplot.log").string() + "' 2>&1";
    if (std::system(cmd.c_str()) == 0) {
      fs::rename(png + ".tmp", png);
      made.push_back("plots/" + name + ".png");
    } else {
      fmt::print(stderr, "note: gnuplot failed on {} (see {}/gnuplot.log)\n", gp, dir.string());
    }
  };
  auto num = [](double v) { return std::isnan(v) ? std::string("NaN") : fmt::format("{:.4f}", v); };
  if (!sweep.empty()) {
    std::string d = "# bits wNaN wN aN wNaN_per_tensor wNaN_QAT\n";
    for (const auto& [b, e] : sweep) d += fmt::format("{} {} {} {} {} {}\n", b, num(e[0]), num(e[1]), num(e[2]), num(e[3]), num(e[4]));
    write_file_atomic((dir / "sweep.dat").string(), d);
    const std::string f = (dir / "sweep.dat").string();
    run("psnr_vs_bits", "set xlabel 'word length (bits)'\nset ylabel 'PSNR Set5 (dB)'\nset key bottom right\nset yrange [*:*]\n" +
                            (std::isnan(base) ? std::string() : fmt::format("set arrow from graph 0, first {0} to graph 1, first {0} nohead dt 2\n", base)) +
                            "plot '" + f + "' u 1:2 w lp lw 2 t 'weights and activations', '' u 1:3 w lp t 'weights only', "
                            "'' u 1:4 w lp t 'activations only', '' u 1:5 w lp dt 3 t 'both, per tensor', "
                            "'' u 1:6 w lp lw 2 pt 7 t 'both, QAT'\n");
  }
  if (!pts.empty()) {
    std::sort(pts.begin(), pts.end());
    std::string d = "# ms psnr id\n", fr = "# Pareto front: no faster row scores higher\n";
    double best = -INFINITY;
    for (const auto& [ms, p, id] : pts) {
      d += fmt::format("{:.3f} {} {}\n", ms, num(p), id);
      if (p > best) best = p, fr += fmt::format("{:.3f} {} {}\n", ms, num(p), id);
    }
    write_file_atomic((dir / "ptq.dat").string(), d);
    write_file_atomic((dir / "front.dat").string(), fr);
    run("psnr_vs_time", "set xlabel 'frame time (ms)'\nset ylabel 'PSNR Set5 (dB)'\nset key bottom right\n"
                        "set title 'float, post-training, QAT and mixed-precision rows'\nplot '" +
                            (dir / "ptq.dat").string() + "' u 1:2 w p pt 7 ps 0.6 t 'rows', '" + (dir / "front.dat").string() +
                            "' u 1:2 w lp lw 2 t 'Pareto front', '' u 1:2:3 w labels left offset 0.5,0.5 font ',8' notitle\n");
  }
  if (!sens.empty() && !std::isnan(base)) {
    std::string d = "# conv bits drop\n";
    int last = -1;
    for (const auto& [k, b, p] : sens) {
      if (last != -1 && k != last) d += "\n";
      d += fmt::format("{} {} {}\n", k, b, num(base - p));
      last = k;
    }
    write_file_atomic((dir / "sens.dat").string(), d);
    run("sensitivity", "set xlabel 'conv'\nset ylabel 'bits (weights and activations)'\nset cblabel 'PSNR drop on Set5 (dB)'\n"
                       "set logscale cb\nset view map\nset xtics 1\nplot '" + (dir / "sens.dat").string() +
                       "' u 1:2:3 w image notitle, '' u 1:2:(sprintf('%.2f', $3)) w labels notitle\n");
  }
  // Training curves (loss and validation PSNR per epoch): the float fine-tuning with the QAT runs
  // of the layer sets, and the QAT word-length sweep apart (its PSNRs lie far below).
  auto curve_plot = [&](const std::string& name, const std::vector<std::string>& ids, const std::string& title) {
    if (ids.empty()) return;
    std::string loss = "plot ", vp = "plot ";
    for (size_t i = 0; i < ids.size(); ++i) {
      const std::string f = (dir / ("curve_" + ids[i] + ".dat")).string();
      const std::string style = ids[i] == "finetune-float" ? "w lp lw 3 lc rgb 'black'" : "w lp";
      loss += fmt::format("{}'{}' u 1:2 {} t '{}'", i ? ", " : "", f, style, ids[i]);
      vp += fmt::format("{}'{}' u 1:3 {} t '{}'", i ? ", " : "", f, style, ids[i]);
    }
    run(name, "set terminal pngcairo size 1400,600 noenhanced\nset output '" + (dir / (name + ".png")).string() +
                  ".tmp'\nset multiplot layout 1,2 title '" + title + "'\nset xlabel 'epoch'\nset xtics 1\nset key outside right font ',8'\n"
                  "set ylabel 'training loss (MSE)'\nset logscale y\n" + loss + "\nunset logscale y\n"
                  "set ylabel 'BSDS500 val PSNR (dB; QAT: fake-quantised)'\n" + vp + "\nunset multiplot\n");
  };
  std::vector<std::string> layer_runs, sweep_runs;
  for (const auto& [id, kind] : curves) (kind == "qat-sweep" ? sweep_runs : layer_runs).push_back(id);
  curve_plot("training_curves", layer_runs, "float fine-tuning and QAT of the layer sets (epoch 0: the start)");
  curve_plot("qat_sweep_curves", sweep_runs, "QAT of the whole model at N bits (epoch 0: post-training quantisation)");
  return made;
}

// The visual comparison (plots/comparison.png): the same crops from HR, bicubic, float, int8
// and the lowest-bit model within the budget (the mixed-precision row, else the shortest
// per-channel word length), for the two Set5 images with the most detail. RGB: each model runs
// on the luma of the Pillow-bicubic low-res image, chroma upscaled bicubic (qsr upscale). Each
// crop is 3x enlarged (nearest) so single pixels show. Returns the caption, or "" when a row
// it needs is missing.
std::string draw_comparison(const std::string& out, Ctx& c, const std::vector<json>& results, double budget) {
  const json* f = nullptr;
  const json* i8 = nullptr;
  const json* low = nullptr;
  auto ok = [](const json& r) { return !r.contains("error") && r.contains("psnr") && r["psnr"].contains("set5"); };
  for (const auto& r : results) {
    if (!ok(r)) continue;
    if (r["id"] == "float") f = &r;
    if (r["id"] == "ptq-int8-all") i8 = &r;
  }
  if (!f || !i8) return "";
  const double bp = (*f)["psnr"]["set5"].get<double>();
  for (const auto& r : results)
    if (ok(r) && r["id"] == "mixed" && bp - r["psnr"]["set5"].get<double>() <= budget) low = &r;
  if (!low)
    for (const auto& r : results) {
      int w = 0, aa = 0;
      if (ok(r) && r["kind"] == "sweep" && r.value("per_channel", true) && std::sscanf(r.value("mode", "").c_str(), "w%da%d", &w, &aa) == 2 &&
          w == aa && bp - r["psnr"]["set5"].get<double>() <= budget && (!low || w < std::stoi((*low)["mode"].get<std::string>().substr(1))))
        low = &r;
    }
  struct Col {
    std::string label;
    Network net;
  };
  std::vector<Col> cols;
  json tmp;
  cols.push_back({"float", network_of(*c.fmodel)});
  cols.push_back({"int8 (PTQ, whole model)", engine_net(ptq_model(c, "int8", {}, true), tmp)});
  if (low) cols.push_back({(*low)["mode"].get<std::string>() + " (" + (*low)["id"].get<std::string>() + ")",
                           engine_net(ptq_model(c, (*low)["mode"].get<std::string>(), {}, true), tmp)});
  const int r = c.fmodel->config().scale, side = 24 * r, zoom = 3, gap = 6, tile = side * zoom;
  // The two images whose best 24x24 low-res window has the most gradient energy, and that window.
  struct Pick {
    double energy;
    std::string path;
    int x, y;
    Image rgb;  // decoded once
  };
  std::vector<Pick> picks;
  for (const auto& in : c.sets[0].inputs) {
    Image im = to_rgb(load_image(in.path));
    const Image y = bt601_luma_u8(im);
    Pick best{-1, in.path, 0, 0, {}};
    for (int y0 = 0; y0 + side <= y.height - y.height % r; y0 += r * 4)
      for (int x0 = 0; x0 + side <= y.width - y.width % r; x0 += r * 4) {
        double e = 0;
        for (int yy = y0; yy < y0 + side - 1; ++yy)
          for (int xx = x0; xx < x0 + side - 1; ++xx)
            e += std::abs(y.at(xx + 1, yy) - y.at(xx, yy)) + std::abs(y.at(xx, yy + 1) - y.at(xx, yy));
        if (e > best.energy) best = {e, in.path, x0, y0, {}};
      }
    if (best.energy >= 0) {
      best.rgb = std::move(im);
      picks.push_back(std::move(best));
    }
  }
  std::sort(picks.begin(), picks.end(), [](const Pick& p, const Pick& q) { return p.energy > q.energy; });
  if (picks.size() > 2) picks.resize(2);
  if (picks.empty()) return "";
  const int ncol = 2 + int(cols.size());
  Image grid(ncol * tile + (ncol - 1) * gap, int(picks.size()) * tile + (int(picks.size()) - 1) * gap, 3);
  std::fill(grid.data.begin(), grid.data.end(), uint8_t(255));
  std::string names;
  for (size_t row = 0; row < picks.size(); ++row) {
    const Image& rgb = picks[row].rgb;
    const Image hr = crop(rgb, rgb.width - rgb.width % r, rgb.height - rgb.height % r);
    const Image lr = resize_pillow_bicubic(hr, hr.width / r, hr.height / r);
    std::vector<Image> ups = {hr, resize_pillow_bicubic(lr, hr.width, hr.height)};
    for (const auto& col : cols) ups.push_back(upscale_image(col.net, lr, 0));
    for (size_t k = 0; k < ups.size(); ++k)
      for (int yy = 0; yy < tile; ++yy)
        for (int xx = 0; xx < tile; ++xx)
          for (int ch = 0; ch < 3; ++ch)
            grid.at(int(k) * (tile + gap) + xx, int(row) * (tile + gap) + yy, ch) =
                ups[k].at(picks[row].x + xx / zoom, picks[row].y + yy / zoom, ch);
    names += fmt::format("{}`{}` at ({}, {})", row ? ", " : "", fs::path(picks[row].path).filename().string(), picks[row].x, picks[row].y);
  }
  fs::create_directories(fs::path(out) / "plots");
  save_png(grid, (fs::path(out) / "plots" / "comparison.png").string());
  std::string cap = "Columns: HR, bicubic";
  auto p5 = [](const json* x) { return fmt::format("{:.2f} dB", (*x)["psnr"]["set5"].get<double>()); };
  cap += ", float (" + p5(f) + "), " + cols[1].label + " (" + p5(i8) + ")";
  if (low) cap += ", " + cols[2].label + " (" + p5(low) + "; the lowest-bit model within the budget)";
  return cap + fmt::format(" (Set5 PSNR). Crops of {}x{} HR pixels, {}x enlarged, from {}.", side, side, zoom, names);
}

// The report of the rows present in out/rows, in plan order: README.md, results.csv and
// results.json. The study's settings come from out/study.json. With a context (the model and
// data at hand), also the visual comparison.
int write_report(const std::string& out, Ctx* c) {
  const fs::path mf = fs::path(out) / "study.json";
  QSR_CHECK(fs::exists(mf), out + ": no study.json (not a qsr study folder)");
  json m;
  {
    std::ifstream in(mf);
    try {
      m = json::parse(in);
    } catch (const json::exception&) {
      throw Error(mf.string() + ": not valid JSON");
    }
  }
  const std::vector<Row> rows = plan(m);
  std::vector<json> results;
  int failed = 0;
  for (const Row& row : rows) {
    const fs::path file = fs::path(out) / "rows" / (row.id + ".json");
    if (!fs::exists(file)) continue;
    std::ifstream in(file);
    try {
      json j = json::parse(in);
      failed += j.contains("error");
      results.push_back(std::move(j));
    } catch (const json::exception&) {
      fmt::print(stderr, "study: {}: not valid JSON, left out of the report (delete it to run the row again)\n", file.string());
    }
  }
  std::map<std::string, const json*> by_id;
  for (const auto& r : results) by_id[r.value("id", "")] = &r;
  const json* base = by_id.count("float") && !by_id["float"]->contains("error") ? by_id["float"] : nullptr;
  const std::vector<std::string> names = m.at("sets").get<std::vector<std::string>>();
  auto sec = [](const json& r) {
    return r.value("prepare_s", 0.0) + r.value("train_s", 0.0) + r.value("search_s", 0.0);
  };
  std::ostringstream md, csv;
  md << "# qsr study\n\nModel: `" << m.value("model", "") << "`; data: `" << m.value("data", "") << "`"
     << (m.value("quick", false) ? " (--quick)" : "") << "; calibration: " << m.value("calibration_images", 0)
     << " BSDS500 training images; weight rounding: " << m.value("weight_rounding", "")
     << ". PSNR in dB (set5/set14/bsds_y: `y` protocol, bsds_y = every BSDS500 test image; bsds_keras: the Keras example's "
     << "BSDS500 test[50:60]); drop = float - row on Set5; frame: the median time of one " << m.value("frame", "")
     << " low-res frame on the engine the row runs on; example: the same for the Keras example's test image "
     << m.value("example", "") << "; s: seconds to quantise, calibrate, train or search. " << results.size() << " of "
     << rows.size() << " rows present. Rows: `ptq-<mode>-<convs>` post-training quantisation of those convs (`all`: every one), "
     << "`sweep-<mode>` word lengths per channel (`sweep-pt-`: per tensor), `fixed-qM.N` fixed point, "
     << "`sens-convK-wBaB` only conv K at B bits, `finetune-float` the float model fine-tuned by the QAT recipe, "
     << "`qat-<mode>-<convs>` quantisation-aware training of those convs, `qat-sweep-<mode>` QAT of the whole model, "
     << "`mixed` the automatic mixed precision (docs/STUDY.md).\n\n| row | mode | layers |";
  csv << "id,kind,mode,layers,per_channel";
  for (const auto& n : names) md << " PSNR " << n << " |", csv << ",psnr_" << n << ",ssim_" << n;
  md << " drop Set5 | frame ms | example ms | weight bytes | packed bytes | s |\n|---|---|---|";
  csv << ",drop_set5,frame_ms,example_ms,weight_bytes,weight_packed_bytes,prepare_s,train_s,error\n";
  for (size_t i = 0; i < names.size(); ++i) md << "---:|";
  md << "---:|---:|---:|---:|---:|---:|\n";
  auto num = [](const json& r, const char* k, const char* f) {
    return r.contains(k) && r[k].is_number() ? fmt::format(fmt::runtime(f), r[k].get<double>()) : std::string("-");
  };
  for (const auto& r : results) {
    md << "| " << r.value("id", "") << " | " << r.value("mode", "") << " | " << r.value("layers", "") << " |";
    csv << r.value("id", "") << "," << r.value("kind", "") << "," << r.value("mode", "") << "," << r.value("layers", "")
        << "," << (r.value("per_channel", true) ? "true" : "false");
    for (const auto& n : names) {
      md << " " << fmt_num(r, "psnr", n, 4) << " |";
      csv << "," << fmt_num(r, "psnr", n, 4) << "," << fmt_num(r, "ssim", n, 4);
    }
    std::string drop = "-";
    if (base && r.contains("psnr") && r["psnr"].contains("set5"))
      drop = fmt::format("{:.4f}", (*base)["psnr"]["set5"].get<double>() - r["psnr"]["set5"].get<double>());
    const std::string ms = num(r, "frame_ms", "{:.2f}"), ex = num(r, "example_ms", "{:.2f}");
    const std::string bytes = r.contains("weight_bytes") ? std::to_string(r["weight_bytes"].get<int64_t>()) : "-";
    const std::string packed =
        r.contains("weight_packed_bytes") ? std::to_string(r["weight_packed_bytes"].get<int64_t>()) : "-";
    md << " " << (r.contains("error") ? "failed: " + r["error"].get<std::string>() : drop) << " | " << ms << " | " << ex << " | "
       << bytes << " | " << packed << " | " << fmt::format("{:.1f}", sec(r)) << " |\n";
    csv << "," << drop << "," << ms << "," << ex << "," << bytes << "," << packed << "," << num(r, "prepare_s", "{:.2f}") << ","
        << num(r, "train_s", "{:.2f}") << ",\"" << (r.contains("error") ? r["error"].get<std::string>() : "") << "\"\n";
  }
  // A written summary of what the rows show (Set5, the `y` protocol), against the budget.
  const double budget = m.value("budget_db", 0.1);
  if (base) {
    const double bp = (*base)["psnr"]["set5"].get<double>(), bms = base->value("frame_ms", 0.0);
    auto p5 = [](const json& r) { return r["psnr"]["set5"].get<double>(); };
    auto ok = [](const json& r) { return !r.contains("error") && r.contains("psnr") && r["psnr"].contains("set5"); };
    md << "\n## Summary\n\n* Float: " << fmt::format("{:.4f}", bp) << " dB on Set5, " << fmt::format("{:.1f}", bms)
       << " ms per frame.\n";
    auto desc = [&](const json* r) {
      return fmt::format("`{}` ({} of convs {}): {:.4f} dB ({:+.4f}), {:.1f} ms ({:.2f}x faster than float)", (*r)["id"].get<std::string>(),
                         (*r)["mode"].get<std::string>(), (*r)["layers"].get<std::string>(), p5(*r), p5(*r) - bp,
                         (*r)["frame_ms"].get<double>(), bms / (*r)["frame_ms"].get<double>());
    };
    // The fastest rows, overall and within the budget: post-training only, and with QAT and mixed precision.
    for (const bool trained : {false, true}) {
      const json* fastest = nullptr;
      const json* fastest_ok = nullptr;
      for (const auto& r : results) {
        const std::string k = r.value("kind", "");
        if (!ok(r) || !r.contains("frame_ms") || !(k == "ptq" || (trained && (k == "qat" || k == "mixed")))) continue;
        if (!fastest || r["frame_ms"] < (*fastest)["frame_ms"]) fastest = &r;
        if (bp - p5(r) <= budget && (!fastest_ok || r["frame_ms"] < (*fastest_ok)["frame_ms"])) fastest_ok = &r;
      }
      const std::string what = trained ? "row of all (post-training, QAT, mixed precision)" : "post-training row";
      if (fastest) md << "* Fastest " << what << ": " << desc(fastest) << ".\n";
      if (fastest_ok)
        md << "* Fastest " << what << " within " << budget << " dB of float: " << desc(fastest_ok)
           << (trained ? ". This is the report's answer to which layers to quantise for the best time/accuracy balance.\n" : ".\n");
    }
    // The contenders: every row within the budget, fastest first (frame times are medians on the
    // machine as it was while the row ran: a few per cent apart is a tie).
    std::vector<const json*> within;
    for (const auto& r : results) {
      const std::string k = r.value("kind", "");
      if (ok(r) && r.contains("frame_ms") && (k == "ptq" || k == "qat" || k == "mixed") && bp - p5(r) <= budget) within.push_back(&r);
    }
    std::sort(within.begin(), within.end(), [](const json* x, const json* y) { return (*x)["frame_ms"] < (*y)["frame_ms"]; });
    if (!within.empty()) {
      md << "\nThe fastest rows within " << budget << " dB of float (of " << within.size()
         << "; frame times are medians of single runs on a shared machine, so rows a few per cent apart are ties):\n\n"
            "| row | mode | convs | Set5 drop | frame ms | x float | packed bytes |\n|---|---|---|---:|---:|---:|---:|\n";
      for (size_t i = 0; i < std::min<size_t>(within.size(), 8); ++i) {
        const json& r = *within[i];
        md << fmt::format("| `{}` | {} | {} | {:.4f} | {:.1f} | {:.2f} | {} |\n", r["id"].get<std::string>(), r["mode"].get<std::string>(),
                          r["layers"].get<std::string>(), bp - p5(r), r["frame_ms"].get<double>(), bms / r["frame_ms"].get<double>(),
                          r.value("weight_packed_bytes", int64_t(0)));
      }
      md << "\n";
    }
    int lowest = 0;
    for (const auto& r : results) {
      int w = 0, a = 0;
      if (ok(r) && r.value("kind", "") == "sweep" && r.value("per_channel", true) &&
          std::sscanf(r.value("mode", "").c_str(), "w%da%d", &w, &a) == 2 && w == a && bp - p5(r) <= budget && (!lowest || w < lowest))
        lowest = w;
    }
    if (lowest) md << "* The shortest word length (weights and activations, per channel) within " << budget << " dB: " << lowest << " bits.\n";
    if (by_id.count("mixed") && ok(*by_id["mixed"])) {
      const json& x = *by_id["mixed"];
      md << fmt::format("* Automatic mixed precision within {} dB: `{}` (weights of conv1..conv{} at {} bits; activations a0..a{} at {} bits), "
                        "{:.4f} dB ({:+.4f}), {} packed weight bytes",
                        budget, x["mode"].get<std::string>(), x["allocation"]["weights"].size(), x["allocation"]["weights"].dump(),
                        x["allocation"]["weights"].size(), x["allocation"]["activations"].dump(), p5(x), p5(x) - bp,
                        x["weight_packed_bytes"].get<int64_t>());
      if (by_id.count("ptq-int8-all") && ok(*by_id["ptq-int8-all"]))
        md << fmt::format(" ({:.2f}x int8's)", x["weight_packed_bytes"].get<double>() / (*by_id["ptq-int8-all"])["weight_packed_bytes"].get<double>());
      md << fmt::format(", {:.1f} ms per frame ({:.2f}x faster than float); found in {} evaluations (the shortest uniform word length within the budget: {} bits).\n",
                        x["frame_ms"].get<double>(), bms / x["frame_ms"].get<double>(), x.value("evaluations", 0), x.value("uniform_bits", 0));
    }
    std::map<std::string, double> s4;
    constexpr int sb = 4;  // (every study, --quick too, has the 4-bit sensitivity rows)
    for (const auto& r : results)
      if (ok(r) && r.value("kind", "") == "sensitivity" && r.value("mode", "") == fmt::format("w{}a{}", sb, sb))
        s4["conv" + r.value("layers", "")] = bp - p5(r);
    if (!s4.empty()) {
      std::vector<std::pair<double, std::string>> v;
      for (const auto& [k, d] : s4) v.push_back({-d, k});
      std::sort(v.begin(), v.end());
      md << "* Sensitivity at " << sb << " bits (only that conv quantised), most sensitive first:";
      for (const auto& [d, k] : v) md << fmt::format(" {} {:.2f} dB", k, -d) << (k == v.back().second ? ".\n" : ",");
    }
    // QAT against post-training quantisation of the same mode and convs (QAT's starting point).
    std::string qt;
    for (const auto& r : results) {
      const std::string k = r.value("kind", "");
      if (!ok(r) || (k != "qat" && k != "qat-sweep")) continue;
      const std::string twin = k == "qat-sweep" || !by_id.count("ptq-" + r["mode"].get<std::string>() + "-" + r["layers"].get<std::string>())
                                   ? "sweep-" + r["mode"].get<std::string>()
                                   : "ptq-" + r["mode"].get<std::string>() + "-" + r["layers"].get<std::string>();
      if (!by_id.count(twin) || !ok(*by_id[twin]) || (r["layers"] != "all" && twin.rfind("sweep-", 0) == 0)) continue;
      const json& t = *by_id[twin];
      qt += fmt::format("| `{}` | {:.4f} | {:.4f} | {:+.4f} | {:.1f} |\n", r["id"].get<std::string>(), p5(t), p5(r), p5(r) - p5(t),
                        r.value("train_s", 0.0));
    }
    if (!qt.empty()) {
      const json& q = m.at("qat");
      md << fmt::format("\n### QAT against post-training quantisation\n\nEach QAT row starts from the post-training row of the same mode "
                        "and convs (its rounded weights, its calibrated activation grids, kept frozen) and trains {} epochs x {} steps "
                        "of batch {} ({}x{} crops of BSDS500 train, flips), Adam with a cosine learning rate {:.3g} -> {:.3g} "
                        "(the sweep's rows: {:.3g} -> {:.3g}){}; the epoch kept is the one with the best BSDS500 val PSNR. Set5 PSNR:\n\n"
                        "| row | post-training | QAT | gain | training s |\n|---|---:|---:|---:|---:|\n",
                        q.value("epochs", 0), q.value("steps", 0), q.value("batch", 0), q.value("crop", 0), q.value("crop", 0),
                        q.value("lr", 0.0), q.value("lr", 0.0) / 100, q.value("sweep_lr", 0.0), q.value("sweep_lr", 0.0) / 100,
                        q.value("learn_scale", false) ? ", learnt activation scales (LSQ)" : "")
         << qt;
    }
  }
  const std::vector<std::string> plots = draw_plots(out, results);
  std::string comparison;
  if (c) comparison = draw_comparison(out, *c, results, budget);
  if (!plots.empty() || !comparison.empty()) {
    md << "\n## Plots\n\n";
    for (const auto& p : plots) md << "![" << p << "](" << p << ")\n\n";
    if (!comparison.empty()) md << "![plots/comparison.png](plots/comparison.png)\n\n" << comparison << "\n";
  }
  write_file_atomic((fs::path(out) / "README.md").string(), md.str());
  write_file_atomic((fs::path(out) / "results.csv").string(), csv.str());
  json all = m;
  all["rows"] = results;
  write_file_atomic((fs::path(out) / "results.json").string(), all.dump(1) + "\n");
  fmt::print("{}\nwrote {}/README.md, results.csv, results.json ({} of {} rows, {} failed)\n", md.str(), out,
             results.size(), rows.size(), failed);
  return failed;
}

// "i/N" -> (i, N), 1 <= i <= N.
std::pair<int, int> parse_shard(const std::string& s) {
  const auto slash = s.find('/');
  int i = 0, n = 0;
  try {
    QSR_CHECK(slash != std::string::npos, "");
    size_t p1 = 0, p2 = 0;
    i = std::stoi(s.substr(0, slash), &p1);
    n = std::stoi(s.substr(slash + 1), &p2);
    QSR_CHECK(p1 == slash && p2 == s.size() - slash - 1, "");
  } catch (const std::exception&) {
    throw Error("--shard " + s + ": expected i/N, e.g. 2/4");
  }
  QSR_CHECK(n >= 1 && i >= 1 && i <= n, "--shard " + s + ": expected 1 <= i <= N");
  return {i, n};
}

}  // namespace

// What the visual comparison needs when no row runs: the calibration images and Set5.
void prepare_for_comparison(Ctx& c, const std::string& set5) {
  if (c.calib.empty()) c.calib = quant::calibration_inputs(c.bsds, c.fmodel->config().scale, c.a.calib_images);
  if (c.sets.empty()) c.sets.push_back(prepare_set("set5", set5, EvalProtocol::y, c.fmodel->config().scale));
}

// --train-float N: the float baseline trained by the Keras example's recipe (its 80/20 split of
// BSDS500, 300x300 bilinear, area low-res input, batch 8, Adam 1e-3, early stopping with
// patience 10, seed 1337) for N epochs, with the architecture of `arch`, into
// OUT/train/float-baseline/ (resumable; done.json marks it finished). Returns the best checkpoint.
std::string train_float_baseline(const StudyArgs& a, const std::string& bsds, const std::string& arch) {
  const fs::path dir = fs::path(a.out) / "train" / "float-baseline";
  const std::string best = (dir / "best.safetensors").string();
  if (fs::exists(dir / "done.json")) return best;
  const EspcnConfig cfg = load_model(arch)->config();
  DatasetOptions o;
  o.protocol = DatasetProtocol::keras;
  o.scale = cfg.scale;
  o.crop = 300;
  o.validate();
  const Dataset ds = load_dataset(bsds, o);
  if (!ds.warning.empty()) fmt::print(stderr, "warning: {}\n", ds.warning);
  SamplerSource data(ds, 8, 0);
  Espcn model(cfg);
  model.init_orthogonal(1337);
  TrainOptions t;
  t.epochs = a.train_float;
  t.patience = 10;
  t.lr = 1e-3f;
  t.seed = 1337;
  t.out_dir = dir.string();
  t.resume = fs::exists(dir / "last.safetensors");
  t.meta = {{"study", "float baseline"}, {"data", {{"protocol", "keras"}, {"root", bsds}}}, {"batch", 8}};
  fmt::print(stderr, "study: training the float baseline ({} epochs, the Keras recipe) into {}\n", a.train_float, dir.string());
  const TrainResult r = train_espcn(model, data, validation_items(ds), t);
  if (r.stop_reason == "interrupted") throw Interrupted{};
  write_file_atomic((dir / "done.json").string(), json({{"stop_reason", r.stop_reason}, {"best_epoch", r.best_epoch}, {"epochs", r.history.size()}}).dump() + "\n");
  return best;
}

// Parses a list of layer sets "all,1,23" (conv numbers as digits) for --qat-layers.
std::vector<std::string> parse_layer_sets(const std::string& s, int nconv) {
  std::vector<std::string> v;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');) {
    bool ok = !item.empty();
    if (item != "all")
      for (size_t i = 0; i < item.size(); ++i)
        ok &= item[i] >= '1' && item[i] < char('1' + nconv) && (i == 0 || item[i] > item[i - 1]);
    QSR_CHECK(ok, fmt::format("--qat-layers: '{}' is not a layer set (all, or conv numbers 1..{} in increasing order, e.g. 23)", item, nconv));
    v.push_back(item);
  }
  QSR_CHECK(!v.empty(), "--qat-layers: no layer set");
  return v;
}

int cmd_study(const StudyArgs& a) {
  QSR_CHECK(a.weight_rounding == "nearest" || a.weight_rounding == "gptq",
            "--weight-rounding must be nearest or gptq, got '" + a.weight_rounding + "'");
  const auto [shard, nshards] = a.shard.empty() ? std::pair<int, int>{1, 1} : parse_shard(a.shard);
  QSR_CHECK(fs::is_directory(a.data), "--data " + a.data + ": not a folder (it should hold Set5/, Set14/ and BSDS500/)");
  auto need = [&](const std::string& sub) {
    const fs::path p = fs::path(a.data) / sub;
    QSR_CHECK(fs::is_directory(p), fmt::format("--data {}: no {}/ (expected Set5/, Set14/ and BSDS500/, as ../shared/data)",
                                               a.data, sub));
    return p.string();
  };
  const std::string set5 = need("Set5"), bsds = need("BSDS500"), set14 = a.quick ? std::string() : need("Set14");
  std::string from = a.from;
  if (a.train_float > 0) {
    try {
      from = train_float_baseline(a, bsds, a.from);
    } catch (const Interrupted&) {
      fmt::print(stderr, "study: interrupted while training the float baseline; rerun the same command to continue\n");
      return 130;
    }
  }
  Checkpoint raw;
  auto fmodel = load_model(from, &raw);
  const int nconv = int(fmodel->convs.size()), scale = fmodel->config().scale;
  // QAT settings: checked now, before any row runs.
  json qat = {{"enabled", a.qat}};
  if (a.qat) {
    quant::QatOptions qo;
    qo.mode = a.qat_mode;
    quant::QatModel check(fmodel->config(), qo);  // a bad or post-training-only mode is an error now
    std::vector<std::string> sets = a.qat_layers.empty() ? subsets(nconv, a.quick) : parse_layer_sets(a.qat_layers, nconv);
    std::vector<int> bits;
    const std::string bl = a.qat_bits.empty() ? (a.quick ? "4" : "3,4,5,6") : a.qat_bits;
    if (bl != "none") {
      std::stringstream ss(bl);
      for (std::string item; std::getline(ss, item, ',');) {
        int v = 0;
        const auto res = std::from_chars(item.data(), item.data() + item.size(), v);
        QSR_CHECK(res.ec == std::errc() && res.ptr == item.data() + item.size() && v >= 2 && v <= 16,
                  fmt::format("--qat-bits: '{}' is not a word length 2..16 (a list like 3,4,6, or none)", item));
        bits.push_back(v);
      }
    }
    const int crop = a.qat_crop, batch = a.qat_batch > 0 ? a.qat_batch : 32;
    QSR_CHECK(crop >= scale && crop % scale == 0, fmt::format("--qat-crop {} must be a multiple of the scale {}", crop, scale));
    qat.update({{"mode", a.qat_mode},
                {"layers", sets},
                {"bits", bits},
                {"epochs", a.qat_epochs > 0 ? a.qat_epochs : (a.quick ? 2 : 4)},
                {"steps", a.qat_steps > 0 ? a.qat_steps : (a.quick ? 10 : 25)},
                {"batch", batch},
                {"crop", crop},
                {"lr", a.qat_lr},
                {"sweep_lr", a.qat_sweep_lr},
                {"learn_scale", a.qat_learn_scale}});
  }
  Ctx c{a, {}, fmodel.get(), {}, {}, a.quick ? 100 : 640, a.quick ? 100 : 360, {}, {}, bsds, {}, {}};
  {
    Rng r(7);
    c.frame = Tensor({1, c.fh, c.fw, fmodel->config().channels});
    for (int64_t i = 0; i < c.frame.numel(); ++i) c.frame.f32()[i] = r.uniform(0.f, 1.f);
  }
  // The example's test image: the Keras example's first evaluation image, low-res.
  {
    EvalOptions eo;
    eo.protocol = EvalProtocol::keras;
    eo.scale = scale;
    std::vector<std::string> files;
    try {
      files = eval_files(bsds, eo);
    } catch (const Error&) {  // fewer than 60 test images (e.g. a small folder): its first image
      eo.all = true;
      files = eval_files(bsds, eo);
    }
    QSR_CHECK(!files.empty(), bsds + ": no test images");
    c.example = prepare_eval_input({files[0], load_image(files[0])}, EvalProtocol::keras, scale).lr;
    c.manifest["example"] = fmt::format("{} ({}x{})", fs::path(files[0]).filename().string(), c.example.dim(2), c.example.dim(1));
  }
  // The study's settings: a rerun or a merge must be the same study.
  c.manifest.update({{"model", from},        {"train_float", a.train_float},     {"data", a.data},       {"quick", a.quick},  {"budget_db", a.budget_db},
                     {"weight_rounding", a.weight_rounding},         {"calibration_images", a.calib_images},
                     {"nconv", nconv},      {"frame", fmt::format("{}x{}", c.fw, c.fh)}, {"qat", qat}, {"mixed", a.mixed}});
  std::vector<std::string> names = {"set5"};
  if (!a.quick) names.insert(names.end(), {"set14", "bsds_keras", "bsds_y"});
  c.manifest["sets"] = names;
  const fs::path mf = fs::path(a.out) / "study.json";
  fs::create_directories(fs::path(a.out) / "rows");
  if (fs::exists(mf)) {
    std::ifstream in(mf);
    json old;
    try {
      old = json::parse(in);
    } catch (const json::exception&) {
    }
    for (const char* k : {"model", "quick", "weight_rounding", "calibration_images", "nconv", "sets", "frame", "qat", "mixed", "train_float"})
      QSR_CHECK(old.contains(k) && old[k] == c.manifest[k],
                fmt::format("{} holds a study with other settings ({} differs); use another --out", a.out, k));
  }
  write_file_atomic(mf.string(), c.manifest.dump(1) + "\n");  // (the same study; --budget may be new)

  const std::vector<Row> rows = plan(c.manifest);
  std::vector<size_t> mine;  // this shard's rows, not yet done: every nshards-th from shard - 1
  int kept = 0;
  for (size_t i = size_t(shard - 1); i < rows.size(); i += size_t(nshards)) {
    const fs::path file = fs::path(a.out) / "rows" / (rows[i].id + ".json");
    bool done = false;
    if (fs::exists(file)) {
      std::ifstream in(file);
      try {
        done = json::parse(in).value("id", "") == rows[i].id;
      } catch (const json::exception&) {
      }
    }
    if (done) ++kept;
    else mine.push_back(i);
  }
  if (kept) fmt::print(stderr, "study: {} rows already in {}/rows are kept\n", kept, a.out);
  if (!mine.empty()) {
    const auto t_prep = Clock::now();
    c.calib = quant::calibration_inputs(bsds, scale, a.calib_images);
    c.sets.push_back(prepare_set("set5", set5, EvalProtocol::y, scale));
    if (!a.quick) {
      c.sets.push_back(prepare_set("set14", set14, EvalProtocol::y, scale));
      c.sets.push_back(prepare_set("bsds_keras", bsds, EvalProtocol::keras, scale));
      // Every BSDS500 test image (the keras protocol's folder, all of it), under the y protocol.
      c.sets.push_back(prepare_set("bsds_y", bsds, EvalProtocol::keras, scale, true, EvalProtocol::y));
    }
    fmt::print(stderr, "study: {} calibration images, {} evaluation sets prepared in {:.1f}s\n", c.calib.size(), c.sets.size(),
               since(t_prep));
  } else {
    prepare_for_comparison(c, set5);
  }
  // The ETA weighs rows by their rough cost (measured on 2 cores): a post-training row 1, a
  // training row 1 + its steps x batch x crop^2 against 90 steps of 32 x 144^2, the mixed
  // precision 5.
  auto weight = [&](const Row& row) {
    if (row.kind == "mixed") return 5.0;
    if (row.kind != "qat" && row.kind != "qat-sweep" && row.kind != "finetune") return 1.0;
    const json& q = c.manifest["qat"];
    return 1.0 + q["epochs"].get<double>() * q["steps"].get<double>() * q["batch"].get<double>() * std::pow(q["crop"].get<double>(), 2) /
                     (90.0 * 32 * 144 * 144);
  };
  double total_w = 0, done_w = 0;
  for (size_t i : mine) total_w += weight(rows[i]);
  int failed = 0;
  const auto t_all = Clock::now();
  for (size_t n = 0; n < mine.size(); ++n) {
    const Row& row = rows[mine[n]];
    const fs::path file = fs::path(a.out) / "rows" / (row.id + ".json");
    json j;
    try {
      j = run_row(row, c);
    } catch (const Interrupted&) {
      fmt::print(stderr, "study: interrupted in row {}; rerun the same command to continue\n", row.id);
      return 130;
    } catch (const std::exception& e) {  // (a failed row is recorded; the others go on)
      j = {{"id", row.id}, {"kind", row.kind}, {"mode", row.mode}, {"layers", row.layers}, {"error", e.what()}};
      ++failed;
      fmt::print(stderr, "study: row {} failed: {}\n", row.id, e.what());
    }
    write_file_atomic(file.string(), j.dump(1) + "\n");
    done_w += weight(row);
    const double el = since(t_all);
    fmt::print(stderr, "study: [{}/{}] {} ({:.0f}s elapsed, about {:.0f}s left)\n", n + 1, mine.size(), row.id, el,
               el / done_w * (total_w - done_w));
  }
  if (nshards > 1) fmt::print(stderr, "study: shard {}/{}: {} rows run\n", shard, nshards, mine.size());
  return write_report(a.out, &c) || failed ? 1 : 0;
}

int cmd_study_merge(const std::vector<std::string>& dirs) {
  QSR_CHECK(!dirs.empty(), "qsr study merge: name the study folders (the first receives the others' rows)");
  for (const auto& d : dirs) QSR_CHECK(fs::exists(fs::path(d) / "study.json"), d + ": no study.json (not a qsr study folder)");
  auto settings = [](const std::string& d) {
    std::ifstream in(fs::path(d) / "study.json");
    json j = json::parse(in);
    j.erase("data"), j.erase("model");
    return j;
  };
  const json first = settings(dirs[0]);
  int copied = 0;
  for (size_t k = 1; k < dirs.size(); ++k) {
    QSR_CHECK(settings(dirs[k]) == first, dirs[k] + ": a study with other settings than " + dirs[0]);
    for (const auto& e : fs::directory_iterator(fs::path(dirs[k]) / "rows")) {
      const fs::path dst = fs::path(dirs[0]) / "rows" / e.path().filename();
      if (e.path().extension() != ".json" || fs::exists(dst)) continue;
      std::ifstream in(e.path());
      std::stringstream ss;
      ss << in.rdbuf();
      write_file_atomic(dst.string(), ss.str());
      ++copied;
    }
  }
  fmt::print(stderr, "study merge: {} rows copied into {}\n", copied, dirs[0]);
  // The visual comparison needs the model and the data named in study.json: when they are at hand.
  std::ifstream in(fs::path(dirs[0]) / "study.json");
  const json m = json::parse(in);
  StudyArgs a;
  a.out = dirs[0];
  a.from = m.value("model", "");
  a.data = m.value("data", "");
  a.weight_rounding = m.value("weight_rounding", "nearest");
  a.calib_images = m.value("calibration_images", 8);
  a.quick = m.value("quick", false);
  const std::string set5 = (fs::path(a.data) / "Set5").string(), bsds = (fs::path(a.data) / "BSDS500").string();
  if (!fs::exists(a.from) || !fs::is_directory(set5) || !fs::is_directory(bsds)) {
    fmt::print(stderr, "note: the model or data of {} is not at hand; the report has no visual comparison\n", dirs[0]);
    return write_report(dirs[0], nullptr) ? 1 : 0;
  }
  auto fmodel = load_model(a.from);
  Ctx c{a, m, fmodel.get(), {}, {}, 0, 0, {}, {}, bsds, {}, {}};
  prepare_for_comparison(c, set5);
  return write_report(dirs[0], &c) ? 1 : 0;
}

}  // namespace qsr::cli
