#include "models/espcn.h"

#include "engine/ops.h"

namespace qsr {

void EspcnConfig::validate() const {
  QSR_CHECK(scale >= 1 && scale <= 8, "ESPCN: scale must be in 1..8, got " + std::to_string(scale));
  QSR_CHECK(channels >= 1, "ESPCN: image channels must be positive");
  QSR_CHECK(kernels.size() == features.size() + 1, "ESPCN: need one kernel size per conv (" +
                                                       std::to_string(features.size() + 1) + "), got " +
                                                       std::to_string(kernels.size()));
  for (int f : features) QSR_CHECK(f >= 1, "ESPCN: feature counts must be positive");
  for (int k : kernels) QSR_CHECK(k >= 1 && k <= 7 && k % 2 == 1, "ESPCN: kernel sizes must be odd, 1..7");
}

int64_t EspcnConfig::macs_per_lr_pixel() const {
  int64_t macs = 0;
  int cin = channels;
  for (size_t i = 0; i < kernels.size(); ++i) {
    int cout = i < features.size() ? features[i] : channels * scale * scale;
    macs += int64_t(kernels[i]) * kernels[i] * cin * cout;
    cin = cout;
  }
  return macs;
}

std::string EspcnConfig::describe() const {
  std::string s = "ESPCN x" + std::to_string(scale) + ":";
  for (size_t i = 0; i < kernels.size(); ++i) {
    int cout = i < features.size() ? features[i] : channels * scale * scale;
    s += " " + std::to_string(cout) + "-" + std::to_string(kernels[i]);
  }
  return s + ", " + activation_name(activation) + (activate_last ? " (also on the last conv)" : "");
}

Espcn::Espcn(EspcnConfig cfg) : cfg_(std::move(cfg)) {
  cfg_.validate();
  int cin = cfg_.channels;
  for (size_t i = 0; i < cfg_.kernels.size(); ++i) {
    bool last = i + 1 == cfg_.kernels.size();
    int cout = last ? cfg_.channels * cfg_.scale * cfg_.scale : cfg_.features[i];
    Activation act = (!last || cfg_.activate_last) ? cfg_.activation : Activation::none;
    auto c = std::make_shared<Conv2d>(cin, cout, cfg_.kernels[i], act);
    convs.push_back(c);
    net_.add("conv" + std::to_string(i + 1), c);
    cin = cout;
  }
  net_.add("depth_to_space", std::make_shared<PixelShuffle>(cfg_.scale));
}

Var Espcn::forward(const Var& x) {
  QSR_CHECK(x.shape().size() == 4 && x.shape()[3] == cfg_.channels,
            "ESPCN: input must be [n, h, w, " + std::to_string(cfg_.channels) + "], got " + shape_str(x.shape()));
  if (!hooks) return net_.forward(x);
  const bool tr = training();
  Var a = hooks->activation(0, x, tr);
  for (size_t i = 0; i < convs.size(); ++i) {
    const Conv2d& c = *convs[i];
    const Var w = hooks->weight(int(i), c.weight, tr);
    a = hooks->activation(int(i) + 1, conv2d_act(a, w, c.bias, c.act, c.algo), tr);
  }
  return pixel_shuffle(a, cfg_.scale);
}

void Espcn::set_conv_algo(ConvAlgo algo) {
  for (auto& c : convs) c->algo = algo;
}

ConvAlgo Espcn::conv_algo() const { return convs.empty() ? ConvAlgo::automatic : convs[0]->algo; }

std::string Espcn::describe() const { return cfg_.describe() + "\n" + net_.describe(); }

std::vector<std::pair<std::string, Var>> Espcn::named_parameters() { return net_.named_parameters(); }

void Espcn::init_glorot(uint64_t seed) {
  Rng rng(seed);
  for (auto& c : convs) {
    glorot_uniform_(c->weight.value(), rng);
    c->bias.value().zero();
  }
}

void Espcn::init_orthogonal(uint64_t seed) {
  Rng rng(seed);
  for (auto& c : convs) {
    orthogonal_(c->weight.value(), rng);
    c->bias.value().zero();
  }
}

}  // namespace qsr
