#include "layers/sequential.h"

namespace qsr {

Sequential& Sequential::add(std::string name, std::shared_ptr<Module> m) {
  for (auto& c : children_) QSR_CHECK(c.first != name, "Sequential: duplicate layer name " + name);
  children_.emplace_back(std::move(name), std::move(m));
  return *this;
}

Var Sequential::forward(const Var& x) {
  Var h = x;
  for (auto& [name, m] : children_) h = m->forward(h);
  return h;
}

std::string Sequential::describe() const {
  std::string s;
  for (auto& [name, m] : children_) s += name + ": " + m->describe() + "\n";
  return s;
}

std::vector<std::pair<std::string, Var>> Sequential::named_parameters() {
  std::vector<std::pair<std::string, Var>> r;
  for (auto& [name, m] : children_)
    for (auto& [pn, v] : m->named_parameters()) r.emplace_back(name + "." + pn, v);
  return r;
}

}  // namespace qsr
