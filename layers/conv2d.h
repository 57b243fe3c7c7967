// Stride-1 'same' convolution with bias and a fused activation.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "engine/ops.h"
#include "layers/module.h"

namespace qsr {

// conv2d with bias, then the activation (ReLU fused into the conv: conv2d_relu).
Var conv2d_act(const Var& x, const Var& w, const Var& b, Activation act, ConvAlgo algo = ConvAlgo::automatic);

// Stride-1 'same' convolution with bias and an optional fused activation.
class Conv2d : public Module {
 public:
  Conv2d(int cin, int cout, int k, Activation act = Activation::none);
  Var forward(const Var& x) override;
  std::string describe() const override;
  std::vector<std::pair<std::string, Var>> named_parameters() override;
  int cin, cout, k;
  Activation act;
  ConvAlgo algo = ConvAlgo::automatic;  // of its 3x3 convolutions (engine/ops.h)
  Var weight;  // [k, k, cin, cout]
  Var bias;    // [cout]
};

}  // namespace qsr
