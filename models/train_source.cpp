#include "models/train_source.h"

namespace qsr {

std::vector<ValItem> validation_items(const Dataset& ds) {
  std::vector<ValItem> val;
  for (auto& smp : ds.validation_samples()) {
    const Shape xs = smp.x.shape(), ys = smp.y.shape();
    val.push_back({smp.x.reshape({1, xs[0], xs[1], xs[2]}), smp.y.reshape({1, ys[0], ys[1], ys[2]})});
  }
  return val;
}

}  // namespace qsr
