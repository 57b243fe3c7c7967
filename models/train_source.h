// A dataset (models/dataset.h) as the trainer's input (models/train.h): batches and validation.
#pragma once
#include <vector>

#include "models/dataset.h"
#include "models/train.h"

namespace qsr {

// Adapts the dataset's batch sampler to the trainer: a fresh permutation per epoch, drawn from
// the epoch's generator.
class SamplerSource : public TrainSource {
 public:
  SamplerSource(const Dataset& ds, int batch, int steps) : ds_(ds), batch_(batch), sampler_(ds, batch, steps) {}
  int64_t steps_per_epoch() const override { return sampler_.steps_per_epoch(); }
  void start_epoch(Rng&) override { sampler_ = BatchSampler(ds_, batch_, sampler_.steps_per_epoch()); }
  TrainBatch next_batch(Rng& rng) override {
    Batch b = sampler_.next(rng);
    return {b.x, b.y};
  }

 private:
  const Dataset& ds_;
  int batch_;
  BatchSampler sampler_;
};

// The validation pairs of a dataset as the trainer takes them ([1, h, w, 1] each).
std::vector<ValItem> validation_items(const Dataset& ds);

}  // namespace qsr
