#include "layers/conv2d.h"

namespace qsr {

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

}  // namespace qsr
