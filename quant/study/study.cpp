// `qsr study`: the comparison the project reproduces, as one command (study.h, docs/STUDY.md):
// the settings checked and recorded, the inputs prepared once, the rows run (internal.h).
#include "quant/study/study.h"

#include <fmt/format.h>

#include <cmath>

#include "engine/fileio.h"
#include "engine/random.h"
#include "models/checkpoint.h"
#include "models/image/image.h"
#include "quant/qat/qat.h"
#include "quant/study/internal.h"

namespace qsr::study {

namespace {

// The folders of --data: Set5/, BSDS500/ and (unless --quick) Set14/.
struct DataDirs {
  std::string set5, bsds, set14;
};

DataDirs data_dirs(const StudyArgs& a) {
  QSR_CHECK(fs::is_directory(a.data), "--data " + a.data + ": not a folder (it should hold Set5/, Set14/ and BSDS500/)");
  auto need = [&](const std::string& sub) {
    const fs::path p = fs::path(a.data) / sub;
    QSR_CHECK(fs::is_directory(p), fmt::format("--data {}: no {}/ (expected Set5/, Set14/ and BSDS500/, as ../shared/data)",
                                               a.data, sub));
    return p.string();
  };
  DataDirs d;
  d.set5 = need("Set5");
  d.bsds = need("BSDS500");
  d.set14 = a.quick ? std::string() : need("Set14");
  return d;
}

// study.json's "qat": the training rows' recipe, checked now, before any row runs.
json qat_settings(const StudyArgs& a, const Espcn& fmodel) {
  json qat = {{"enabled", a.qat}};
  if (!a.qat) return qat;
  const int nconv = int(fmodel.convs.size()), scale = fmodel.config().scale;
  quant::QatOptions qo;
  qo.mode = a.qat_mode;
  quant::QatModel check(fmodel.config(), qo);  // a bad or post-training-only mode is an error now
  std::vector<std::string> sets = a.qat_layers.empty() ? subsets(nconv, a.quick) : parse_layer_sets(a.qat_layers, nconv);
  const std::vector<int> bits = parse_word_lengths(a.qat_bits.empty() ? (a.quick ? "4" : "3,4,5,6") : a.qat_bits);
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
  return qat;
}

// The timed inputs: the frame (uniform random pixels, seed 7) and the Keras example's first
// evaluation image, low-res (named in the manifest).
void prepare_timed_inputs(Ctx& c) {
  const int scale = c.fmodel->config().scale;
  Rng r(7);
  c.frame = Tensor({1, c.fh, c.fw, c.fmodel->config().channels});
  for (int64_t i = 0; i < c.frame.numel(); ++i) c.frame.f32()[i] = r.uniform(0.f, 1.f);
  EvalOptions eo;
  eo.protocol = EvalProtocol::keras;
  eo.scale = scale;
  std::vector<std::string> files;
  try {
    files = eval_files(c.bsds, eo);
  } catch (const Error&) {  // fewer than 60 test images (e.g. a small folder): its first image
    eo.all = true;
    files = eval_files(c.bsds, eo);
  }
  QSR_CHECK(!files.empty(), c.bsds + ": no test images");
  c.example = prepare_eval_input({files[0], load_image(files[0])}, EvalProtocol::keras, scale).lr;
  c.manifest["example"] = fmt::format("{} ({}x{})", fs::path(files[0]).filename().string(), c.example.dim(2), c.example.dim(1));
}

// The study's settings: a rerun or a merge must be the same study.
void fill_manifest(Ctx& c, const std::string& from, const json& qat) {
  const StudyArgs& a = c.a;
  c.manifest.update({{"model", from},        {"train_float", a.train_float},     {"data", a.data},       {"quick", a.quick},  {"budget_db", a.budget_db},
                     {"weight_rounding", a.weight_rounding},         {"calibration_images", a.calib_images},
                     {"nconv", int(c.fmodel->convs.size())},      {"frame", fmt::format("{}x{}", c.fw, c.fh)}, {"qat", qat}, {"mixed", a.mixed}});
  std::vector<std::string> names = {"set5"};
  if (!a.quick) names.insert(names.end(), {"set14", "bsds_keras", "bsds_y"});
  c.manifest["sets"] = names;
}

// The calibration images and the evaluation sets, prepared once for every row.
void prepare_sets(Ctx& c, const DataDirs& d) {
  const int scale = c.fmodel->config().scale;
  const auto t_prep = Clock::now();
  c.calib = quant::calibration_inputs(d.bsds, scale, c.a.calib_images);
  c.sets.push_back(prepare_set("set5", d.set5, EvalProtocol::y, scale));
  if (!c.a.quick) {
    c.sets.push_back(prepare_set("set14", d.set14, EvalProtocol::y, scale));
    c.sets.push_back(prepare_set("bsds_keras", d.bsds, EvalProtocol::keras, scale));
    // Every BSDS500 test image (the keras protocol's folder, all of it), under the y protocol.
    c.sets.push_back(prepare_set("bsds_y", d.bsds, EvalProtocol::keras, scale, true, EvalProtocol::y));
  }
  fmt::print(stderr, "study: {} calibration images, {} evaluation sets prepared in {:.1f}s\n", c.calib.size(), c.sets.size(),
             seconds_since(t_prep));
}

// The ETA weighs rows by their rough cost (measured on 2 cores): a post-training row 1, a
// training row 1 + its steps x batch x crop^2 against 90 steps of 32 x 144^2, the mixed
// precision 5.
double row_weight(const Row& row, const json& manifest) {
  if (row.kind == "mixed") return 5.0;
  if (row.kind != "qat" && row.kind != "qat-sweep" && row.kind != "finetune") return 1.0;
  const json& q = manifest["qat"];
  return 1.0 + q["epochs"].get<double>() * q["steps"].get<double>() * q["batch"].get<double>() * std::pow(q["crop"].get<double>(), 2) /
                   (90.0 * 32 * 144 * 144);
}

// Runs the rows `mine`, each written to OUT/rows/<id>.json (a failed row with its error).
// Returns how many failed; nothing when training was interrupted.
std::optional<int> run_rows(Ctx& c, const std::vector<Row>& rows, const std::vector<size_t>& mine) {
  double total_w = 0, done_w = 0;
  for (size_t i : mine) total_w += row_weight(rows[i], c.manifest);
  int failed = 0;
  const auto t_all = Clock::now();
  for (size_t n = 0; n < mine.size(); ++n) {
    const Row& row = rows[mine[n]];
    json j;
    try {
      j = run_row(row, c);
    } catch (const Interrupted&) {
      fmt::print(stderr, "study: interrupted in row {}; rerun the same command to continue\n", row.id);
      return std::nullopt;
    } catch (const std::exception& e) {  // (a failed row is recorded; the others go on)
      j = {{"id", row.id}, {"kind", row.kind}, {"mode", row.mode}, {"layers", row.layers}, {"error", e.what()}};
      ++failed;
      fmt::print(stderr, "study: row {} failed: {}\n", row.id, e.what());
    }
    write_file_atomic(row_file(c.a.out, row.id).string(), j.dump(1) + "\n");
    done_w += row_weight(row, c.manifest);
    const double el = seconds_since(t_all);
    fmt::print(stderr, "study: [{}/{}] {} ({:.0f}s elapsed, about {:.0f}s left)\n", n + 1, mine.size(), row.id, el,
               el / done_w * (total_w - done_w));
  }
  return failed;
}

}  // namespace

int cmd_study(const StudyArgs& a) {
  QSR_CHECK(a.weight_rounding == "nearest" || a.weight_rounding == "gptq",
            "--weight-rounding must be nearest or gptq, got '" + a.weight_rounding + "'");
  const auto [shard, nshards] = a.shard.empty() ? std::pair<int, int>{1, 1} : parse_shard(a.shard);
  const DataDirs d = data_dirs(a);
  std::string from = a.from;
  if (a.train_float > 0) {
    try {
      from = train_float_baseline(a, d.bsds, a.from);
    } catch (const Interrupted&) {
      fmt::print(stderr, "study: interrupted while training the float baseline; rerun the same command to continue\n");
      return 130;
    }
  }
  auto fmodel = load_model(from);
  fmodel->set_conv_algo(a.conv_algo);
  const json qat = qat_settings(a, *fmodel);
  Ctx c{a, {}, fmodel.get(), {}, {}, a.quick ? 100 : 640, a.quick ? 100 : 360, {}, {}, d.bsds, {}, {}};
  prepare_timed_inputs(c);
  fill_manifest(c, from, qat);
  write_manifest(c);
  const std::vector<Row> rows = plan(c.manifest);
  const std::vector<size_t> mine = pending_rows(rows, a.out, shard, nshards);
  if (!mine.empty()) prepare_sets(c, d);
  else prepare_for_comparison(c, d.set5);
  const std::optional<int> failed = run_rows(c, rows, mine);
  if (!failed) return 130;
  if (nshards > 1) fmt::print(stderr, "study: shard {}/{}: {} rows run\n", shard, nshards, mine.size());
  return write_report(a.out, &c) || *failed ? 1 : 0;
}

}  // namespace qsr::study
