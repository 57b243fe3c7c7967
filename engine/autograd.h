// Reverse-mode autograd. A Var holds a value tensor and, once backward() has
// reached it, a gradient. Ops (ops.h) record, for every result that needs a
// gradient, its inputs and a backward function; backward() walks that graph in
// reverse topological order, accumulates gradients into leaves (parameters)
// and frees each interior node's gradient, inputs and closure once used.
// Under NoGradGuard nothing is recorded.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace qsr {

struct VarImpl;

class Var {
 public:
  Var() = default;
  explicit Var(Tensor value, bool requires_grad = false);

  bool defined() const { return impl_ != nullptr; }
  const Tensor& value() const;
  Tensor& value();
  const Tensor& grad() const;  // undefined until backward() reaches this Var
  bool requires_grad() const;
  void set_requires_grad(bool on);
  bool is_leaf() const;
  const Shape& shape() const { return value().shape(); }
  std::string op_name() const;

  // Seeds d(self)/d(self) = 1; self must hold one element.
  void backward() const;
  // Seeds the gradient of self with `seed` (same shape as self).
  void backward(const Tensor& seed) const;
  void zero_grad();

  VarImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<VarImpl>& impl_ptr() const { return impl_; }

 private:
  std::shared_ptr<VarImpl> impl_;
};

using BackwardFn = std::function<void(VarImpl& self)>;

struct VarImpl {
  Tensor value;
  Tensor grad;
  bool requires_grad = false;
  const char* op = "leaf";
  std::vector<Var> inputs;  // the graph edges, released after backward
  BackwardFn backward;      // reads self.grad, adds to inputs' grads
  bool released = false;    // an interior node whose graph a backward() has freed
};

// True unless a NoGradGuard is alive on this thread.
bool grad_enabled();

class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};

// For op implementations: wraps `value` as the result of `op`. The result
// records inputs and backward only when grad is enabled and some input
// requires a gradient.
Var make_result(Tensor value, const char* op, std::vector<Var> inputs, BackwardFn backward);
// For backward functions: adds g into v's gradient (taking g's storage when v has none yet).
void accumulate_grad(const Var& v, Tensor g);

}  // namespace qsr
