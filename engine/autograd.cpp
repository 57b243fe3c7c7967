#include "engine/autograd.h"

#include <unordered_set>

namespace qsr {

namespace {
thread_local bool g_grad_enabled = true;
}

bool grad_enabled() { return g_grad_enabled; }
NoGradGuard::NoGradGuard() : prev_(g_grad_enabled) { g_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { g_grad_enabled = prev_; }

Var::Var(Tensor value, bool requires_grad) : impl_(std::make_shared<VarImpl>()) {
  QSR_CHECK(value.defined(), "Var: undefined tensor");
  QSR_CHECK(!requires_grad || value.dtype() == DType::f32, "Var: only f32 tensors can require a gradient");
  impl_->value = std::move(value);
  impl_->requires_grad = requires_grad;
}

const Tensor& Var::value() const {
  QSR_CHECK(impl_, "use of an undefined Var");
  return impl_->value;
}
Tensor& Var::value() {
  QSR_CHECK(impl_, "use of an undefined Var");
  return impl_->value;
}
const Tensor& Var::grad() const {
  QSR_CHECK(impl_, "use of an undefined Var");
  return impl_->grad;
}
bool Var::requires_grad() const { return impl_ && impl_->requires_grad; }
void Var::set_requires_grad(bool on) {
  QSR_CHECK(is_leaf(), "set_requires_grad: only leaves can be changed");
  impl_->requires_grad = on;
}
bool Var::is_leaf() const { return impl_ && !impl_->backward; }
std::string Var::op_name() const { return impl_ ? impl_->op : "undefined"; }
void Var::zero_grad() {
  if (impl_) impl_->grad = Tensor();
}

void accumulate_grad(const Var& v, Tensor g) {
  VarImpl* p = v.impl();
  if (!p || !p->requires_grad) return;
  QSR_CHECK(g.shape() == p->value.shape(), "gradient shape " + shape_str(g.shape()) + " does not match value shape " +
                                               shape_str(p->value.shape()) + " (op " + p->op + ")");
  if (!p->grad.defined()) {
    p->grad = std::move(g);
    return;
  }
  if (p->grad.same_storage(g)) g = g.clone();
  float* d = p->grad.f32();
  const float* s = g.f32();
  for (int64_t i = 0, n = g.numel(); i < n; ++i) d[i] += s[i];
}

Var make_result(Tensor value, const char* op, std::vector<Var> inputs, BackwardFn backward) {
  Var r(std::move(value));
  if (!grad_enabled()) return r;
  bool need = false;
  for (const Var& v : inputs) need = need || v.requires_grad();
  if (!need) return r;
  VarImpl* p = r.impl();
  p->requires_grad = true;
  p->op = op;
  p->inputs = std::move(inputs);
  p->backward = std::move(backward);
  return r;
}

void Var::backward() const {
  QSR_CHECK(impl_ && impl_->value.numel() == 1,
            "backward() without a seed needs a one-element result; got shape " + shape_str(shape()));
  backward(Tensor::full(shape(), 1.f));
}

void Var::backward(const Tensor& seed) const {
  QSR_CHECK(impl_, "backward on an undefined Var");
  QSR_CHECK(!impl_->released, "backward: this graph was already freed by an earlier backward(); run the forward pass again");
  QSR_CHECK(impl_->requires_grad, "backward: this result does not depend on anything that requires a gradient");
  QSR_CHECK(seed.shape() == shape(), "backward: seed shape " + shape_str(seed.shape()) + " differs from " + shape_str(shape()));
  // Iterative depth-first post-order: a node comes after everything it feeds.
  // `order` owns its nodes, so clearing a node's inputs below never frees a
  // node that is still to be visited; each is released right after its turn.
  std::vector<std::shared_ptr<VarImpl>> order;
  std::unordered_set<VarImpl*> seen{impl_.get()};
  std::vector<std::pair<std::shared_ptr<VarImpl>, size_t>> stack;
  stack.emplace_back(impl_, 0);
  while (!stack.empty()) {
    VarImpl* node = stack.back().first.get();
    size_t& next = stack.back().second;
    if (next < node->inputs.size()) {
      const std::shared_ptr<VarImpl>& in = node->inputs[next++].impl_ptr();
      if (in && in->requires_grad && in->backward && seen.insert(in.get()).second) stack.emplace_back(in, 0);
    } else {
      order.push_back(std::move(stack.back().first));
      stack.pop_back();
    }
  }
  accumulate_grad(*this, seed.clone());
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    VarImpl* node = it->get();
    if (!node->backward) continue;  // a leaf root keeps its gradient
    if (node->grad.defined()) node->backward(*node);
    // The graph below this node is no longer needed: free it.
    node->grad = Tensor();
    node->inputs.clear();
    node->backward = nullptr;
    node->released = true;
    it->reset();
  }
}

}  // namespace qsr
