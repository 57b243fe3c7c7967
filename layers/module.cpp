#include "layers/module.h"

namespace qsr {

std::vector<Var> Module::parameters() {
  std::vector<Var> r;
  for (auto& [name, v] : named_parameters()) r.push_back(v);
  return r;
}

std::string activation_name(Activation a) {
  switch (a) {
    case Activation::none: return "none";
    case Activation::relu: return "relu";
    case Activation::tanh: return "tanh";
  }
  return "?";
}

Activation parse_activation(const std::string& s) {
  if (s == "none" || s == "linear") return Activation::none;
  if (s == "relu") return Activation::relu;
  if (s == "tanh") return Activation::tanh;
  throw Error("unknown activation '" + s + "' (expected relu, tanh or none)");
}

}  // namespace qsr
