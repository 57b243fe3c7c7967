#include "quant/qat/qat.h"

#include <fmt/core.h>

#include <algorithm>
#include <cstring>

#include "engine/autograd.h"
#include "quant/observer.h"

namespace qsr::quant {

using nlohmann::json;

namespace {

std::string layer_list(const std::vector<int>& layers, int nconvs) {
  if (int(layers.size()) == nconvs) return "all";
  std::string s;
  for (int i : layers) s += fmt::format("{}conv{}", s.empty() ? "" : ",", i + 1);
  return s;
}

Tensor f32_tensor(std::initializer_list<float> v) {
  Tensor t({int64_t(v.size())});
  std::copy(v.begin(), v.end(), t.f32());
  return t;
}

Tensor i32_scalar(int32_t v) {
  Tensor t({1}, DType::i32);
  t.data<int32_t>()[0] = v;
  return t;
}

}  // namespace

QatModel::QatModel(const EspcnConfig& cfg, QatOptions o) : cfg_(cfg), opt_(std::move(o)) {
  cfg_.validate();
  const int L = int(cfg_.kernels.size());
  const std::string& md = opt_.mode;
  QSR_CHECK(!(md == "float16" || md == "fp16" || md == "bfloat16" || md == "bf16" || md == "dynamic-range" ||
              md == "dynamic"),
            "--qat " + md +
                ": float16, bfloat16 and dynamic-range are post-training modes (qsr quantize); QAT takes int8, "
                "int16x8, wNaM, wN, aM or qM.N");
  QSR_CHECK(opt_.freeze_after >= 0, "--qat-freeze-after must not be negative");
  QuantRequest req;
  req.mode = md;
  try {
    req.layers = parse_layers(opt_.layers, L);
  } catch (const Error& e) {
    std::string m = e.what();
    if (m.rfind("--layers", 0) == 0) m = "--qat-layers" + m.substr(8);
    throw Error(m);
  }
  plan_ = plan_quantization(req, L);
  for (const ActQuant& a : plan_.acts) QSR_CHECK(!a.dynamic, "--qat: dynamic activations cannot be trained");
  if (opt_.learn_scale)
    for (const ActQuant& a : plan_.acts)
      QSR_CHECK(!a.on || a.fmt.scheme != Scheme::fixed_point,
                "--qat-learn-scale: fixed-point (qM.N) activations have a fixed scale, nothing to learn");
  build_acts();
}

bool QatModel::preset(int j) const {
  const ActQuant& a = plan_.acts[size_t(j)];
  return a.fmt.scheme == Scheme::fixed_point || j == 0 || size_t(j) + 1 == plan_.acts.size();
}

void QatModel::build_acts() {
  acts_.assign(plan_.acts.size(), nullptr);
  for (size_t j = 0; j < plan_.acts.size(); ++j) {
    const ActQuant& a = plan_.acts[j];
    if (!a.on) continue;
    const bool fixed = a.fmt.scheme == Scheme::fixed_point;
    auto fq = std::make_shared<FakeQuant>(a.fmt, opt_.observer, opt_.learn_scale && !preset(int(j)), opt_.observer_option);
    if (fixed) {
      fq->set_params(a.params);  // 2^-n from the start; nothing to observe
    } else if (preset(int(j))) {
      // The model's input and output are images in [0, 1]: their grids cover exactly that
      // range (as QuantModel::calibrate chooses them; an 8-bit affine grid is then the 8-bit
      // pixel grid), not the range the training crops happen to show.
      fq->set_params(params_from_ranges(a.fmt, {0.f}, {1.f}));
    }
    acts_[j] = fq;
  }
}

QuantRequest QatModel::request() const {
  QuantRequest r;
  r.mode = plan_.mode;
  r.layers = plan_.layers;
  return r;
}

Var QatModel::weight(int i, const Var& w, bool) {
  const WeightQuant& wq = plan_.weights[size_t(i)];
  if (wq.kind != WeightKind::integer) return w;
  return fake_quant(w, wq.fmt, weight_params(w.value(), wq.fmt));
}

Var QatModel::activation(int j, const Var& a, bool training) {
  if (j == 0 && training) {
    if (!frozen_ && opt_.freeze_after > 0 && steps_ >= opt_.freeze_after) freeze();
    ++steps_;
  }
  FakeQuant* fq = acts_[size_t(j)].get();
  if (!fq) return a;
  fq->train(training);
  return fq->forward(a);
}

void QatModel::freeze() {
  for (auto& fq : acts_)
    if (fq) fq->freeze();
  frozen_ = true;
}

std::vector<std::pair<std::string, Var>> QatModel::named_parameters() {
  std::vector<std::pair<std::string, Var>> r;
  for (size_t j = 0; j < acts_.size(); ++j)
    if (acts_[j])
      for (auto& [name, v] : acts_[j]->named_parameters()) r.emplace_back(fmt::format("qat.a{}.lsq_{}", j, name), v);
  return r;
}

json QatModel::state() const {
  json layers = json::array(), acts = json::array();
  for (int i : plan_.layers) layers.push_back(i + 1);
  for (size_t j = 0; j < acts_.size(); ++j)
    if (acts_[j]) acts.push_back(j);
  return {{"mode", opt_.mode},
          {"layers", layers},
          {"observer", opt_.observer},
          {"observer_option", std::isnan(opt_.observer_option) ? json(nullptr) : json(opt_.observer_option)},
          {"freeze_after", opt_.freeze_after},
          {"learn_scale", opt_.learn_scale},
          {"steps", steps_},
          {"frozen", frozen_},
          {"activations", acts}};
}

std::vector<std::pair<std::string, Tensor>> QatModel::state_tensors() const {
  std::vector<std::pair<std::string, Tensor>> r;
  for (size_t j = 0; j < acts_.size(); ++j) {
    const FakeQuant* fq = acts_[j].get();
    if (!fq) continue;
    const std::string p = fmt::format("qat.a{}.", j);
    if (!fq->observer().empty()) {
      auto [lo, hi] = fq->observer().range();
      r.emplace_back(p + "observer_range", f32_tensor({lo[0], hi[0]}));
    }
    if (fq->has_params()) {
      const QParams q = fq->params();
      r.emplace_back(p + "scale", f32_tensor({q.scale[0]}));
      r.emplace_back(p + "zero_point", i32_scalar(q.zero_point[0]));
    }
  }
  return r;
}

void QatModel::load_state(const Checkpoint& c, const std::string& path) {
  QSR_CHECK(c.meta.contains("qat") && c.meta["qat"].is_object(), path + ": holds no QAT state");
  const json& st = c.meta["qat"];
  try {
    const json mine = state();
    bool same = true;
    for (const char* k : {"mode", "layers", "observer", "observer_option", "freeze_after", "learn_scale"})
      same = same && st.at(k) == mine.at(k);
    if (!same) {
      auto opt_str = [&](const json& s) {
        std::vector<int> layers;
        for (const auto& l : s.at("layers")) layers.push_back(l.get<int>() - 1);
        return fmt::format("--qat {} --qat-layers {} --qat-observer {}{} --qat-freeze-after {}{}", s.at("mode").get<std::string>(),
                           layer_list(layers, int(cfg_.kernels.size())), s.at("observer").get<std::string>(),
                           s.at("observer_option").is_null() ? "" : " --qat-observer-option " + s.at("observer_option").dump(),
                           s.at("freeze_after").dump(), s.at("learn_scale").get<bool>() ? " --qat-learn-scale" : "");
      };
      throw Error(path + ": was trained with " + opt_str(st) + ", this run asks for " + opt_str(mine) +
                  "; resume with the same QAT options");
    }
    build_acts();
    steps_ = st.at("steps").get<int64_t>();
    frozen_ = st.at("frozen").get<bool>();
    for (size_t j = 0; j < acts_.size(); ++j) {
      FakeQuant* fq = acts_[j].get();
      if (!fq || preset(int(j))) continue;  // set by build_acts
      const std::string p = fmt::format("qat.a{}.", j);
      const Tensor* range = c.find(p + "observer_range");
      const Tensor* s = c.find(p + "scale");
      const Tensor* z = c.find(p + "zero_point");
      QSR_CHECK(!range || (range->dtype() == DType::f32 && range->numel() == 2),
                path + ": tensor " + p + "observer_range is misshapen");
      QSR_CHECK((!s && !z) || (s && z && s->dtype() == DType::f32 && s->numel() == 1 && z->dtype() == DType::i32 &&
                               z->numel() == 1),
                path + ": QAT parameters of activation a" + std::to_string(j) + " are missing or misshapen");
      QParams saved;
      if (s) saved = QParams{{s->f32()[0]}, {z->data<int32_t>()[0]}};
      // Parameters without observations were set from outside (the calibrated grids of a
      // quantised --from checkpoint) and are frozen, whether or not the run has frozen yet.
      if (frozen_ || (s && !range)) {
        QSR_CHECK(s, path + ": frozen QAT activation a" + std::to_string(j) + " has no parameters");
        if (range) fq->observer().observe(*range);
        fq->set_params(saved);
      } else if (fq->learn_scale() && s) {
        // Re-run the initialisation from the saved observer range (the observer is not fed
        // after it), which gives back the zero point, then put the learnt scale in place.
        QSR_CHECK(range, path + ": QAT activation a" + std::to_string(j) + " has a learnt scale but no observer range");
        NoGradGuard ng;
        fq->train(true);
        fq->forward(Var(range->clone()));
        fq->named_parameters().at(0).second.value().f32()[0] = saved.scale[0];
      } else if (range) {
        fq->observer().observe(*range);  // the first observation sets [lo, hi] exactly
      }
      if (s) {
        const QParams now = fq->params();
        QSR_CHECK(now.scale == saved.scale && now.zero_point == saved.zero_point,
                  path + ": inconsistent QAT state of activation a" + std::to_string(j));
      }
    }
  } catch (const json::exception& e) {
    throw Error(path + ": bad QAT state: " + e.what());
  }
}

std::string QatModel::describe() const {
  const int L = int(cfg_.kernels.size());
  std::string w, a;
  for (size_t i = 0; i < plan_.weights.size(); ++i)
    if (plan_.weights[i].kind == WeightKind::integer) w += fmt::format("{}conv{}", w.empty() ? "" : ",", i + 1);
  for (size_t j = 0; j < plan_.acts.size(); ++j)
    if (plan_.acts[j].on) a += fmt::format("{}a{}", a.empty() ? "" : ",", j);
  const ActQuant* af = nullptr;
  for (const auto& x : plan_.acts)
    if (x.on) af = &x;
  std::string s = fmt::format("QAT {} on {}: weights {}", opt_.mode, layer_list(plan_.layers, L),
                              w.empty() ? std::string("float") : w + " " + plan_.weights[size_t(plan_.layers[0])].fmt.describe());
  s += fmt::format("; activations {}", a.empty() ? std::string("float") : a + " " + af->fmt.describe());
  if (!a.empty()) {
    s += fmt::format(", {} observer{}", opt_.observer, opt_.learn_scale ? ", learnt scales (LSQ)" : "");
    s += opt_.freeze_after > 0 ? fmt::format(", frozen after {} steps", opt_.freeze_after) : std::string(", never frozen");
  }
  return s;
}

QuantModel export_quant_model(Espcn& model, const QatModel& qat) {
  QSR_CHECK(model.convs.size() == qat.plan().weights.size(), "QAT export: the model does not match the QAT plan");
  QuantModel q(model, qat.request());
  for (size_t j = 0; j < q.acts.size(); ++j) {
    if (!q.acts[j].on) continue;
    const FakeQuant* fq = qat.act(int(j));
    QSR_CHECK(fq && fq->has_params(),
              fmt::format("QAT export: activation a{} has no quantisation parameters (no training step was run)", j));
    q.acts[j].params = fq->params();
  }
  return q;
}

void QatModel::adopt_grids(const QuantModel& q, const std::string& what) {
  for (size_t j = 0; j < q.acts.size() && j < acts_.size(); ++j) {
    FakeQuant* fq = acts_[j].get();
    const ActQuant& aq = q.acts[j];
    if (!fq || !aq.on || aq.dynamic || aq.params.size() == 0) continue;
    QSR_CHECK(fq->format() == aq.fmt, fmt::format("{}: activation a{} is {} there but {} under --qat {}; quantise it with the same mode",
                                                  what, j, aq.fmt.describe(), fq->format().describe(), opt_.mode));
  }
  for (size_t j = 0; j < q.acts.size() && j < acts_.size(); ++j) {
    const ActQuant& aq = q.acts[j];
    if (acts_[j] && aq.on && !aq.dynamic && aq.params.size() != 0) acts_[j]->set_params(aq.params);
  }
}

}  // namespace qsr::quant
