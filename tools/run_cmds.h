// `qsr bench` and `qsr verify`, and how every command runs a checkpoint: float models on
// the f32 engine, quantised ones on the integer engine (quant/int_engine.h) unless
// --simulate asks for the reference execution.
#pragma once
#include <memory>
#include <string>

#include "models/dataset.h"
#include "models/espcn.h"
#include "models/train.h"
#include "models/upscale.h"
#include "quant/int_engine.h"
#include "quant/qmodel.h"

namespace qsr::cli {

struct LoadedNet {
  std::unique_ptr<Espcn> fmodel;
  std::shared_ptr<quant::QuantModel> qmodel;
  std::shared_ptr<quant::IntEngine> engine;  // quantised and not simulated
  Network net;
  std::string engine_name() const;  // "f32", "integer (avx2 vpmaddwd)", "simulation"
};
LoadedNet load_network(const std::string& path, bool simulate);

// Adapts the dataset's batch sampler to the trainer: a fresh permutation per
// epoch, drawn from the epoch's generator.
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

struct BenchArgs {
  std::string model;
  std::string size = "640x360";
  int runs = 10, warmup = 2;
  bool json = false, simulate = false, layers = false;
};
int cmd_bench(const BenchArgs& a);

struct VerifyArgs {
  std::string model;
  std::string data;      // optional folder of images
  int images = 8;        // at most this many images of data
  int random = 6;        // random inputs
  uint64_t seed = 1337;
  bool json = false;
};
int cmd_verify(const VerifyArgs& a);

struct ExportArgs {
  std::string model, out, format = "c", name = "espcn";
  int width = 640;                 // the stream width the arena is reported for
  std::string golden;              // low-res size of the golden vectors (c: default 37x23; engine: none)
  std::string isa = "avx2";        // engine: the kernel layouts to lower for
  std::string weight_storage = "packed";  // c: weights of at most 4 bits two per byte, or "bytes"
  uint64_t seed = 1337;
};
int cmd_export(const ExportArgs& a);

}  // namespace qsr::cli
