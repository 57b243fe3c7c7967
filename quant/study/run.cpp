// One row of the study: the model built (float or post-training quantised), scored on the
// evaluation sets and timed on the engine a user gets (internal.h).
#include <fmt/format.h>

#include <algorithm>

#include "models/image/image.h"
#include "models/train_source.h"
#include "quant/lower/int_engine.h"
#include "quant/ptq/gptq.h"
#include "quant/study/internal.h"

namespace qsr::study {

const Dataset& Ctx::train_data() {
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

EvalSet prepare_set(const std::string& name, const std::string& dir, EvalProtocol p, int scale, bool all,
                    std::optional<EvalProtocol> as) {
  EvalOptions eo;
  eo.protocol = p;
  eo.scale = scale;
  eo.all = all;
  EvalSet s{name, {}};
  for (const std::string& f : eval_files(dir, eo)) s.inputs.push_back(prepare_eval_input({f, load_image(f)}, as.value_or(p), scale));
  return s;
}

namespace {

// Median forward time of `x` on `net` in ms (after one warm-up run).
double median_ms(const Network& net, const Tensor& x, int runs) {
  net.forward(x);
  std::vector<double> t;
  for (int i = 0; i < runs; ++i) {
    const auto t0 = Clock::now();
    net.forward(x);
    t.push_back(seconds_since(t0) * 1e3);
  }
  return median(std::move(t));
}

Upscaler upscaler_of(const Network& net) {
  return [&net](const Tensor& x) { return upscale_tensor(net, x, 0); };
}

}  // namespace

double psnr_on(const Network& net, const EvalSet& set) { return evaluate_prepared(set.inputs, upscaler_of(net)).mean_psnr_model; }

void measure(const Network& net, Ctx& c, json& j) {
  const Upscaler up = upscaler_of(net);
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

// (Built from the float model, the quantised model's float path runs its conv algorithm.)
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

Network engine_net(const std::shared_ptr<quant::QuantModel>& q, ConvAlgo conv_algo, json& j) {
  quant::LowerOptions o;
  o.conv_algo = conv_algo;
  auto engine = std::make_shared<quant::IntEngine>(*q, o);
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

json run_row(const Row& row, Ctx& c) {
  json j = {{"id", row.id}, {"kind", row.kind}, {"mode", row.mode}, {"layers", row.layers}, {"per_channel", row.per_channel}};
  if (row.kind == "finetune" || row.kind == "qat" || row.kind == "qat-sweep") return run_train_row(row, c, j);
  if (row.kind == "mixed") return run_mixed_row(c, j);
  const auto t0 = Clock::now();
  Network net;
  if (row.kind == "float") {
    net = float_net(*c.fmodel, j);
    j["prepare_s"] = seconds_since(t0);
  } else {
    const auto q = ptq_model(c, row.mode, layers_of(row.layers), row.per_channel);
    j["prepare_s"] = seconds_since(t0);
    net = engine_net(q, c.a.conv_algo, j);
  }
  measure(net, c, j);
  return j;
}

}  // namespace qsr::study
