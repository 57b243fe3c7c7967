#include "layers/fake_quant.h"

#include <fmt/core.h>

#include <algorithm>

#include "engine/parallel.h"
#include "engine/kernels/fq/fq_kernels.h"

namespace qsr::quant {

namespace {

// Rough cost hints for parallel_for: the scalar stochastic path and the vector kernels.
constexpr int64_t kWorkPerElement = 16;
constexpr int64_t kFastWorkPerElement = 4;

int64_t channels_for(const Tensor& x, size_t n_params, const char* op) {
  QSR_CHECK(n_params >= 1, std::string(op) + ": no quantisation parameters");
  if (n_params == 1) return 1;
  QSR_CHECK(x.ndim() >= 1 && x.dim(x.ndim() - 1) == int64_t(n_params),
            fmt::format("{}: {} per-channel parameters for a tensor of shape {}", op, n_params, shape_str(x.shape())));
  return int64_t(n_params);
}

// Zero points are not range-checked: the spec's symmetric choice 0 lies outside a narrow
// unsigned grid [1, qmax], and fake_quantize accepts any.
void check_scales(const float* s, size_t n, const char* op) {
  for (size_t k = 0; k < n; ++k)
    QSR_CHECK(std::isfinite(s[k]) && s[k] > 0, fmt::format("{}: scale {} of channel {} is not finite and positive", op, s[k], k));
}

// The STE mask: bit i % 64 of word i / 64 is 1 where element i's code was not clipped
// (see engine/kernels/fq/fq_kernels.h). Shared by the backward closures.
using MaskBits = std::shared_ptr<std::vector<uint64_t>>;

MaskBits new_mask(int64_t n) { return std::make_shared<std::vector<uint64_t>>(size_t((n + 63) / 64)); }

// The forward pass over all elements: y, and when asked the STE mask (bit set where the code
// was not clipped) and dy/ds per element ((q - z) - v inside, (q - z) when clipped).
struct FqOut {
  float* y = nullptr;
  uint64_t* mask = nullptr;
  float* dyds = nullptr;
};

// half_even and half_away (and stochastic without a generator, which is half_even) run the
// vector kernels of the given (or the active) ISA (engine/kernels/fq: bit-for-bit the scalar definition below);
// stochastic rounding with a generator runs the scalar loop, block by block.
void fq_run(const FqKernels& k, const float* x, int64_t n, int64_t c, const float* s, const int32_t* z, const QFormat& f,
            bool stochastic, uint64_t seed, FqOut out) {
  const int64_t blocks = (n + kFakeQuantBlock - 1) / kFakeQuantBlock;
  const int32_t qmin = f.qmin(), qmax = f.qmax();
  if (!stochastic) {
    const Rounding rounding = f.rounding == Rounding::half_away ? Rounding::half_away : Rounding::half_even;
    const FqPrepared prep = fq_prepare(s, z, c, qmin, qmax, rounding);
    parallel_for(
        blocks,
        [&](int64_t b0, int64_t b1) {
          k.forward(prep.p, x, b0 * kFakeQuantBlock, std::min(n, b1 * kFakeQuantBlock), out.y, out.mask, out.dyds);
        },
        kFakeQuantBlock * kFastWorkPerElement);
    return;
  }
  const Rounding rounding = f.rounding;
  parallel_for(
      blocks,
      [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) {
          const int64_t i0 = b * kFakeQuantBlock, i1 = std::min(n, i0 + kFakeQuantBlock);
          Rng block_rng(seed ^ (uint64_t(b) + 1) * 0x9E3779B97F4A7C15ull);
          int64_t ch = c == 1 ? 0 : i0 % c;
          for (int64_t i = i0; i < i1; ++i) {
            const float sc = s[ch];
            const int32_t zp = z[ch];
            const float v = x[i] / sc;  // IEEE single division, as quantize_value
            const int64_t code = round_value(v, rounding, &block_rng) + zp;
            const bool inside = code >= qmin && code <= qmax;
            const int32_t q = inside ? int32_t(code) : (code < qmin ? qmin : qmax);
            out.y[i] = dequantize_value(q, sc, zp);
            // Blocks are whole words (kFakeQuantBlock % 64 == 0): no word is shared by two threads.
            if (out.mask && inside) out.mask[i >> 6] |= uint64_t(1) << (i & 63);
            if (out.dyds) out.dyds[i] = float(q - zp) - (inside ? v : 0.f);
            if (++ch == c) ch = 0;
          }
        }
      },
      kFakeQuantBlock * kWorkPerElement);
}
static_assert(kFakeQuantBlock % 64 == 0, "fake-quant blocks must be whole mask words");

uint64_t draw_seed(const QFormat& f, Rng* rng) {
  return (f.rounding == Rounding::stochastic && rng) ? rng->next_u64() : 0;
}

// dL/dx = dL/dy where the mask bit is set, else 0.
Tensor masked(const FqKernels& k, const Tensor& g, const MaskBits& mask) {
  Tensor gx = Tensor::empty(g.shape());
  const float* gp = g.f32();
  const uint64_t* m = mask->data();
  float* d = gx.f32();
  const int64_t n = g.numel();
  const int64_t blocks = (n + kFakeQuantBlock - 1) / kFakeQuantBlock;
  parallel_for(
      blocks,
      [&](int64_t b0, int64_t b1) { k.apply_mask(m, gp, b0 * kFakeQuantBlock, std::min(n, b1 * kFakeQuantBlock), d); },
      kFakeQuantBlock * 2);
  return gx;
}

}  // namespace

Var fake_quant(const Var& x, const QFormat& f, const QParams& p, Rng* rng, const FqKernels* kernels) {
  const FqKernels& k = kernels ? *kernels : fq_kernels();
  f.validate();
  QSR_CHECK(x.defined() && x.value().dtype() == DType::f32, "fake_quant: expects a defined f32 input");
  QSR_CHECK(p.zero_point.size() == p.scale.size(), "fake_quant: scales and zero points differ in count");
  const int64_t c = channels_for(x.value(), p.size(), "fake_quant");
  check_scales(p.scale.data(), p.size(), "fake_quant");
  const Tensor& xv = x.value();
  const bool record = grad_enabled() && x.requires_grad();
  Tensor y = Tensor::empty(xv.shape());
  MaskBits mask = record ? new_mask(xv.numel()) : nullptr;
  FqOut out{y.f32(), record ? mask->data() : nullptr, nullptr};
  const bool stochastic = f.rounding == Rounding::stochastic && rng;
  fq_run(k, xv.f32(), xv.numel(), c, p.scale.data(), p.zero_point.data(), f, stochastic, draw_seed(f, rng), out);
  return make_result(std::move(y), "fake_quant", {x}, [mask, kp = &k](VarImpl& self) {
    accumulate_grad(self.inputs[0], masked(*kp, self.grad, mask));
  });
}

double lsq_grad_scale(const QFormat& f, int64_t n_per_channel, int32_t zero_point) {
  const double qp = std::max<double>(double(f.qmax()) - zero_point, 1.0);
  return 1.0 / std::sqrt(double(std::max<int64_t>(n_per_channel, 1)) * qp);
}

Var fake_quant_lsq(const Var& x, const Var& scale, const QFormat& f, const std::vector<int32_t>& zero_point, Rng* rng,
                   const FqKernels* kernels) {
  const FqKernels& k = kernels ? *kernels : fq_kernels();
  f.validate();
  QSR_CHECK(f.scheme != Scheme::fixed_point, "fake_quant_lsq: a fixed-point format has no learnable scale");
  QSR_CHECK(x.defined() && x.value().dtype() == DType::f32, "fake_quant_lsq: expects a defined f32 input");
  QSR_CHECK(scale.defined() && scale.value().dtype() == DType::f32 && scale.value().ndim() == 1,
            "fake_quant_lsq: the scale must be a 1-d f32 tensor");
  const size_t ns = size_t(scale.value().numel());
  QSR_CHECK(zero_point.size() == ns,
            fmt::format("fake_quant_lsq: {} zero points for {} scales", zero_point.size(), ns));
  const int64_t c = channels_for(x.value(), ns, "fake_quant_lsq");
  const float* s = scale.value().f32();
  check_scales(s, ns, "fake_quant_lsq");
  const Tensor& xv = x.value();
  const int64_t n = xv.numel();
  const bool record = grad_enabled() && (x.requires_grad() || scale.requires_grad());
  Tensor y = Tensor::empty(xv.shape());
  MaskBits mask = record ? new_mask(n) : nullptr;
  Tensor dyds = record ? Tensor::empty(xv.shape()) : Tensor();
  FqOut out{y.f32(), record ? mask->data() : nullptr, record ? dyds.f32() : nullptr};
  const bool stochastic = f.rounding == Rounding::stochastic && rng;
  fq_run(k, xv.f32(), n, c, s, zero_point.data(), f, stochastic, draw_seed(f, rng), out);
  std::vector<double> g(ns);
  for (size_t k = 0; k < ns; ++k) g[k] = lsq_grad_scale(f, n / c, zero_point[k]);
  return make_result(std::move(y), "fake_quant_lsq", {x, scale}, [mask, dyds, g, c, kp = &k](VarImpl& self) {
    const Var& xin = self.inputs[0];
    const Var& sin = self.inputs[1];
    if (xin.requires_grad()) accumulate_grad(xin, masked(*kp, self.grad, mask));
    if (!sin.requires_grad()) return;
    const int64_t n = self.grad.numel();
    const int64_t blocks = (n + kFakeQuantBlock - 1) / kFakeQuantBlock;
    std::vector<double> partial(size_t(blocks * c), 0.0);
    const float* gp = self.grad.f32();
    const float* dp = dyds.f32();
    parallel_for(
        blocks,
        [&](int64_t b0, int64_t b1) {
          for (int64_t b = b0; b < b1; ++b) {
            const int64_t i0 = b * kFakeQuantBlock, i1 = std::min(n, i0 + kFakeQuantBlock);
            double* acc = partial.data() + b * c;
            int64_t ch = c == 1 ? 0 : i0 % c;
            for (int64_t i = i0; i < i1; ++i) {
              acc[ch] += double(gp[i]) * double(dp[i]);
              if (++ch == c) ch = 0;
            }
          }
        },
        kFakeQuantBlock * 4);
    Tensor gs = Tensor::zeros(sin.shape());
    for (int64_t k = 0; k < c; ++k) {
      double t = 0;
      for (int64_t b = 0; b < blocks; ++b) t += partial[size_t(b * c + k)];
      gs.f32()[k] = static_cast<float>(t * g[size_t(k)]);
    }
    accumulate_grad(sin, std::move(gs));
  });
}

// ---------------------------------------------------------------- FakeQuant

FakeQuant::FakeQuant(QFormat f, std::string observer, bool learn_scale, float observer_option, int64_t channels)
    : format_(f), observer_(make_observer(observer, f.per_channel, observer_option)), learn_scale_(learn_scale) {
  format_.validate();
  if (learn_scale_) {
    QSR_CHECK(format_.scheme != Scheme::fixed_point, "FakeQuant: a fixed-point format cannot learn its scale");
    const int64_t n = format_.per_channel ? channels : 1;
    QSR_CHECK(n >= 1, "FakeQuant: a per-channel format with learn_scale needs the channel count");
    QSR_CHECK(format_.per_channel || channels <= 1,
              "FakeQuant: a channel count was given for a per-tensor format");
    scale_ = Var(Tensor::full({n}, 1.f), true);
  }
}

std::string FakeQuant::describe() const {
  return fmt::format("FakeQuant({}, {}{}{})", format_.describe(), observer_->name(), learn_scale_ ? ", lsq" : "",
                     frozen_ ? ", frozen" : "");
}

std::vector<std::pair<std::string, Var>> FakeQuant::named_parameters() {
  if (!learn_scale_) return {};
  return {{"scale", scale_}};
}

bool FakeQuant::has_params() const { return have_snapshot_ || scale_ready_ || !observer_->empty(); }

QParams FakeQuant::params() const {
  if (have_snapshot_) return snapshot_;
  if (learn_scale_ && scale_ready_) {
    QParams p;
    const float* s = scale_.value().f32();
    p.scale.assign(s, s + scale_.value().numel());
    p.zero_point = zero_point_;
    return p;
  }
  QSR_CHECK(!observer_->empty(), "FakeQuant " + format_.describe() +
                                     ": no quantisation parameters (nothing observed in training and none set)");
  return observer_->params(format_);
}

void FakeQuant::freeze() {
  if (frozen_) return;
  if (has_params()) {
    snapshot_ = params();
    have_snapshot_ = true;
  }
  frozen_ = true;
}

void FakeQuant::set_params(const QParams& p) {
  QSR_CHECK(p.size() >= 1 && p.zero_point.size() == p.size(), "FakeQuant: empty or inconsistent parameters");
  QSR_CHECK(format_.per_channel || p.size() == 1, "FakeQuant: a per-tensor format takes one scale");
  check_scales(p.scale.data(), p.size(), "FakeQuant::set_params");
  if (learn_scale_) {
    QSR_CHECK(int64_t(p.size()) == scale_.value().numel(),
              fmt::format("FakeQuant: {} scales for a learnt scale of {}", p.size(), scale_.value().numel()));
    std::copy(p.scale.begin(), p.scale.end(), scale_.value().f32());
    zero_point_ = p.zero_point;
    scale_ready_ = true;
  }
  snapshot_ = p;
  have_snapshot_ = true;
  frozen_ = true;
}

Var FakeQuant::forward(const Var& x) {
  if (!training()) return fake_quant(x, format_, params(), rng);
  ++steps_;
  Var y;
  if (frozen_) {
    y = fake_quant(x, format_, params(), rng);
  } else if (learn_scale_) {
    if (!scale_ready_) {
      observer_->observe(x.value());
      const QParams p = observer_->params(format_);
      QSR_CHECK(int64_t(p.size()) == scale_.value().numel(),
                fmt::format("FakeQuant: the input has {} channels, the learnt scale {}", p.size(),
                            scale_.value().numel()));
      std::copy(p.scale.begin(), p.scale.end(), scale_.value().f32());
      zero_point_ = p.zero_point;
      scale_ready_ = true;
    }
    y = fake_quant_lsq(x, scale_, format_, zero_point_, rng);
  } else {
    observer_->observe(x.value());
    y = fake_quant(x, format_, observer_->params(format_), rng);
  }
  if (!frozen_ && freeze_after >= 0 && steps_ >= freeze_after) freeze();
  return y;
}

}  // namespace qsr::quant
