// Depth-to-space (TensorFlow ordering) as a layer.
#pragma once
#include <string>

#include "layers/module.h"

namespace qsr {

class PixelShuffle : public Module {
 public:
  explicit PixelShuffle(int r) : r(r) {}
  Var forward(const Var& x) override;
  std::string describe() const override;
  int r;
};

}  // namespace qsr
