// Layers: a Module owns named parameters (leaf Vars) and maps a Var to a Var. The layers
// themselves have a file each: conv2d.h, pixel_shuffle.h, sequential.h, fake_quant.h; their
// initialisers are in init.h.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/autograd.h"

namespace qsr {

class Module {
 public:
  virtual ~Module() = default;
  virtual Var forward(const Var& x) = 0;
  virtual std::string describe() const = 0;
  // (name, parameter) pairs, names unique within the module.
  virtual std::vector<std::pair<std::string, Var>> named_parameters() { return {}; }
  std::vector<Var> parameters();
  void train(bool on = true) { training_ = on; }
  bool training() const { return training_; }

 protected:
  bool training_ = true;
};

enum class Activation { none, relu, tanh };
std::string activation_name(Activation a);
Activation parse_activation(const std::string& s);

}  // namespace qsr
