#include "layers/module.h"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>

#include "engine/ops.h"

namespace qsr {

std::vector<Var> Module::parameters() {
  std::vector<Var> r;
  for (auto& [name, v] : named_parameters()) r.push_back(v);
  return r;
}

std::string activation_name(Activation a) {
  switch (a) {
    case Activation::none: return "none";
    case Activation::relu: return "relu";
    case Activation::tanh: return "tanh";
  }
  return "?";
}

Activation parse_activation(const std::string& s) {
  if (s == "none" || s == "linear") return Activation::none;
  if (s == "relu") return Activation::relu;
  if (s == "tanh") return Activation::tanh;
  throw Error("unknown activation '" + s + "' (expected relu, tanh or none)");
}

Conv2d::Conv2d(int cin_, int cout_, int k_, Activation act_) : cin(cin_), cout(cout_), k(k_), act(act_) {
  QSR_CHECK(cin > 0 && cout > 0, "Conv2d: channel counts must be positive");
  QSR_CHECK(k >= 1 && k <= 7 && k % 2 == 1, "Conv2d: kernel size must be odd and in 1..7, got " + std::to_string(k));
  weight = Var(Tensor::zeros({k, k, cin, cout}), true);
  bias = Var(Tensor::zeros({cout}), true);
}

Var conv2d_act(const Var& x, const Var& w, const Var& b, Activation act, ConvAlgo algo) {
  switch (act) {
    case Activation::relu: return conv2d_relu(x, w, b, algo);
    case Activation::tanh: return tanh(conv2d(x, w, b, algo));
    case Activation::none: break;
  }
  return conv2d(x, w, b, algo);
}

Var Conv2d::forward(const Var& x) { return conv2d_act(x, weight, bias, act, algo); }

std::string Conv2d::describe() const {
  return "conv " + std::to_string(k) + "x" + std::to_string(k) + " " + std::to_string(cin) + "->" +
         std::to_string(cout) + (act == Activation::none ? "" : ", " + activation_name(act));
}

std::vector<std::pair<std::string, Var>> Conv2d::named_parameters() { return {{"kernel", weight}, {"bias", bias}}; }

Var PixelShuffle::forward(const Var& x) { return pixel_shuffle(x, r); }
std::string PixelShuffle::describe() const { return "depth_to_space x" + std::to_string(r); }

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

void glorot_uniform_(Tensor& w, Rng& rng) {
  QSR_CHECK(w.ndim() == 4, "glorot_uniform_: expects HWIO weights");
  double receptive = double(w.dim(0)) * w.dim(1);
  double fan_in = receptive * w.dim(2), fan_out = receptive * w.dim(3);
  float limit = static_cast<float>(std::sqrt(6.0 / (fan_in + fan_out)));
  float* p = w.f32();
  for (int64_t i = 0; i < w.numel(); ++i) p[i] = rng.uniform(-limit, limit);
}

void orthogonal_(Tensor& w, Rng& rng, float gain) {
  QSR_CHECK(w.ndim() >= 2, "orthogonal_: needs a weight with at least 2 dimensions, got " + shape_str(w.shape()));
  QSR_CHECK(w.dtype() == DType::f32, "orthogonal_: needs an f32 weight");
  const int64_t cols = w.dim(w.ndim() - 1);
  const int64_t rows = cols == 0 ? 0 : w.numel() / cols;
  if (rows == 0 || cols == 0) return;
  const int64_t big = std::max(rows, cols), small = std::min(rows, cols);
  // The normal draws fill a (big x small) matrix in row-major order, as Keras does.
  using MatD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic>;
  MatD a(big, small);
  for (int64_t i = 0; i < big; ++i)
    for (int64_t j = 0; j < small; ++j) a(i, j) = rng.normal();
  Eigen::HouseholderQR<MatD> qr(a);
  MatD q = qr.householderQ() * MatD::Identity(big, small);  // the thin Q
  for (int64_t j = 0; j < small; ++j) {
    // sign(d) as tf.sign: -1, 0 or +1 (0 has probability zero for normal draws).
    const double d = qr.matrixQR()(j, j);
    const double s = d > 0 ? 1.0 : (d < 0 ? -1.0 : 0.0);
    q.col(j) *= s;
  }
  float* p = w.f32();
  if (rows >= cols) {
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j) p[i * cols + j] = static_cast<float>(gain * q(i, j));
  } else {  // q is (cols x rows): the weight is q^T
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j) p[i * cols + j] = static_cast<float>(gain * q(j, i));
  }
}

void zeros_(Tensor& t) { t.zero(); }

}  // namespace qsr
