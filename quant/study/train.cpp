// The training rows of the study (the float model fine-tuned, QAT) and the float baseline
// trained by the Keras example's recipe (internal.h).
#include <fmt/format.h>

#include "engine/fileio.h"
#include "models/checkpoint.h"
#include "models/train_source.h"
#include "quant/qat/qat.h"
#include "quant/study/internal.h"

namespace qsr::study {

namespace {

// The model a training row starts from: the float model's weights, or for QAT those of the
// post-training model of the row's mode and layers, with the QAT hooks (returned in `qat`)
// holding its calibrated activation grids, frozen.
void start_training(const Row& row, Ctx& c, Espcn& model, std::shared_ptr<quant::QatModel>& qat) {
  std::unique_ptr<Espcn> from;
  if (row.kind != "finetune") {
    const auto start = ptq_model(c, row.mode, layers_of(row.layers), true);
    from = start->float_model();
    quant::QatOptions qo;
    qo.mode = row.mode;
    qo.layers = layer_list(row.layers);
    qo.freeze_after = 0;
    qo.learn_scale = c.manifest.at("qat").value("learn_scale", false);
    qat = std::make_shared<quant::QatModel>(model.config(), qo);
    qat->adopt_grids(*start, row.id);
    model.hooks = qat;
  }
  auto dst = model.named_parameters();
  auto src = (from ? *from : *c.fmodel).named_parameters();
  for (size_t i = 0; i < dst.size(); ++i) dst[i].second.value() = src[i].second.value().clone();
}

// The recipe of study.json's "qat" for a training row; its run lives in OUT/train/<id>/.
TrainOptions train_options(const Row& row, const Ctx& c, quant::QatModel* qat) {
  const json& qs = c.manifest.at("qat");
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
  o.extension = qat;
  return o;
}

}  // namespace

// The training rows: the float model fine-tuned, or QAT of `row.mode` on `row.layers` starting
// from the post-training model of the same mode and layers (its rounded weights, its calibrated
// activation grids, frozen), by the recipe in study.json's "qat". The run lives in
// OUT/train/<id>/ (checkpoints and logs; an interrupted row resumes from its last epoch).
json run_train_row(const Row& row, Ctx& c, json j) {
  const json& qs = c.manifest.at("qat");
  Espcn model(c.fmodel->config());
  model.set_conv_algo(c.a.conv_algo);
  std::shared_ptr<quant::QatModel> qat;
  const auto t0 = Clock::now();
  start_training(row, c, model, qat);
  j["prepare_s"] = seconds_since(t0);
  const Dataset& ds = c.train_data();
  SamplerSource data(ds, qs.at("batch").get<int>(), qs.at("steps").get<int>());
  const TrainOptions o = train_options(row, c, qat.get());
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
  if (qat) net = engine_net(std::make_shared<quant::QuantModel>(quant::export_quant_model(model, *qat)), c.a.conv_algo, j);
  else net = float_net(model, j);
  measure(net, c, j);
  return j;
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
  model.set_conv_algo(a.conv_algo);
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
  write_file_atomic((dir / "done.json").string(),
                    json({{"stop_reason", r.stop_reason}, {"best_epoch", r.best_epoch}, {"epochs", r.history.size()}}).dump() + "\n");
  return best;
}

}  // namespace qsr::study
