// Named layers run in order.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "layers/module.h"

namespace qsr {

class Sequential : public Module {
 public:
  Sequential& add(std::string name, std::shared_ptr<Module> m);
  Var forward(const Var& x) override;
  std::string describe() const override;
  std::vector<std::pair<std::string, Var>> named_parameters() override;
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const { return children_; }

 private:
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
};

}  // namespace qsr
