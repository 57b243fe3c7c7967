#include "layers/pixel_shuffle.h"

#include "engine/ops.h"

namespace qsr {

Var PixelShuffle::forward(const Var& x) { return pixel_shuffle(x, r); }
std::string PixelShuffle::describe() const { return "depth_to_space x" + std::to_string(r); }

}  // namespace qsr
