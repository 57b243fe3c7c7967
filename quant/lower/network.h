// How every command runs a checkpoint: float models on the f32 engine, quantised ones on the
// integer engine (int_engine.h) unless `simulate` asks for the reference execution.
#pragma once
#include <memory>
#include <string>

#include "models/espcn.h"
#include "models/upscale.h"
#include "quant/lower/int_engine.h"
#include "quant/ptq/qmodel.h"

namespace qsr::quant {

struct LoadedNet {
  std::unique_ptr<Espcn> fmodel;
  std::shared_ptr<QuantModel> qmodel;
  std::shared_ptr<IntEngine> engine;  // quantised and not simulated
  Network net;
  std::string engine_name() const;  // "f32", "native (avx2 integer kernels)", "simulation"
};
// o.conv_algo also steers the float model's convs and the reference's float path. qsr::Error
// naming the file when it is not a checkpoint of ours.
LoadedNet load_network(const std::string& path, bool simulate, const LowerOptions& o = {});

}  // namespace qsr::quant
