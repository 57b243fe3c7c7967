// The training loop: Adam + MSE over batches from any TrainSource, validation
// each epoch, early stopping on the training loss with the best weights kept,
// resumable checkpoints (also on SIGINT), per-epoch CSV / JSON-lines logs and
// a training graph.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "engine/random.h"
#include "engine/tensor.h"
#include "models/checkpoint.h"
#include "models/espcn.h"

namespace qsr {

struct TrainBatch {
  Tensor x;  // [b, h, w, 1] low-res input
  Tensor y;  // [b, h*r, w*r, 1] high-res target
};

// Produces the batches of one epoch. The trainer hands it a generator seeded
// from (seed, epoch) alone, so an epoch's batches never depend on what ran
// before: a resumed run sees exactly the batches the interrupted one would have.
class TrainSource {
 public:
  virtual ~TrainSource() = default;
  virtual int64_t steps_per_epoch() const = 0;
  virtual void start_epoch(Rng& rng) = 0;
  virtual TrainBatch next_batch(Rng& rng) = 0;
};

struct ValItem {
  Tensor x, y;  // [1, h, w, 1], [1, h*r, w*r, 1]
};

// State trained alongside the model and saved in every checkpoint (best and last), e.g.
// quantisation-aware training (quant/qat/qat.h). The trainer optimises its parameters with the
// model's (Adam state "adam.m.NAME" / "adam.v.NAME" as for the model's), stores state() under
// the metadata key key() and state_tensors() as extra tensors, restores both on --resume (and
// from the best checkpoint when the run ends, so that model and extension match).
class TrainExtension {
 public:
  virtual ~TrainExtension() = default;
  virtual std::string key() const = 0;
  virtual std::vector<std::pair<std::string, Var>> named_parameters() { return {}; }
  virtual nlohmann::json state() const = 0;
  virtual std::vector<std::pair<std::string, Tensor>> state_tensors() const = 0;
  // From a checkpoint written with this state (`path` names it in errors). Must set the
  // values of named_parameters() too.
  virtual void load_state(const Checkpoint& c, const std::string& path) = 0;
};

struct TrainOptions {
  int epochs = 100;
  int patience = 10;  // epochs without a better monitored value before stopping (0: never stop early)
  // What picks the best epoch (kept, best.safetensors) and drives early stopping: "loss" (the
  // training loss, as Keras) or "val_psnr" (the validation PSNR).
  std::string monitor = "loss";
  float lr = 1e-3f;
  // "constant" (Keras) or "cosine": per step, lr_min + (lr - lr_min) (1 + cos(pi g / G)) / 2 for
  // global step g of G = epochs * steps_per_epoch (a function of the step alone, so --resume
  // continues the schedule exactly).
  std::string lr_schedule = "constant";
  float lr_min = 0.f;
  uint64_t seed = 1337;
  std::string out_dir = "runs/espcn";
  bool resume = false;
  bool progress = true;    // a progress bar with ETA on stderr
  nlohmann::json meta;     // stored in every checkpoint (data protocol, command line, ...)
  TrainExtension* extension = nullptr;  // e.g. QAT state (not owned)
};

struct EpochRecord {
  int epoch = 0;  // 1-based
  double loss = 0, val_loss = 0, val_psnr = 0, seconds = 0;
};

struct TrainResult {
  std::vector<EpochRecord> history;
  int best_epoch = 0;
  double best_loss = 0;  // the best monitored value: the loss, or minus the validation PSNR
  std::string stop_reason;  // "completed", "early stopping", "interrupted"
  std::string best_path, last_path;
};

// Trains `model` in place; at the end it holds the best epoch's weights (opt.monitor).
// Throws qsr::Error on a NaN/Inf loss (the last good checkpoint stays on disk).
TrainResult train_espcn(Espcn& model, TrainSource& data, const std::vector<ValItem>& val, const TrainOptions& opt);

// Mean MSE and mean PSNR (peak 1, prediction clipped to [0, 1]) over a validation set, with the
// model in evaluation mode (restored afterwards; for QAT: fixed quantisation parameters). With
// the automatic convolution choice (engine/ops.h) its 3x3 convs run Winograd, as training does.
std::pair<double, double> validate(Espcn& model, const std::vector<ValItem>& val);

// The learning rate of 0-based global step `g` of `total` under opt's schedule.
float scheduled_lr(const TrainOptions& opt, int64_t g, int64_t total);

// The generator of epoch `epoch` (1-based) for a run seeded with `seed`.
Rng epoch_rng(uint64_t seed, int epoch);

}  // namespace qsr
