// ESPCN (Shi et al. 2016) as in the Keras example: conv 5x5/64, 3x3/64,
// 3x3/32, 3x3/(c*r*r), ReLU after each, then depth_to_space(r).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "layers/conv2d.h"
#include "layers/init.h"
#include "layers/pixel_shuffle.h"
#include "layers/sequential.h"

namespace qsr {

struct EspcnConfig {
  int scale = 3;
  int channels = 1;                      // image channels in and out (Y only: 1)
  std::vector<int> features{64, 64, 32};  // hidden conv widths
  std::vector<int> kernels{5, 3, 3, 3};   // one per conv (features.size() + 1)
  Activation activation = Activation::relu;
  bool activate_last = true;             // the Keras example applies ReLU to the last conv too
  std::string describe() const;
  void validate() const;                 // throws qsr::Error naming what is wrong
  int64_t macs_per_lr_pixel() const;
};

// Optional hooks into Espcn::forward, e.g. quantisation-aware training (quant/qat/qat.h). With
// hooks the forward pass is, for conv i = 0..L-1 and activation tensors a_0..a_L:
//   a_0 = activation(0, x, training)
//   a_{i+1} = activation(i+1, act(conv(a_i, weight(i, W_i, training), b_i)), training)
//   y = depth_to_space(a_L)
// with the fused conv2d_relu for ReLU convs, as the float path. Without hooks (the default)
// the float path runs unchanged.
class EspcnHooks {
 public:
  virtual ~EspcnHooks() = default;
  // The kernel conv i convolves with (w itself when conv i is not hooked).
  virtual Var weight(int i, const Var& w, bool training) = 0;
  // Activation tensor j (0: the model input; i: conv i's output after its activation).
  virtual Var activation(int j, const Var& a, bool training) = 0;
};

class Espcn : public Module {
 public:
  explicit Espcn(EspcnConfig cfg = {});
  Var forward(const Var& x) override;  // [n, h, w, c] -> [n, h*r, w*r, c]
  std::string describe() const override;
  std::vector<std::pair<std::string, Var>> named_parameters() override;
  void init_glorot(uint64_t seed);
  // Keras Orthogonal (gain 1) kernels, conv1 first from one Rng(seed); zero biases.
  void init_orthogonal(uint64_t seed);
  const EspcnConfig& config() const { return cfg_; }
  // The algorithm of every conv (engine/ops.h; default automatic).
  void set_conv_algo(ConvAlgo algo);
  ConvAlgo conv_algo() const;
  std::vector<std::shared_ptr<Conv2d>> convs;  // conv1..convN
  std::shared_ptr<EspcnHooks> hooks;           // null: the plain float forward

 private:
  EspcnConfig cfg_;
  Sequential net_;
};

}  // namespace qsr
