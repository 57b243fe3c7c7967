#include "engine/ops.h"

#include <cmath>
#include <cstdlib>

#include "engine/f32_drivers.h"
#include "engine/kernels/f32/f32_kernels.h"
#include "engine/winograd.h"

namespace qsr {

ConvAlgo parse_conv_algo(const std::string& name) {
  if (name == "direct") return ConvAlgo::direct;
  if (name == "winograd") return ConvAlgo::winograd;
  if (name == "auto") return ConvAlgo::automatic;
  throw Error("unknown convolution algorithm '" + name + "' (expected direct, winograd or auto)");
}

std::string conv_algo_name(ConvAlgo algo) {
  switch (algo) {
    case ConvAlgo::direct: return "direct";
    case ConvAlgo::winograd: return "winograd";
    case ConvAlgo::automatic: return "auto";
  }
  return "?";
}

ConvAlgo conv_algo_from_env() {
  const char* env = std::getenv("QSR_CONV");
  if (!env || !*env) return ConvAlgo::automatic;
  const std::string v(env);
  QSR_CHECK(v == "direct" || v == "winograd" || v == "auto",
            "QSR_CONV=" + v + ": unknown convolution algorithm (expected direct, winograd or auto)");
  return parse_conv_algo(v);
}

namespace {
void check_f32(const Var& v, const char* op, const char* what) {
  QSR_CHECK(v.defined(), std::string(op) + ": " + what + " is undefined");
  QSR_CHECK(v.value().dtype() == DType::f32, std::string(op) + ": " + what + " must be f32, got " +
                                                 std::string(dtype_name(v.value().dtype())));
}
void check_same(const Var& a, const Var& b, const char* op) {
  check_f32(a, op, "first operand");
  check_f32(b, op, "second operand");
  QSR_CHECK(a.shape() == b.shape(), std::string(op) + ": shapes " + shape_str(a.shape()) + " and " +
                                        shape_str(b.shape()) + " differ");
}

ConvGeom conv_geom(const Var& x, const Var& w, const Var& b, const char* op) {
  check_f32(x, op, "input");
  check_f32(w, op, "weight");
  const Shape& xs = x.shape();
  const Shape& ws = w.shape();
  QSR_CHECK(xs.size() == 4, std::string(op) + ": input must be NHWC (4-d), got " + shape_str(xs));
  QSR_CHECK(ws.size() == 4 && ws[0] == ws[1], std::string(op) + ": weight must be [k, k, cin, cout], got " + shape_str(ws));
  QSR_CHECK(ws[0] % 2 == 1 && ws[0] >= 1 && ws[0] <= 7,
            std::string(op) + ": kernel size must be odd and in 1..7, got " + std::to_string(ws[0]));
  QSR_CHECK(ws[2] == xs[3], std::string(op) + ": weight expects " + std::to_string(ws[2]) + " input channels, input has " +
                                std::to_string(xs[3]));
  if (b.defined()) {
    check_f32(b, op, "bias");
    QSR_CHECK(b.shape() == Shape{ws[3]}, std::string(op) + ": bias must be [" + std::to_string(ws[3]) + "], got " +
                                             shape_str(b.shape()));
  }
  ConvGeom g;
  g.n = int(xs[0]);
  g.h = int(xs[1]);
  g.w = int(xs[2]);
  g.cin = int(xs[3]);
  g.cout = int(ws[3]);
  g.k = int(ws[0]);
  return g;
}

Var conv_impl(const Var& x, const Var& w, const Var& b, bool fuse_relu, ConvAlgo algo) {
  const char* op = fuse_relu ? "conv2d_relu" : "conv2d";
  ConvGeom g = conv_geom(x, w, b, op);
  // Recorded for a gradient: exactly when make_result will record it.
  const bool recorded =
      grad_enabled() && (x.requires_grad() || w.requires_grad() || (b.defined() && b.requires_grad()));
  const bool wino = g.k == 3 && (algo == ConvAlgo::winograd || (algo == ConvAlgo::automatic && recorded));
  Tensor y = Tensor::empty({g.n, g.h, g.w, g.cout});
  const auto& K = f32_kernels();
  const float* bp = b.defined() ? b.value().f32() : nullptr;
  if (wino)
    winograd_conv2d_forward(K, g, x.value().f32(), w.value().f32(), bp, y.f32(), fuse_relu);
  else
    conv2d_forward(K, g, x.value().f32(), w.value().f32(), bp, y.f32(), fuse_relu);
  std::vector<Var> inputs{x, w};
  if (b.defined()) inputs.push_back(b);
  return make_result(std::move(y), op, std::move(inputs), [g, fuse_relu, wino](VarImpl& self) {
    const auto& K = f32_kernels();
    const Var& x = self.inputs[0];
    const Var& w = self.inputs[1];
    Tensor gy = self.grad;
    if (fuse_relu) {
      Tensor masked = Tensor::empty(gy.shape());
      relu_backward(K, gy.numel(), self.value.f32(), gy.f32(), masked.f32());
      gy = masked;
    }
    const bool has_b = self.inputs.size() > 2;
    if (w.requires_grad() || (has_b && self.inputs[2].requires_grad())) {
      Tensor gw = Tensor::empty(w.shape());
      Tensor gb = has_b ? Tensor::empty(self.inputs[2].shape()) : Tensor();
      float* gbp = has_b ? gb.f32() : nullptr;
      if (wino)
        winograd_conv2d_backward_weights(K, g, x.value().f32(), gy.f32(), gw.f32(), gbp);
      else
        conv2d_backward_weights(K, g, x.value().f32(), gy.f32(), gw.f32(), gbp);
      accumulate_grad(w, std::move(gw));
      if (has_b) accumulate_grad(self.inputs[2], std::move(gb));
    }
    if (x.requires_grad()) {
      Tensor gx = Tensor::empty(x.shape());
      if (wino)
        winograd_conv2d_backward_data(K, g, gy.f32(), w.value().f32(), gx.f32());
      else
        conv2d_backward_data(K, g, gy.f32(), w.value().f32(), gx.f32());
      accumulate_grad(x, std::move(gx));
    }
  });
}

template <class F> Tensor map1(const Tensor& a, F f) {
  Tensor r = Tensor::empty(a.shape());
  const float* s = a.f32();
  float* d = r.f32();
  for (int64_t i = 0, n = a.numel(); i < n; ++i) d[i] = f(s[i]);
  return r;
}
template <class F> Tensor map2(const Tensor& a, const Tensor& b, F f) {
  Tensor r = Tensor::empty(a.shape());
  const float* s = a.f32();
  const float* t = b.f32();
  float* d = r.f32();
  for (int64_t i = 0, n = a.numel(); i < n; ++i) d[i] = f(s[i], t[i]);
  return r;
}
}  // namespace

Var conv2d(const Var& x, const Var& w, const Var& b, ConvAlgo algo) { return conv_impl(x, w, b, false, algo); }
Var conv2d_relu(const Var& x, const Var& w, const Var& b, ConvAlgo algo) { return conv_impl(x, w, b, true, algo); }

Var relu(const Var& x) {
  check_f32(x, "relu", "input");
  Tensor y = Tensor::empty(x.shape());
  relu_forward(f32_kernels(), y.numel(), x.value().f32(), y.f32());
  return make_result(std::move(y), "relu", {x}, [](VarImpl& self) {
    Tensor gx = Tensor::empty(self.value.shape());
    relu_backward(f32_kernels(), gx.numel(), self.value.f32(), self.grad.f32(), gx.f32());
    accumulate_grad(self.inputs[0], std::move(gx));
  });
}

Var tanh(const Var& x) {
  check_f32(x, "tanh", "input");
  Tensor y = map1(x.value(), [](float v) { return std::tanh(v); });
  return make_result(std::move(y), "tanh", {x}, [](VarImpl& self) {
    accumulate_grad(self.inputs[0], map2(self.value, self.grad, [](float y, float g) { return g * (1.f - y * y); }));
  });
}

Var pixel_shuffle(const Var& x, int r) {
  check_f32(x, "pixel_shuffle", "input");
  const Shape& s = x.shape();
  QSR_CHECK(r >= 1, "pixel_shuffle: factor must be at least 1, got " + std::to_string(r));
  QSR_CHECK(s.size() == 4 && s[3] % (int64_t(r) * r) == 0,
            "pixel_shuffle: input must be NHWC with channels divisible by r*r=" + std::to_string(r * r) + ", got " +
                shape_str(s));
  int n = int(s[0]), h = int(s[1]), w = int(s[2]), c = int(s[3] / (r * r));
  Tensor y = Tensor::empty({n, int64_t(h) * r, int64_t(w) * r, c});
  depth_to_space(f32_kernels(), n, h, w, c, r, x.value().f32(), y.f32());
  return make_result(std::move(y), "pixel_shuffle", {x}, [n, h, w, c, r](VarImpl& self) {
    Tensor gx = Tensor::empty(self.inputs[0].shape());
    space_to_depth(f32_kernels(), n, h, w, c, r, self.grad.f32(), gx.f32());
    accumulate_grad(self.inputs[0], std::move(gx));
  });
}

Var pixel_unshuffle(const Var& x, int r) {
  check_f32(x, "pixel_unshuffle", "input");
  const Shape& s = x.shape();
  QSR_CHECK(r >= 1, "pixel_unshuffle: factor must be at least 1, got " + std::to_string(r));
  QSR_CHECK(s.size() == 4 && s[1] % r == 0 && s[2] % r == 0,
            "pixel_unshuffle: input must be NHWC with height and width divisible by " + std::to_string(r) + ", got " +
                shape_str(s));
  int n = int(s[0]), h = int(s[1] / r), w = int(s[2] / r), c = int(s[3]);
  Tensor y = Tensor::empty({n, h, w, int64_t(c) * r * r});
  space_to_depth(f32_kernels(), n, h, w, c, r, x.value().f32(), y.f32());
  return make_result(std::move(y), "pixel_unshuffle", {x}, [n, h, w, c, r](VarImpl& self) {
    Tensor gx = Tensor::empty(self.inputs[0].shape());
    depth_to_space(f32_kernels(), n, h, w, c, r, self.grad.f32(), gx.f32());
    accumulate_grad(self.inputs[0], std::move(gx));
  });
}

Var add(const Var& a, const Var& b) {
  check_same(a, b, "add");
  return make_result(map2(a.value(), b.value(), [](float x, float y) { return x + y; }), "add", {a, b},
                     [](VarImpl& self) {
                       accumulate_grad(self.inputs[0], self.grad.clone());
                       accumulate_grad(self.inputs[1], self.grad.clone());
                     });
}

Var sub(const Var& a, const Var& b) {
  check_same(a, b, "sub");
  return make_result(map2(a.value(), b.value(), [](float x, float y) { return x - y; }), "sub", {a, b},
                     [](VarImpl& self) {
                       accumulate_grad(self.inputs[0], self.grad.clone());
                       accumulate_grad(self.inputs[1], map1(self.grad, [](float g) { return -g; }));
                     });
}

Var mul(const Var& a, const Var& b) {
  check_same(a, b, "mul");
  return make_result(map2(a.value(), b.value(), [](float x, float y) { return x * y; }), "mul", {a, b},
                     [](VarImpl& self) {
                       const Var& a = self.inputs[0];
                       const Var& b = self.inputs[1];
                       if (a.requires_grad()) accumulate_grad(a, map2(self.grad, b.value(), [](float g, float y) { return g * y; }));
                       if (b.requires_grad()) accumulate_grad(b, map2(self.grad, a.value(), [](float g, float x) { return g * x; }));
                     });
}

Var scale(const Var& x, float s) {
  check_f32(x, "scale", "input");
  return make_result(map1(x.value(), [s](float v) { return v * s; }), "scale", {x}, [s](VarImpl& self) {
    accumulate_grad(self.inputs[0], map1(self.grad, [s](float g) { return g * s; }));
  });
}

Var clamp(const Var& x, float lo, float hi) {
  check_f32(x, "clamp", "input");
  QSR_CHECK(lo <= hi, "clamp: lower bound " + std::to_string(lo) + " exceeds upper bound " + std::to_string(hi));
  return make_result(map1(x.value(), [lo, hi](float v) { return v < lo ? lo : (v > hi ? hi : v); }), "clamp", {x},
                     [lo, hi](VarImpl& self) {
                       const Var& x = self.inputs[0];
                       accumulate_grad(x, map2(self.grad, x.value(), [lo, hi](float g, float v) {
                                         return (v > lo && v < hi) ? g : 0.f;
                                       }));
                     });
}

namespace {
double sum_double(const Tensor& t) {
  double s = 0;
  const float* p = t.f32();
  for (int64_t i = 0, n = t.numel(); i < n; ++i) s += p[i];
  return s;
}
}  // namespace

Var sum(const Var& x) {
  check_f32(x, "sum", "input");
  Tensor y = Tensor::full({1}, static_cast<float>(sum_double(x.value())));
  return make_result(std::move(y), "sum", {x}, [](VarImpl& self) {
    accumulate_grad(self.inputs[0], Tensor::full(self.inputs[0].shape(), self.grad.f32()[0]));
  });
}

Var mean(const Var& x) {
  check_f32(x, "mean", "input");
  QSR_CHECK(x.value().numel() > 0, "mean: empty input");
  const double n = double(x.value().numel());
  Tensor y = Tensor::full({1}, static_cast<float>(sum_double(x.value()) / n));
  return make_result(std::move(y), "mean", {x}, [n](VarImpl& self) {
    accumulate_grad(self.inputs[0], Tensor::full(self.inputs[0].shape(), static_cast<float>(self.grad.f32()[0] / n)));
  });
}

Var mse_loss(const Var& pred, const Var& target) {
  check_same(pred, target, "mse_loss");
  const int64_t n = pred.value().numel();
  QSR_CHECK(n > 0, "mse_loss: empty input");
  const float* p = pred.value().f32();
  const float* t = target.value().f32();
  double s = 0;
  for (int64_t i = 0; i < n; ++i) {
    double d = double(p[i]) - t[i];
    s += d * d;
  }
  Tensor y = Tensor::full({1}, static_cast<float>(s / n));
  return make_result(std::move(y), "mse_loss", {pred, target}, [n](VarImpl& self) {
    const Var& p = self.inputs[0];
    const Var& t = self.inputs[1];
    const float k = static_cast<float>(2.0 * self.grad.f32()[0] / n);
    Tensor d = map2(p.value(), t.value(), [k](float a, float b) { return k * (a - b); });
    if (t.requires_grad()) accumulate_grad(t, map1(d, [](float v) { return -v; }));
    accumulate_grad(p, std::move(d));
  });
}

}  // namespace qsr
