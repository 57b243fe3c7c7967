// Optimisers over leaf Vars: Adam with Keras' defaults and update rule, and
// SGD with (optionally Nesterov) momentum in Keras' form.
#pragma once
#include <vector>

#include "engine/autograd.h"

namespace qsr {

class Optimizer {
 public:
  explicit Optimizer(std::vector<Var> params);
  virtual ~Optimizer() = default;
  virtual void step() = 0;  // parameters whose gradient is undefined are skipped
  void zero_grad();
  const std::vector<Var>& params() const { return params_; }
  float lr = 0;

 protected:
  std::vector<Var> params_;
};

struct AdamOptions {
  float lr = 1e-3f, beta1 = 0.9f, beta2 = 0.999f, epsilon = 1e-7f;
};

// Keras Adam: alpha_t = lr * sqrt(1 - b2^t) / (1 - b1^t);
// m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2; p -= alpha_t * m / (sqrt(v) + epsilon).
class Adam : public Optimizer {
 public:
  Adam(std::vector<Var> params, AdamOptions o = {});
  void step() override;
  int64_t iterations() const { return t_; }
  // State for checkpoints: m and v per parameter.
  std::vector<Tensor>& m() { return m_; }
  std::vector<Tensor>& v() { return v_; }
  void set_iterations(int64_t t) { t_ = t; }
  AdamOptions options;

 private:
  std::vector<Tensor> m_, v_;
  int64_t t_ = 0;
};

// Keras SGD: velocity = momentum * velocity - lr * g; p += velocity
// (Nesterov: p += momentum * velocity - lr * g).
class Sgd : public Optimizer {
 public:
  Sgd(std::vector<Var> params, float lr = 0.01f, float momentum = 0.f, bool nesterov = false);
  void step() override;
  float momentum;
  bool nesterov;

 private:
  std::vector<Tensor> vel_;
};

}  // namespace qsr
