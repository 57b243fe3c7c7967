// Layers: a Module owns named parameters (leaf Vars) and maps a Var to a Var.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/random.h"

namespace qsr {

class Module {
 public:
  virtual ~Module() = default;
  virtual Var forward(const Var& x) = 0;
  virtual std::string describe() const = 0;
  // (name, parameter) pairs, names unique within the module.
  virtual std::vector<std::pair<std::string, Var>> named_parameters() { return {}; }
  std::vector<Var> parameters();
  void train(bool on = true) { training_ = on; }
  bool training() const { return training_; }

 protected:
  bool training_ = true;
};

enum class Activation { none, relu, tanh };
std::string activation_name(Activation a);
Activation parse_activation(const std::string& s);

// conv2d with bias, then the activation (ReLU fused into the conv: conv2d_relu).
Var conv2d_act(const Var& x, const Var& w, const Var& b, Activation act, ConvAlgo algo = ConvAlgo::automatic);

// Stride-1 'same' convolution with bias and an optional fused activation.
class Conv2d : public Module {
 public:
  Conv2d(int cin, int cout, int k, Activation act = Activation::none);
  Var forward(const Var& x) override;
  std::string describe() const override;
  std::vector<std::pair<std::string, Var>> named_parameters() override;
  int cin, cout, k;
  Activation act;
  ConvAlgo algo = ConvAlgo::automatic;  // of its 3x3 convolutions (engine/ops.h)
  Var weight;  // [k, k, cin, cout]
  Var bias;    // [cout]
};

class PixelShuffle : public Module {
 public:
  explicit PixelShuffle(int r) : r(r) {}
  Var forward(const Var& x) override;
  std::string describe() const override;
  int r;
};

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

// Initialisers (Keras semantics). fan_in = k*k*cin, fan_out = k*k*cout for HWIO.
void glorot_uniform_(Tensor& w, Rng& rng);
// tf.keras.initializers.Orthogonal: the weight viewed as a matrix of
// rows = product of all but the last dimension (k*k*cin for HWIO) by
// cols = the last dimension (cout); a (max x min) standard-normal matrix
// (Rng::normal, row-major) is QR-factored (reduced), Q's columns are
// multiplied by sign(diag(R)), Q is transposed when rows < cols, and the
// result times `gain` is written back row-major. The weight then has
// orthonormal columns (rows >= cols) or orthonormal rows (rows < cols),
// scaled by gain. Needs at least 2 dimensions and an f32 tensor.
void orthogonal_(Tensor& w, Rng& rng, float gain = 1);
void zeros_(Tensor& t);

}  // namespace qsr
