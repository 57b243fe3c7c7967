#include "quant/ptq/qmodel.h"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <regex>
#include <sstream>

#include "engine/autograd.h"
#include "engine/f32_drivers.h"
#include "engine/winograd.h"
#include "engine/dtype.h"
#include "engine/ops.h"
#include "engine/parallel.h"
#include "models/checkpoint.h"
#include "models/image/color.h"
#include "models/image/image.h"
#include "models/image/resize.h"
#include "quant/observer.h"
#include "quant/ptq/output_stage.h"

namespace qsr::quant {

using nlohmann::json;

std::string weight_kind_name(WeightKind k) {
  switch (k) {
    case WeightKind::f32: return "f32";
    case WeightKind::f16: return "f16";
    case WeightKind::bf16: return "bf16";
    case WeightKind::integer: return "integer";
  }
  return "?";
}

namespace {

WeightKind parse_weight_kind(const std::string& s) {
  for (WeightKind k : {WeightKind::f32, WeightKind::f16, WeightKind::bf16, WeightKind::integer})
    if (weight_kind_name(k) == s) return k;
  throw Error("unknown weight storage '" + s + "'");
}

}  // namespace

json format_json(const QFormat& f) {
  return {{"bits", f.bits},       {"signed", f.is_signed},           {"scheme", scheme_name(f.scheme)},
          {"narrow", f.narrow},   {"per_channel", f.per_channel},    {"rounding", rounding_name(f.rounding)},
          {"frac_bits", f.frac_bits}};
}

namespace {

QFormat format_from_json(const json& j) {
  QFormat f;
  f.bits = j.at("bits").get<int>();
  f.is_signed = j.at("signed").get<bool>();
  f.scheme = parse_scheme(j.at("scheme").get<std::string>());
  f.narrow = j.at("narrow").get<bool>();
  f.per_channel = j.at("per_channel").get<bool>();
  f.rounding = parse_rounding(j.at("rounding").get<std::string>());
  f.frac_bits = j.at("frac_bits").get<int>();
  f.validate();
  return f;
}

int64_t count_of(const std::string& s, const std::string& what) {
  char* end = nullptr;
  long v = std::strtol(s.c_str(), &end, 10);
  QSR_CHECK(end && *end == 0 && !s.empty(), "bad " + what + " '" + s + "'");
  return v;
}

// Integer grid of a quantised activation.
QFormat act_format(int bits, Rounding r, bool symmetric) {
  QFormat f;
  f.bits = bits;
  f.is_signed = true;
  f.scheme = symmetric ? Scheme::symmetric : Scheme::affine;
  f.rounding = r;
  return f;
}

QFormat weight_format(int bits, Rounding r, bool per_channel) {
  QFormat f;
  f.bits = bits;
  f.is_signed = true;
  f.scheme = Scheme::symmetric;
  f.narrow = true;  // [-(2^(b-1) - 1), 2^(b-1) - 1], as TFLite's int8 weights
  f.per_channel = per_channel;
  f.rounding = r;
  return f;
}

// Min and max over all but the last axis (per channel) or over everything.
void ranges_of(const Tensor& t, bool per_channel, std::vector<float>& lo, std::vector<float>& hi) {
  tensor_min_max(t, per_channel ? t.dim(t.ndim() - 1) : 1, lo, hi);
}

// acc[(n, y, x), co] = sum over the k x k window and cin of xin * w (zero padding), int64.
// `epilogue(row, acc_row)` consumes one output row (w * cout accumulators) at a time.
template <class Epilogue>
void int_conv_rows(const std::vector<int32_t>& xin, int64_t n, int64_t h, int64_t w, int64_t cin,
                   const std::vector<int32_t>& wk, int k, int64_t cout, const Epilogue& epilogue) {
  const int pad = k / 2;
  parallel_for(
      n * h,
      [&](int64_t r0, int64_t r1) {
        std::vector<int64_t> acc(size_t(w * cout));
        for (int64_t row = r0; row < r1; ++row) {
          const int64_t b = row / h, oy = row % h;
          std::fill(acc.begin(), acc.end(), 0);
          for (int64_t ox = 0; ox < w; ++ox) {
            int64_t* a = acc.data() + ox * cout;
            for (int ky = 0; ky < k; ++ky) {
              const int64_t iy = oy + ky - pad;
              if (iy < 0 || iy >= h) continue;
              for (int kx = 0; kx < k; ++kx) {
                const int64_t ix = ox + kx - pad;
                if (ix < 0 || ix >= w) continue;
                const int32_t* xp = xin.data() + ((b * h + iy) * w + ix) * cin;
                const int32_t* wp = wk.data() + (int64_t(ky) * k + kx) * cin * cout;
                for (int64_t ci = 0; ci < cin; ++ci) {
                  const int64_t xv = xp[ci];
                  if (xv == 0) continue;
                  const int32_t* wr = wp + ci * cout;
                  for (int64_t co = 0; co < cout; ++co) a[co] += xv * wr[co];
                }
              }
            }
          }
          epilogue(row, acc.data());
        }
      },
      w * cin * cout * k * k);
}

}  // namespace

Activation conv_activation(const EspcnConfig& cfg, size_t i) {
  return i + 1 == cfg.kernels.size() && !cfg.activate_last ? Activation::none : cfg.activation;
}

std::vector<int32_t> codes_to_int32(const Tensor& codes) {
  std::vector<int32_t> v(size_t(codes.numel()));
  switch (codes.dtype()) {
    case DType::i8: std::copy_n(codes.data<int8_t>(), v.size(), v.begin()); break;
    case DType::u8: std::copy_n(codes.data<uint8_t>(), v.size(), v.begin()); break;
    case DType::i16: std::copy_n(codes.data<int16_t>(), v.size(), v.begin()); break;
    case DType::i32: std::copy_n(codes.data<int32_t>(), v.size(), v.begin()); break;
    default: throw Error("integer codes expected");
  }
  return v;
}

Tensor float_conv(const Tensor& a, const Tensor& w, const Tensor& b, Activation act, const FloatPath& fp) {
  QSR_CHECK(a.ndim() == 4 && w.ndim() == 4 && a.dim(3) == w.dim(2) && b.numel() == w.dim(3),
            "float conv: input " + shape_str(a.shape()) + ", kernel " + shape_str(w.shape()) + " and bias " +
                shape_str(b.shape()) + " do not match");
  const F32Kernels& K = fp.kernels ? *fp.kernels : f32_kernels();
  const ConvGeom g{int(a.dim(0)), int(a.dim(1)), int(a.dim(2)), int(w.dim(2)), int(w.dim(3)), int(w.dim(0))};
  Tensor y = Tensor::empty({g.n, g.h, g.w, g.cout});
  const bool relu = act == Activation::relu;
  // As conv2d without a gradient (engine/ops.h): Winograd only when asked for.
  if (g.k == 3 && fp.algo == ConvAlgo::winograd)
    winograd_conv2d_forward(K, g, a.f32(), w.f32(), b.f32(), y.f32(), relu);
  else
    conv2d_forward(K, g, a.f32(), w.f32(), b.f32(), y.f32(), relu);
  if (act == Activation::tanh) y = qsr::tanh(Var(y)).value();
  return y;
}

std::vector<int> parse_layers(const std::string& s, int nconvs) {
  std::vector<int> out;
  if (s.empty() || s == "all") {
    for (int i = 0; i < nconvs; ++i) out.push_back(i);
    return out;
  }
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(',', start);
    std::string item = s.substr(start, end == std::string::npos ? std::string::npos : end - start);
    std::string num = item.rfind("conv", 0) == 0 ? item.substr(4) : item;
    int64_t idx = 0;
    try {
      idx = count_of(num, "layer");
    } catch (const Error&) {
      throw Error(fmt::format("--layers: '{}' is not a conv name (conv1..conv{}) or index (1..{})", item, nconvs, nconvs));
    }
    QSR_CHECK(idx >= 1 && idx <= nconvs, fmt::format("--layers: '{}' is outside conv1..conv{}", item, nconvs));
    if (std::find(out.begin(), out.end(), int(idx - 1)) == out.end()) out.push_back(int(idx - 1));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  std::sort(out.begin(), out.end());
  return out;
}

QuantPlan plan_quantization(const QuantRequest& req, int nconvs) {
  QSR_CHECK(nconvs >= 1, "quantize: the model has no conv");
  const int L = nconvs;
  QuantPlan plan;
  plan.mode = req.mode;
  plan.weights.assign(size_t(L), WeightQuant{});
  plan.acts.assign(size_t(L + 1), ActQuant{});
  plan.layers = req.layers.empty() ? parse_layers("all", L) : req.layers;
  for (int i : plan.layers) QSR_CHECK(i >= 0 && i < L, "quantize: layer index out of range");

  // Mixed precision "wW1.W2...aA0.A1...": conv i's weights at W_i bits, activation tensor a_j at
  // A_j bits (a0 the input, a_L the output), every conv quantised (int8-like formats: per-channel
  // symmetric narrow weights unless per tensor, affine activations).
  std::smatch m;
  const std::string& md = req.mode;
  if (std::regex_match(md, m, std::regex("w(\\d+(?:\\.\\d+)+)a(\\d+(?:\\.\\d+)+)"))) {
    auto bits = [&](const std::string& list, size_t want, const char* what) {
      std::vector<int> v;
      std::stringstream ss(list);
      for (std::string item; std::getline(ss, item, '.');) v.push_back(int(count_of(item, "bits")));
      QSR_CHECK(v.size() == want, fmt::format("quantize: mode '{}' gives {} {} word lengths; the model has {} ({})", md,
                                              v.size(), what, want, what == std::string("weight") ? "one per conv" : "a0..aL: the input and each conv's output"));
      for (int b : v) QSR_CHECK(b >= 2 && b <= 16, fmt::format("quantize: mode '{}' asks for {} bits; word lengths are 2..16", md, b));
      return v;
    };
    const std::vector<int> wb = bits(m[1], size_t(L), "weight"), ab = bits(m[2], size_t(L + 1), "activation");
    QSR_CHECK(int(plan.layers.size()) == L, "quantize: a mixed-precision mode sets every conv; --layers must be all");
    for (int i = 0; i < L; ++i) {
      plan.weights[size_t(i)].kind = WeightKind::integer;
      plan.weights[size_t(i)].fmt = weight_format(wb[size_t(i)], req.rounding, req.per_channel);
    }
    for (int j = 0; j <= L; ++j) {
      plan.acts[size_t(j)].on = true;
      plan.acts[size_t(j)].fmt = act_format(ab[size_t(j)], req.rounding, false);
    }
    return plan;
  }
  // The mode: weight storage, weight bits, activation bits (0: float), activation scheme.
  WeightKind wkind = WeightKind::integer;
  int wbits = 0, abits = 0, frac = 0;
  bool act_symmetric = false, dynamic = false, fixed = false;
  if (md == "float16" || md == "fp16") {
    wkind = WeightKind::f16;
  } else if (md == "bfloat16" || md == "bf16") {
    wkind = WeightKind::bf16;
  } else if (md == "dynamic-range" || md == "dynamic") {
    wbits = 8;
    dynamic = true;
  } else if (md == "int8" || md == "full-integer") {
    wbits = 8;
    abits = 8;
  } else if (md == "int16x8") {
    wbits = 8;
    abits = 16;
    act_symmetric = true;
  } else if (std::regex_match(md, m, std::regex("w(\\d+)a(\\d+)"))) {
    wbits = int(count_of(m[1], "bits"));
    abits = int(count_of(m[2], "bits"));
  } else if (std::regex_match(md, m, std::regex("w(\\d+)"))) {
    wbits = int(count_of(m[1], "bits"));
  } else if (std::regex_match(md, m, std::regex("a(\\d+)"))) {
    wkind = WeightKind::f32;
    abits = int(count_of(m[1], "bits"));
  } else if (std::regex_match(md, m, std::regex("q(\\d+)\\.(\\d+)"))) {
    const int ib = int(count_of(m[1], "bits")), fb = int(count_of(m[2], "bits"));
    wbits = abits = ib + fb;
    frac = fb;
    fixed = true;
    QSR_CHECK(ib >= 1, "quantize: a Qm.n format needs at least the sign bit (m >= 1)");
  } else {
    throw Error("unknown quantisation mode '" + md +
                "' (float16, bfloat16, dynamic-range, int8, int16x8, wNaM, wN, aM, qM.N with N, M, m+n in 2..16, "
                "or per tensor wW1.W2...aA0.A1...)");
  }
  for (int b : {wbits, abits})
    QSR_CHECK(b == 0 || (b >= 2 && b <= 16), fmt::format("quantize: mode '{}' asks for {} bits; word lengths are 2..16", md, b));

  QFormat wf = weight_format(wbits ? wbits : 8, req.rounding, req.per_channel);
  QFormat af = act_format(abits ? abits : 8, req.rounding, act_symmetric);
  if (fixed) {
    wf.scheme = af.scheme = Scheme::fixed_point;
    wf.narrow = false;
    wf.per_channel = false;
    wf.frac_bits = af.frac_bits = frac;
  }
  QFormat df = act_format(8, req.rounding, false);  // dynamic-range inputs: s8 affine
  for (int i : plan.layers) {
    WeightQuant& wq = plan.weights[size_t(i)];
    if (wkind == WeightKind::f16 || wkind == WeightKind::bf16) {
      wq.kind = wkind;
    } else if (wbits > 0) {
      wq.kind = WeightKind::integer;
      wq.fmt = wf;
    }
    if (dynamic) {
      plan.acts[size_t(i)].on = true;
      plan.acts[size_t(i)].dynamic = true;
      plan.acts[size_t(i)].fmt = df;
    } else if (abits > 0) {
      for (size_t a : {size_t(i), size_t(i) + 1}) {
        plan.acts[a].on = true;
        plan.acts[a].fmt = af;
        if (fixed) plan.acts[a].params = QParams{{std::ldexp(1.f, -frac)}, {0}};
      }
    }
  }
  return plan;
}

QParams weight_params(const Tensor& kernel, const QFormat& f) {
  std::vector<float> lo, hi;
  ranges_of(kernel, f.per_channel, lo, hi);
  return params_from_ranges(f, lo, hi);
}

QuantModel::QuantModel(Espcn& model, const QuantRequest& req) {
  cfg = model.config();
  float_path.algo = model.conv_algo();
  const int L = int(model.convs.size());
  for (auto& c : model.convs) {
    kernels.push_back(c->weight.value().clone());
    biases.push_back(c->bias.value().clone());
  }
  QuantPlan plan = plan_quantization(req, L);
  mode = plan.mode;
  quantised_layers = plan.layers;
  weights = std::move(plan.weights);
  acts = std::move(plan.acts);
  for (int i : quantised_layers) {
    WeightQuant& wq = weights[size_t(i)];
    const Tensor& k = kernels[size_t(i)];
    if (wq.kind == WeightKind::f16) {
      wq.codes = Tensor::empty(k.shape(), DType::f16);
      for (int64_t j = 0; j < k.numel(); ++j) wq.codes.data<half_bits>()[j].bits = f32_to_f16(k.f32()[j]);
    } else if (wq.kind == WeightKind::bf16) {
      wq.codes = Tensor::empty(k.shape(), DType::i16);
      for (int64_t j = 0; j < k.numel(); ++j) wq.codes.data<int16_t>()[j] = int16_t(f32_to_bf16(k.f32()[j]));
    } else if (wq.kind == WeightKind::integer) {
      wq.params = weight_params(k, wq.fmt);
      wq.codes = quantize(k, wq.fmt, wq.params);
    }
  }
}

bool QuantModel::needs_calibration() const {
  for (auto& a : acts)
    if (a.on && !a.dynamic && a.params.size() == 0) return true;
  return false;
}

void QuantModel::calibrate(const std::vector<Tensor>& inputs, const std::string& observer, float option) {
  QSR_CHECK(!inputs.empty(), "calibration: no images");
  std::vector<std::unique_ptr<Observer>> obs(acts.size());
  for (size_t j = 0; j < acts.size(); ++j)
    if (acts[j].on && !acts[j].dynamic && acts[j].fmt.scheme != Scheme::fixed_point)
      obs[j] = make_observer(observer, false, option);
  NoGradGuard ng;
  for (const Tensor& x : inputs) {
    QSR_CHECK(x.ndim() == 4 && x.dim(3) == cfg.channels, "calibration: inputs must be [n, h, w, channels]");
    Tensor a = x;
    if (obs[0]) obs[0]->observe(a);
    for (size_t i = 0; i < kernels.size(); ++i) {
      a = float_conv(a, kernels[i], biases[i], conv_activation(cfg, i), float_path);
      if (obs[i + 1]) obs[i + 1]->observe(a);
    }
  }
  for (size_t j = 0; j < acts.size(); ++j)
    if (obs[j]) acts[j].params = obs[j]->params(acts[j].fmt);
  // The model's input and output are images in [0, 1] whatever the calibration images span
  // (an 8-bit affine grid is then exactly the 8-bit pixel grid): an observed range would clip
  // brighter or darker images than the calibration set's.
  for (size_t j : {size_t(0), acts.size() - 1})
    if (obs[j]) acts[j].params = params_from_ranges(acts[j].fmt, {0.f}, {1.f});
}

Tensor QuantModel::effective_kernel(int i) const {
  const WeightQuant& wq = weights[size_t(i)];
  const Tensor& k = kernels[size_t(i)];
  switch (wq.kind) {
    case WeightKind::f32: return k;
    case WeightKind::f16: {
      Tensor e = Tensor::empty(wq.codes.shape());
      for (int64_t j = 0; j < e.numel(); ++j) e.f32()[j] = f16_to_f32(wq.codes.data<half_bits>()[j].bits);
      return e;
    }
    case WeightKind::bf16: {
      Tensor e = Tensor::empty(wq.codes.shape());
      for (int64_t j = 0; j < e.numel(); ++j) e.f32()[j] = bf16_to_f32(uint16_t(wq.codes.data<int16_t>()[j]));
      return e;
    }
    case WeightKind::integer: return dequantize(wq.codes, wq.params);
  }
  return k;
}

std::unique_ptr<Espcn> QuantModel::float_model() const {
  auto m = std::make_unique<Espcn>(cfg);
  QSR_CHECK(m->convs.size() == kernels.size(), "quantised model: conv count does not match its architecture");
  for (size_t i = 0; i < kernels.size(); ++i) {
    QSR_CHECK(m->convs[i]->weight.value().shape() == kernels[i].shape(), "quantised model: kernel shape mismatch");
    m->convs[i]->weight.value() = effective_kernel(int(i)).clone();
    m->convs[i]->bias.value() = biases[i].clone();
  }
  return m;
}


bool QuantModel::integer_layer(int i) const {
  const size_t u = size_t(i);
  return weights[u].kind == WeightKind::integer && acts[u].on && !acts[u].dynamic && acts[u + 1].on &&
         !acts[u + 1].dynamic && conv_activation(cfg, u) != Activation::tanh;
}

bool QuantModel::dynamic_layer(int i) const {
  const size_t u = size_t(i);
  return weights[u].kind == WeightKind::integer && acts[u].on && acts[u].dynamic;
}

bool QuantModel::tile_invariant() const {
  for (size_t i = 0; i < weights.size(); ++i)
    if (dynamic_layer(int(i))) return false;
  return true;
}

int QuantModel::accumulator_bits_of(int i) const {
  if (!integer_layer(i) && !dynamic_layer(i)) return 0;
  return conv_output_stage(*this, i).worst_bits;
}

Tensor QuantModel::forward(const Tensor& x) const {
  QSR_CHECK(!needs_calibration(), "quantised model: activations are not calibrated");
  QSR_CHECK(x.ndim() == 4 && x.dim(3) == cfg.channels && x.dtype() == DType::f32,
            fmt::format("quantised model: input must be f32 [n, h, w, {}], got {}", cfg.channels, shape_str(x.shape())));
  NoGradGuard ng;
  Tensor a = x;
  if (acts[0].on && !acts[0].dynamic) a = fake_quantize(a, acts[0].fmt, acts[0].params);
  for (size_t i = 0; i < kernels.size(); ++i) a = forward_layer(int(i), a);
  return pixel_shuffle(Var(a), cfg.scale).value();
}

Tensor QuantModel::forward_layer(int li, const Tensor& a) const {
  QSR_CHECK(li >= 0 && size_t(li) < kernels.size(), "quantised model: no such layer");
  QSR_CHECK(!needs_calibration(), "quantised model: activations are not calibrated");
  NoGradGuard ng;
  const size_t i = size_t(li);
  const Activation act = conv_activation(cfg, i);
  const int k = int(kernels[i].dim(0));
  const int64_t cin = kernels[i].dim(2), cout = kernels[i].dim(3);
  QSR_CHECK(a.ndim() == 4 && a.dim(3) == cin, fmt::format("conv{}: input must be [n, h, w, {}]", li + 1, cin));
  const int64_t n = a.dim(0), h = a.dim(1), w = a.dim(2);
  const WeightQuant& wq = weights[i];
  if (!integer_layer(li) && !dynamic_layer(li)) {
    Tensor y = float_conv(a, effective_kernel(li), biases[i], act, float_path);
    if (acts[i + 1].on && !acts[i + 1].dynamic) y = fake_quantize(y, acts[i + 1].fmt, acts[i + 1].params);
    return y;
  }
  const bool dyn = dynamic_layer(li);
  QParams in_p = acts[i].params;
  if (dyn) {  // the input's own range, per tensor
    std::vector<float> lo, hi;
    ranges_of(a, false, lo, hi);
    in_p = params_from_ranges(acts[i].fmt, lo, hi);
  }
  std::vector<int32_t> xin = codes_to_int32(quantize(a, acts[i].fmt, in_p));
  for (int32_t& v : xin) v -= in_p.zero_point[0];
  const std::vector<int32_t> wk = codes_to_int32(wq.codes);
  const float s_in = in_p.scale[0];
  const ConvOutputStage st = conv_output_stage(*this, li);  // the output stage (output_stage.h)
  Tensor out = Tensor::empty({n, h, w, cout});
  float* o = out.f32();
  if (dyn) {
    int_conv_rows(xin, n, h, w, cin, wk, k, cout, [&](int64_t row, const int64_t* acc) {
      float* orow = o + row * w * cout;
      for (int64_t j = 0; j < w * cout; ++j) {
        const size_t c = size_t(j % cout);
        float v = static_cast<float>(double(acc[j]) * (double(s_in) * st.w_scale[c])) + st.bias_real[c];
        if (act == Activation::relu) v = std::max(v, 0.f);
        if (act == Activation::tanh) v = std::tanh(v);
        orow[j] = v;
      }
    });
    return out;
  }
  const float so = acts[i + 1].params.scale[0];
  int_conv_rows(xin, n, h, w, cin, wk, k, cout, [&](int64_t row, const int64_t* acc) {
    float* orow = o + row * w * cout;
    for (int64_t j = 0; j < w * cout; ++j) {
      const size_t c = size_t(j % cout);
      orow[j] = dequantize_value(requantize(acc[j] + st.bias[c], st.mult[c], st.zo, st.lo, st.hi, st.rounding), so, st.zo);
    }
  });
  return out;
}

int64_t QuantModel::stored_bytes() const {
  int64_t b = 0;
  for (size_t i = 0; i < kernels.size(); ++i) {
    b += weights[i].kind == WeightKind::f32 ? int64_t(kernels[i].nbytes()) : int64_t(weights[i].codes.nbytes());
    b += int64_t(biases[i].nbytes()) + int64_t(weights[i].params.size()) * 8;
  }
  for (auto& a : acts) b += int64_t(a.params.size()) * 8;
  return b;
}

int64_t QuantModel::packed_bits() const {
  int64_t b = 0;
  for (size_t i = 0; i < kernels.size(); ++i) {
    const int64_t n = kernels[i].numel();
    switch (weights[i].kind) {
      case WeightKind::f32: b += 32 * n; break;
      case WeightKind::f16:
      case WeightKind::bf16: b += 16 * n; break;
      case WeightKind::integer: b += int64_t(weights[i].fmt.bits) * n; break;
    }
    b += 32 * biases[i].numel() + 64 * int64_t(weights[i].params.size());
  }
  for (auto& a : acts) b += 64 * int64_t(a.params.size());
  return b;
}

std::string QuantModel::describe() const {
  std::string s = fmt::format("quantised ESPCN x{} ({}), mode {}\n", cfg.scale, cfg.describe(), mode);
  auto act_str = [&](size_t j) {
    const ActQuant& a = acts[j];
    if (!a.on) return std::string("f32");
    if (a.dynamic) return a.fmt.describe() + " dynamic";
    std::string r = a.fmt.describe();
    if (a.params.size()) r += fmt::format(" (scale {:.6g}, zero point {})", a.params.scale[0], a.params.zero_point[0]);
    return r;
  };
  s += fmt::format("  input a0: {}\n", act_str(0));
  for (size_t i = 0; i < kernels.size(); ++i) {
    const WeightQuant& wq = weights[i];
    std::string wdesc = wq.kind == WeightKind::integer ? wq.fmt.describe() : weight_kind_name(wq.kind);
    std::string path = integer_layer(int(i))   ? fmt::format("integer (accumulator at most {} bits)", accumulator_bits_of(int(i)))
                       : dynamic_layer(int(i)) ? fmt::format("dynamic-range (accumulator at most {} bits)", accumulator_bits_of(int(i)))
                                               : std::string("float");
    s += fmt::format("  conv{}: {}x{} {}->{}, weights {}, out a{}: {}; path: {}\n", i + 1, kernels[i].dim(0),
                     kernels[i].dim(1), kernels[i].dim(2), kernels[i].dim(3), wdesc, i + 1, act_str(i + 1), path);
    if (accumulator_bits_of(int(i)) > 32)
      s += fmt::format("  note: conv{}'s worst case needs a {}-bit accumulator; the integer engine bounds it from the "
                       "actual weights and accumulates in int64 where that bound exceeds int32\n",
                       i + 1, accumulator_bits_of(int(i)));
  }
  s += fmt::format("  size: {} bytes stored, {} bytes packed at the word lengths", stored_bytes(), (packed_bits() + 7) / 8);
  return s;
}

json QuantModel::to_json() const {
  json w = json::array(), a = json::array();
  for (size_t i = 0; i < weights.size(); ++i) {
    json e = {{"kind", weight_kind_name(weights[i].kind)}};
    if (weights[i].kind == WeightKind::integer) e["format"] = format_json(weights[i].fmt);
    e["path"] = integer_layer(int(i)) ? "integer" : dynamic_layer(int(i)) ? "dynamic-range" : "float";
    e["accumulator_bits"] = accumulator_bits_of(int(i));
    w.push_back(e);
  }
  for (auto& x : acts) {
    json e = {{"on", x.on}, {"dynamic", x.dynamic}};
    if (x.on) e["format"] = format_json(x.fmt);
    a.push_back(e);
  }
  json layers = json::array();
  for (int i : quantised_layers) layers.push_back(i + 1);
  return {{"mode", mode}, {"layers", layers}, {"weights", w}, {"activations", a}};
}

std::vector<Tensor> calibration_inputs(const std::string& dir, int scale, int count) {
  QSR_CHECK(count >= 1, "calibration: at least one image is needed");
  QSR_CHECK(scale >= 2 && scale <= 4, "calibration: the scale must be 2..4");
  namespace fs = std::filesystem;
  std::string src = dir;
  for (const char* sub : {"images/train", "train"})
    if (fs::is_directory(fs::path(dir) / sub)) {
      src = (fs::path(dir) / sub).string();
      break;
    }
  std::vector<std::string> files = list_images(src);
  if (int(files.size()) > count) files.resize(size_t(count));
  std::vector<Tensor> out;
  for (const std::string& f : files) {
    Image y = bt601_luma_u8(load_image(f));
    const int w = y.width / scale * scale, h = y.height / scale * scale;
    QSR_CHECK(w >= scale && h >= scale, f + ": too small to calibrate a x" + std::to_string(scale) + " model");
    Plane p = channel_plane(crop(y, w, h), 0);
    out.push_back(plane_to_tensor(imresize_bicubic(p, 1.0 / scale)));
  }
  return out;
}

// ---- files ------------------------------------------------------------------

namespace {
constexpr const char* kFormat = "qsr-espcn-quant";
constexpr const char* kVersion = "1";

Tensor params_scale_tensor(const QParams& p) {
  Tensor t({int64_t(p.size())});
  std::copy(p.scale.begin(), p.scale.end(), t.f32());
  return t;
}
Tensor params_zp_tensor(const QParams& p) {
  Tensor t({int64_t(p.size())}, DType::i32);
  std::copy(p.zero_point.begin(), p.zero_point.end(), t.data<int32_t>());
  return t;
}
}  // namespace

void save_quant_model(const std::string& path, const QuantModel& q, const json& extra_meta) {
  QSR_CHECK(!q.needs_calibration(), path + ": the model is not calibrated");
  Checkpoint c;
  c.meta = extra_meta.is_object() ? extra_meta : json::object();
  c.meta["format"] = kFormat;
  c.meta["format_version"] = kVersion;
  c.meta["architecture"] = espcn_config_to_json(q.cfg);
  c.meta["quant"] = q.to_json();
  for (size_t i = 0; i < q.kernels.size(); ++i) {
    const std::string name = fmt::format("conv{}", i + 1);
    const WeightQuant& wq = q.weights[i];
    c.tensors.emplace_back(name + ".kernel", wq.kind == WeightKind::f32 ? q.kernels[i] : wq.codes);
    if (wq.kind == WeightKind::integer) {
      c.tensors.emplace_back(name + ".kernel.scale", params_scale_tensor(wq.params));
      c.tensors.emplace_back(name + ".kernel.zero_point", params_zp_tensor(wq.params));
    }
    c.tensors.emplace_back(name + ".bias", q.biases[i]);
  }
  for (size_t j = 0; j < q.acts.size(); ++j)
    if (q.acts[j].on && !q.acts[j].dynamic) {
      c.tensors.emplace_back(fmt::format("a{}.scale", j), params_scale_tensor(q.acts[j].params));
      c.tensors.emplace_back(fmt::format("a{}.zero_point", j), params_zp_tensor(q.acts[j].params));
    }
  save_safetensors(path, c);
}

bool is_quant_checkpoint(const std::string& path) {
  Checkpoint c = load_safetensors(path);
  return c.meta.is_object() && c.meta.contains("format") && c.meta["format"] == kFormat;
}

QuantModel load_quant_model(const std::string& path) {
  Checkpoint c = load_safetensors(path);
  auto bad = [&](const std::string& why) { return Error(path + ": " + why); };
  if (!c.meta.is_object() || !c.meta.contains("format") || c.meta["format"] != kFormat)
    throw bad("not a qsr quantised model (format is not qsr-espcn-quant)");
  if (c.meta.value("format_version", std::string()) != kVersion)
    throw bad("unsupported quantised-model format version '" + c.meta.value("format_version", std::string()) + "'");
  QuantModel q;
  try {
    q.cfg = espcn_config_from_json(c.meta.at("architecture"));
    const json& qj = c.meta.at("quant");
    q.mode = qj.at("mode").get<std::string>();
    for (auto& l : qj.at("layers")) q.quantised_layers.push_back(l.get<int>() - 1);
    const size_t L = q.cfg.kernels.size();
    if (qj.at("weights").size() != L || qj.at("activations").size() != L + 1)
      throw bad("the quantisation record does not match the architecture");
    Espcn shape_model(q.cfg);
    for (size_t i = 0; i < L; ++i) {
      const std::string name = fmt::format("conv{}", i + 1);
      const json& wj = qj.at("weights")[i];
      WeightQuant wq;
      wq.kind = parse_weight_kind(wj.at("kind").get<std::string>());
      const Shape kshape = shape_model.convs[i]->weight.shape();
      const Tensor* k = c.find(name + ".kernel");
      const Tensor* b = c.find(name + ".bias");
      if (!k || k->shape() != kshape) throw bad("tensor " + name + ".kernel is missing or misshapen");
      if (!b || b->dtype() != DType::f32 || b->numel() != kshape[3]) throw bad("tensor " + name + ".bias is missing or misshapen");
      DType want = DType::f32;
      if (wq.kind == WeightKind::integer) {
        wq.fmt = format_from_json(wj.at("format"));
        want = storage_dtype(wq.fmt);
        const Tensor* s = c.find(name + ".kernel.scale");
        const Tensor* z = c.find(name + ".kernel.zero_point");
        const int64_t np = wq.fmt.per_channel ? kshape[3] : 1;
        if (!s || !z || s->dtype() != DType::f32 || z->dtype() != DType::i32 || s->numel() != np || z->numel() != np)
          throw bad("quantisation parameters of " + name + ".kernel are missing or misshapen");
        wq.params.scale.assign(s->f32(), s->f32() + np);
        wq.params.zero_point.assign(z->data<int32_t>(), z->data<int32_t>() + np);
        for (float v : wq.params.scale)
          if (!(v > 0) || !std::isfinite(v)) throw bad(name + ".kernel has a scale that is not a positive number");
        for (int32_t code : codes_to_int32(*k))
          if (code < wq.fmt.qmin() || code > wq.fmt.qmax()) throw bad(name + ".kernel has codes outside its format");
      } else if (wq.kind == WeightKind::f16) {
        want = DType::f16;
      } else if (wq.kind == WeightKind::bf16) {
        want = DType::i16;
      }
      if (k->dtype() != want) throw bad("tensor " + name + ".kernel has dtype " + std::string(dtype_name(k->dtype())) +
                                        ", expected " + std::string(dtype_name(want)));
      if (wq.kind != WeightKind::f32) wq.codes = *k;
      q.weights.push_back(wq);
      q.biases.push_back(*b);
      q.kernels.push_back(Tensor());
    }
    for (size_t j = 0; j <= L; ++j) {
      const json& aj = qj.at("activations")[j];
      ActQuant a;
      a.on = aj.at("on").get<bool>();
      a.dynamic = aj.at("dynamic").get<bool>();
      if (a.on) a.fmt = format_from_json(aj.at("format"));
      if (a.on && !a.dynamic) {
        const Tensor* s = c.find(fmt::format("a{}.scale", j));
        const Tensor* z = c.find(fmt::format("a{}.zero_point", j));
        if (!s || !z || s->dtype() != DType::f32 || z->dtype() != DType::i32 || s->numel() != 1 || z->numel() != 1)
          throw bad(fmt::format("activation a{} parameters are missing or misshapen", j));
        if (!(s->f32()[0] > 0) || !std::isfinite(s->f32()[0])) throw bad(fmt::format("activation a{} has a bad scale", j));
        a.params = QParams{{s->f32()[0]}, {z->data<int32_t>()[0]}};
      }
      q.acts.push_back(a);
    }
  } catch (const json::exception& e) {
    throw bad(std::string("bad quantisation metadata: ") + e.what());
  }
  // Float source weights: the stored f32 kernels, else the effective (dequantised) ones.
  for (size_t i = 0; i < q.kernels.size(); ++i) {
    const std::string name = fmt::format("conv{}", i + 1);
    q.kernels[i] = q.weights[i].kind == WeightKind::f32 ? *c.find(name + ".kernel") : Tensor();
  }
  for (size_t i = 0; i < q.kernels.size(); ++i)
    if (!q.kernels[i].defined()) q.kernels[i] = q.effective_kernel(int(i));
  return q;
}

}  // namespace qsr::quant
