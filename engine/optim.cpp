#include "engine/optim.h"

#include <cmath>


namespace qsr {

Optimizer::Optimizer(std::vector<Var> params) : params_(std::move(params)) {
  for (const Var& p : params_) {
    QSR_CHECK(p.defined() && p.is_leaf() && p.requires_grad(), "optimiser: every parameter must be a leaf that requires a gradient");
  }
}

void Optimizer::zero_grad() {
  for (Var& p : params_) p.zero_grad();
}

Adam::Adam(std::vector<Var> params, AdamOptions o) : Optimizer(std::move(params)), options(o) {
  lr = o.lr;
  for (const Var& p : params_) {
    m_.push_back(Tensor::zeros(p.shape()));
    v_.push_back(Tensor::zeros(p.shape()));
  }
}

void Adam::step() {
  ++t_;
  const double b1 = options.beta1, b2 = options.beta2;
  const float alpha = static_cast<float>(lr * std::sqrt(1.0 - std::pow(b2, double(t_))) / (1.0 - std::pow(b1, double(t_))));
  const float fb1 = options.beta1, fb2 = options.beta2, eps = options.epsilon;
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& g = params_[i].grad();
    if (!g.defined()) continue;
    float* p = params_[i].value().f32();
    float* m = m_[i].f32();
    float* v = v_[i].f32();
    const float* gp = g.f32();
    for (int64_t j = 0, n = g.numel(); j < n; ++j) {
      m[j] = fb1 * m[j] + (1.f - fb1) * gp[j];
      v[j] = fb2 * v[j] + (1.f - fb2) * gp[j] * gp[j];
      p[j] -= alpha * m[j] / (std::sqrt(v[j]) + eps);
    }
  }
}

Sgd::Sgd(std::vector<Var> params, float lr_, float momentum_, bool nesterov_)
    : Optimizer(std::move(params)), momentum(momentum_), nesterov(nesterov_) {
  lr = lr_;
  for (const Var& p : params_) vel_.push_back(Tensor::zeros(p.shape()));
}

void Sgd::step() {
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& g = params_[i].grad();
    if (!g.defined()) continue;
    float* p = params_[i].value().f32();
    float* vel = vel_[i].f32();
    const float* gp = g.f32();
    for (int64_t j = 0, n = g.numel(); j < n; ++j) {
      vel[j] = momentum * vel[j] - lr * gp[j];
      p[j] += nesterov ? momentum * vel[j] - lr * gp[j] : vel[j];
    }
  }
}

}  // namespace qsr
