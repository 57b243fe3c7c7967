// `qsr bench` and `qsr verify`, and how every command runs a checkpoint: float models on
// the f32 engine, quantised ones on the integer engine (quant/int_engine.h) unless
// --simulate asks for the reference execution.
#pragma once
#include <memory>
#include <string>

#include "models/espcn.h"
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

}  // namespace qsr::cli
