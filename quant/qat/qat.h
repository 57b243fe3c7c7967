// Quantisation-aware training (QAT) of ESPCN: `qsr train --qat MODE` (docs/QUANT.md).
//
// A QatModel is the hooks object of an Espcn (models/espcn.h) and the trainer's extension
// (models/train.h). The mode means exactly what `qsr quantize --mode` means: both read it
// through plan_quantization (quant/ptq/qmodel.h). For the planned quantisation:
//   * each conv with integer weights convolves with fake_quant(W) (layers/fake_quant.h): the
//     parameters are chosen from the current weights every forward exactly as QuantModel
//     quantises them (weight_params: per output channel symmetric narrow, min / max over the
//     HWIO kernel's last axis), the gradient is the straight-through estimator;
//   * each quantised activation tensor a_j (a0 the input, a_i conv i's output after its
//     activation, a_L also the model output: depth-to-space moves values unchanged) passes a
//     FakeQuant layer: in training it observes the tensor (observer "ema" by default, or
//     "minmax") and fake-quantises it with the observer's parameters, or with a learnt scale
//     (LSQ, learn_scale); after `freeze_after` training forwards (steps) every activation's
//     parameters freeze; in evaluation the current parameters are used. Fixed-point (qM.N)
//     activations have the fixed scale 2^-N from the start, and the model's input a0 and
//     output a_L (images in [0, 1]) the parameters of the range [0, 1], as
//     QuantModel::calibrate chooses them (neither observed nor learnt).
// Convs and activations outside the plan run the float path unchanged.
//
// Modes: int8, int16x8, wNaM, wN, aM, qM.N. float16, bfloat16 and dynamic-range are
// post-training only (qsr::Error).
#pragma once
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "models/espcn.h"
#include "models/train.h"
#include "layers/fake_quant.h"
#include "quant/ptq/qmodel.h"

namespace qsr::quant {

struct QatOptions {
  std::string mode = "int8";      // as qsr quantize --mode (integer modes only)
  std::string layers = "all";     // as --layers: all | conv1,conv3 | 1,3
  std::string observer = "ema";   // activation observer: ema | minmax
  float observer_option = NAN;    // ema: the decay (NaN: 0.99)
  int64_t freeze_after = 0;       // training steps after which activation parameters freeze; 0: never
  bool learn_scale = false;       // LSQ: learn the activation scales (initialised by the observer)
};

class QatModel : public EspcnHooks, public TrainExtension {
 public:
  // qsr::Error for an unknown or post-training-only mode, a layer outside the model, an
  // unknown observer, or learn_scale with a fixed-point mode.
  QatModel(const EspcnConfig& cfg, QatOptions o);

  Var weight(int i, const Var& w, bool training) override;
  Var activation(int j, const Var& a, bool training) override;

  std::string key() const override { return "qat"; }
  std::vector<std::pair<std::string, Var>> named_parameters() override;  // "qat.aJ.lsq_scale" (learn_scale)
  nlohmann::json state() const override;
  std::vector<std::pair<std::string, Tensor>> state_tensors() const override;
  void load_state(const Checkpoint& c, const std::string& path) override;

  const QatOptions& options() const { return opt_; }
  const QuantPlan& plan() const { return plan_; }
  QuantRequest request() const;              // the request plan() was made from
  int64_t steps() const { return steps_; }   // training forwards so far
  bool frozen() const { return frozen_; }
  void freeze();                             // freezes every activation now
  // The fake-quant layer of activation j, or null when a_j is not quantised.
  FakeQuant* act(int j) const { return acts_[size_t(j)].get(); }
  std::string describe() const;  // one line
  // Starts from a post-training quantised model: each activation this plan quantises takes q's
  // calibrated grid, frozen. qsr::Error, naming `what` (e.g. the file), when q has that
  // activation on another format; activations q does not quantise statically are left alone.
  void adopt_grids(const QuantModel& q, const std::string& what);

 private:
  void build_acts();
  bool preset(int j) const;  // a_j's parameters are fixed from the start: fixed point, the input, the output
  EspcnConfig cfg_;
  QatOptions opt_;
  QuantPlan plan_;
  std::vector<std::shared_ptr<FakeQuant>> acts_;  // per activation tensor; null when float
  int64_t steps_ = 0;
  bool frozen_ = false;
};

// The quantised model a QAT run trained: `model`'s current weights quantised per qat's plan (as
// QuantModel does, so the codes are the ones the QAT forward used) and each quantised
// activation's current QAT parameters (not re-calibrated). qsr::Error when an activation has
// no parameters yet (no training step was run).
QuantModel export_quant_model(Espcn& model, const QatModel& qat);

}  // namespace qsr::quant
