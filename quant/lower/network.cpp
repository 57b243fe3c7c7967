#include "quant/lower/network.h"

#include <fmt/core.h>

#include "models/checkpoint.h"

namespace qsr::quant {

std::string LoadedNet::engine_name() const {
  if (engine) return fmt::format("native ({} integer kernels)", engine->kernels().name);
  if (qmodel) return "simulation";
  return "f32";
}

LoadedNet load_network(const std::string& path, bool simulate, const LowerOptions& o) {
  LoadedNet l;
  if (is_quant_checkpoint(path)) {
    l.qmodel = std::make_shared<QuantModel>(load_quant_model(path));
    l.qmodel->float_path.algo = o.conv_algo;
    l.net.cfg = l.qmodel->cfg;
    l.net.tile_invariant = l.qmodel->tile_invariant();
    if (simulate) {
      auto q = l.qmodel;
      l.net.forward = [q](const Tensor& x) { return q->forward(x); };
    } else {
      l.engine = std::make_shared<IntEngine>(*l.qmodel, o);
      auto e = l.engine;
      l.net.forward = [e](const Tensor& x) { return e->forward(x); };
    }
  } else {
    l.fmodel = load_model(path);
    l.fmodel->set_conv_algo(o.conv_algo);
    l.net = network_of(*l.fmodel);
  }
  return l;
}

}  // namespace qsr::quant
