#include "quant/observer.h"

#include <fmt/core.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include "engine/parallel.h"

namespace qsr::quant {

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// Fixed partition of `rows` rows into blocks of at least ~64k elements (at most 64 blocks):
// independent of the thread count.
int64_t block_count(int64_t rows, int64_t c) {
  const int64_t elems = rows * c;
  return std::clamp<int64_t>(elems / 65536, 1, std::min<int64_t>(64, std::max<int64_t>(rows, 1)));
}

}  // namespace

void tensor_min_max(const Tensor& x, int64_t c, std::vector<float>& lo, std::vector<float>& hi) {
  QSR_CHECK(x.dtype() == DType::f32, "observer: expects an f32 tensor");
  QSR_CHECK(c >= 1 && x.numel() % c == 0, "observer: channel count does not divide the tensor");
  const int64_t rows = x.numel() / c;
  const int64_t nb = block_count(rows, c);
  const float* src = x.f32();
  // Per block: c minima, c maxima and one finiteness accumulator (0 or NaN).
  std::vector<float> bl(size_t(nb * c), kInf), bh(size_t(nb * c), -kInf), bad(size_t(nb), 0.f);
  parallel_for(
      nb,
      [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) {
          const int64_t r0 = b * rows / nb, r1 = (b + 1) * rows / nb;
          float* l = bl.data() + b * c;
          float* h = bh.data() + b * c;
          if (c == 1) {
            float l8[8], h8[8], z8[8];
            for (int j = 0; j < 8; ++j) l8[j] = kInf, h8[j] = -kInf, z8[j] = 0.f;
            int64_t i = r0;
            for (; i + 8 <= r1; i += 8)
              for (int j = 0; j < 8; ++j) {
                const float v = src[i + j];
                l8[j] = v < l8[j] ? v : l8[j];
                h8[j] = v > h8[j] ? v : h8[j];
                z8[j] += v - v;  // NaN once a value is infinite or NaN
              }
            for (; i < r1; ++i) {
              const float v = src[i];
              l8[0] = v < l8[0] ? v : l8[0];
              h8[0] = v > h8[0] ? v : h8[0];
              z8[0] += v - v;
            }
            float z = 0.f;
            for (int j = 0; j < 8; ++j) {
              l[0] = std::min(l[0], l8[j]);
              h[0] = std::max(h[0], h8[j]);
              z += z8[j];
            }
            bad[size_t(b)] = z;
          } else {
            float z = 0.f;
            for (int64_t r = r0; r < r1; ++r) {
              const float* row = src + r * c;
              for (int64_t k = 0; k < c; ++k) {
                const float v = row[k];
                l[k] = v < l[k] ? v : l[k];
                h[k] = v > h[k] ? v : h[k];
                z += v - v;
              }
            }
            bad[size_t(b)] = z;
          }
        }
      },
      rows * c / nb + 1);
  lo.assign(size_t(c), kInf);
  hi.assign(size_t(c), -kInf);
  for (int64_t b = 0; b < nb; ++b) {
    QSR_CHECK(bad[size_t(b)] == 0.f, "observer: the input holds a non-finite value (NaN or infinity)");
    for (int64_t k = 0; k < c; ++k) {
      lo[size_t(k)] = std::min(lo[size_t(k)], bl[size_t(b * c + k)]);
      hi[size_t(k)] = std::max(hi[size_t(k)], bh[size_t(b * c + k)]);
    }
  }
}

int64_t Observer::check_input(const Tensor& x) {
  QSR_CHECK(x.dtype() == DType::f32, "observer " + name() + ": expects an f32 tensor, got " + std::string(dtype_name(x.dtype())));
  if (!per_channel_) return 1;
  QSR_CHECK(x.ndim() >= 1 && x.dim(x.ndim() - 1) >= 1,
            "observer " + name() + ": a per-channel observer needs a last axis, got shape " + shape_str(x.shape()));
  const int64_t c = x.dim(x.ndim() - 1);
  QSR_CHECK(channels_ == 0 || channels_ == c, fmt::format("observer {}: {} channels after {} (shape {})", name(), c,
                                                          channels_, shape_str(x.shape())));
  return c;
}

bool Observer::batch_range(const Tensor& x, std::vector<float>& lo, std::vector<float>& hi) {
  const int64_t c = check_input(x);
  if (x.numel() == 0) return false;
  tensor_min_max(x, c, lo, hi);
  channels_ = c;
  return true;
}

void Observer::check_format(const QFormat& f) const {
  f.validate();
  if (per_channel_ && channels_ > 1)
    QSR_CHECK(f.per_channel, "observer " + name() + ": per-channel statistics for a per-tensor format " + f.describe());
  if (!per_channel_)
    QSR_CHECK(!f.per_channel, "observer " + name() + ": per-tensor statistics for a per-channel format " + f.describe());
}

void Observer::check_not_empty() const {
  QSR_CHECK(!empty(), "observer " + name() + ": nothing has been observed");
}

QParams Observer::params(const QFormat& f) const {
  check_format(f);
  const auto r = range();
  return params_from_ranges(f, r.first, r.second);
}

namespace {

// ---------------------------------------------------------------- minmax, ema

class MinMaxObserver : public Observer {
 public:
  MinMaxObserver(bool per_channel, bool ema, float decay) : Observer(per_channel), ema_(ema), decay_(decay) {}

  void observe(const Tensor& x) override {
    std::vector<float> bl, bh;
    if (!batch_range(x, bl, bh)) return;
    if (lo_.empty()) {
      lo_ = std::move(bl);
      hi_ = std::move(bh);
      return;
    }
    for (size_t k = 0; k < lo_.size(); ++k) {
      if (ema_) {
        lo_[k] = decay_ * lo_[k] + (1.f - decay_) * bl[k];
        hi_[k] = decay_ * hi_[k] + (1.f - decay_) * bh[k];
      } else {
        lo_[k] = std::min(lo_[k], bl[k]);
        hi_[k] = std::max(hi_[k], bh[k]);
      }
    }
  }
  bool empty() const override { return lo_.empty(); }
  std::pair<std::vector<float>, std::vector<float>> range() const override {
    check_not_empty();
    return {lo_, hi_};
  }
  std::string name() const override { return ema_ ? fmt::format("ema(decay={})", decay_) : "minmax"; }

 private:
  bool ema_;
  float decay_;
  std::vector<float> lo_, hi_;
};

// ---------------------------------------------------------------- histograms

// One channel's histogram. Bins [origin + i*width, origin + (i+1)*width), i < bins; width 0
// while every value seen is the same (then all counts sit in `point`).
struct Hist {
  double origin = 0, width = 0;
  std::vector<double> counts;
  double point = 0;  // count of the single value while width == 0
  float min = kInf, max = -kInf;

  double total() const {
    double t = point;
    for (double v : counts) t += v;
    return t;
  }

  // Makes the histogram cover [lo, hi] (new extremes, lo < hi).
  void cover(float lo, float hi, int bins) {
    if (width == 0) {
      const double mn = std::min<double>(lo, min), mx = std::max<double>(hi, max);
      origin = mn;
      width = (mx - mn) / bins;
      counts.assign(size_t(bins), 0.0);
      if (point > 0) counts[size_t(index(min, bins))] += point;  // the old single value
      point = 0;
      return;
    }
    if (lo >= origin && hi <= origin + bins * width) return;
    const double mn = std::min<double>(lo, origin), mx = std::max<double>(hi, origin + bins * width);
    // Smallest power-of-two growth that covers [mn, mx] with one bin to spare for alignment.
    double factor = 2;
    while (width * factor * (bins - 1) < mx - mn) factor *= 2;
    const double w2 = width * factor;
    const double shift = origin > mn ? std::ceil((origin - mn) / w2) : 0.0;  // new bins before the old origin
    std::vector<double> merged(size_t(bins), 0.0);
    for (int i = 0; i < bins; ++i) {
      const int64_t j = int64_t(shift + std::floor(double(i) / factor));
      merged[size_t(std::min<int64_t>(j, bins - 1))] += counts[size_t(i)];
    }
    counts = std::move(merged);
    origin -= shift * w2;
    width = w2;
  }

  int index(float v, int bins) const {
    const double t = (double(v) - origin) / width;
    return t <= 0 ? 0 : t >= bins - 1 ? bins - 1 : int(t);
  }
};

class HistogramObserver : public MseObserverBase {
 public:
  HistogramObserver(bool per_channel, bool mse, float p)
      : MseObserverBase(per_channel), mse_(mse), p_(p), bins_(per_channel ? kHistBinsPerChannel : kHistBins) {}

  std::string name() const override { return mse_ ? "mse" : fmt::format("percentile(p={})", p_); }
  bool empty() const override { return hist_.empty(); }

  void observe(const Tensor& x) override {
    std::vector<float> bl, bh;
    if (!batch_range(x, bl, bh)) return;
    const int64_t c = channels_;
    if (hist_.empty()) hist_.resize(size_t(c));
    // Grow each histogram first, then bin the batch.
    std::vector<char> binned(size_t(c), 0);
    for (int64_t k = 0; k < c; ++k) {
      Hist& h = hist_[size_t(k)];
      const float mn = std::min(h.min, bl[size_t(k)]), mx = std::max(h.max, bh[size_t(k)]);
      if (mx > mn) {
        h.cover(mn, mx, bins_);
        binned[size_t(k)] = 1;
      } else {
        h.point += double(x.numel() / c);  // every value so far equals mn
      }
      h.min = mn;
      h.max = mx;
    }
    bin_values(x, c, binned);
  }

  std::pair<std::vector<float>, std::vector<float>> range() const override {
    check_not_empty();
    std::vector<float> lo(hist_.size()), hi(hist_.size());
    for (size_t k = 0; k < hist_.size(); ++k) {
      const Hist& h = hist_[k];
      lo[k] = h.min;
      hi[k] = h.max;
      if (!mse_ && h.width > 0 && p_ < 100) {
        const double tail = h.total() * (100.0 - double(p_)) / 100.0;
        lo[k] = std::clamp(float(quantile_from_bottom(h, tail)), h.min, h.max);
        hi[k] = std::clamp(float(quantile_from_top(h, tail)), lo[k], h.max);
      }
    }
    return {lo, hi};
  }

  QParams params(const QFormat& f) const override {
    check_format(f);
    const auto r = mse_ ? clip_range(f) : range();
    return params_from_ranges(f, r.first, r.second);
  }

  std::pair<std::vector<float>, std::vector<float>> clip_range(const QFormat& f) const override {
    check_format(f);
    check_not_empty();
    const size_t c = hist_.size();
    std::vector<float> lo(c), hi(c);
    parallel_for(
        int64_t(c),
        [&](int64_t k0, int64_t k1) {
          for (int64_t k = k0; k < k1; ++k) search(hist_[size_t(k)], f, lo[size_t(k)], hi[size_t(k)]);
        },
        int64_t(bins_) * 400);
    return {lo, hi};
  }

 private:
  bool mse_;
  float p_;
  int bins_;
  std::vector<Hist> hist_;

  void bin_values(const Tensor& x, int64_t c, const std::vector<char>& binned) {
    const int64_t rows = x.numel() / c;
    const int64_t nb = block_count(rows, c);
    const float* src = x.f32();
    const int bins = bins_;
    std::vector<uint32_t> local(size_t(nb * c * bins), 0);
    std::vector<double> org(static_cast<size_t>(c)), inv(static_cast<size_t>(c));
    for (int64_t k = 0; k < c; ++k) {
      const Hist& h = hist_[size_t(k)];
      org[size_t(k)] = h.origin;
      inv[size_t(k)] = h.width > 0 ? 1.0 / h.width : 0.0;
    }
    parallel_for(
        nb,
        [&](int64_t b0, int64_t b1) {
          for (int64_t b = b0; b < b1; ++b) {
            const int64_t r0 = b * rows / nb, r1 = (b + 1) * rows / nb;
            uint32_t* cnt = local.data() + b * c * bins;
            if (c == 1) {  // per tensor: no channel bookkeeping
              if (!binned[0]) continue;
              const double o = org[0], iw = inv[0];
              for (int64_t r = r0; r < r1; ++r) {
                const double t = (double(src[r]) - o) * iw;
                ++cnt[t <= 0 ? 0 : t >= bins - 1 ? bins - 1 : int(t)];
              }
              continue;
            }
            for (int64_t r = r0; r < r1; ++r)
              for (int64_t k = 0; k < c; ++k) {  // a channel not binned has inv 0: counted in bin 0, never merged
                const double t = (double(src[r * c + k]) - org[size_t(k)]) * inv[size_t(k)];
                const int i = t <= 0 ? 0 : t >= bins - 1 ? bins - 1 : int(t);
                ++cnt[k * bins + i];
              }
          }
        },
        rows * c / nb * 4 + 1);
    for (int64_t b = 0; b < nb; ++b)
      for (int64_t k = 0; k < c; ++k) {
        if (!binned[size_t(k)]) continue;
        double* dst = hist_[size_t(k)].counts.data();
        const uint32_t* cnt = local.data() + (b * c + k) * bins;
        for (int i = 0; i < bins; ++i) dst[i] += double(cnt[i]);
      }
  }

  // The value below which `tail` of the counts lie (uniform within a bin).
  double quantile_from_bottom(const Hist& h, double tail) const {
    double cum = 0;
    for (int i = 0; i < bins_; ++i) {
      const double n = h.counts[size_t(i)];
      if (n > 0 && cum + n >= tail) return h.origin + (i + (tail - cum) / n) * h.width;
      cum += n;
    }
    return h.max;
  }
  double quantile_from_top(const Hist& h, double tail) const {
    double cum = 0;
    for (int i = bins_ - 1; i >= 0; --i) {
      const double n = h.counts[size_t(i)];
      if (n > 0 && cum + n >= tail) return h.origin + (i + 1 - (tail - cum) / n) * h.width;
      cum += n;
    }
    return h.min;
  }

  // Expected squared error (times the count) of the histogram quantised with [lo, hi]'s parameters.
  double expected_error(const Hist& h, const QFormat& f, float lo, float hi) const {
    float s = 1;
    int32_t z = 0;
    choose_params(f, lo, hi, s, z);
    const double qlo = double(f.qmin()) - z, qhi = double(f.qmax()) - z;
    double e = 0;
    for (int i = 0; i < bins_; ++i) {
      const double n = h.counts[size_t(i)];
      if (n == 0) continue;
      const double a = std::max<double>(h.origin + i * h.width, h.min);
      const double b = std::min<double>(h.origin + (i + 1) * h.width, h.max);
      if (!(b > a)) {
        const double d = a - std::clamp(std::nearbyint(a / s), qlo, qhi) * s;  // a point mass
        e += n * d * d;
        continue;
      }
      e += n * quant_error_integral(a, b, s, qlo, qhi) / (b - a);
    }
    return e;
  }

  // The clip range [a*min, b*max] minimising the expected error: a joint search over a = b on a
  // coarse then fine grid, then (affine) each end alone.
  void search(const Hist& h, const QFormat& f, float& lo, float& hi) const {
    lo = h.min;
    hi = h.max;
    if (h.width == 0 || f.scheme == Scheme::fixed_point) return;
    constexpr int kCoarse = 32, kFine = 8;  // multipliers k/32, then steps of 1/256 around the best
    double best = expected_error(h, f, lo, hi);
    float best_lo = lo, best_hi = hi;
    // The best multiplier along a line (coarse then fine), updating the overall best.
    auto line = [&](bool move_lo, bool move_hi, double fixed_lo, double fixed_hi) {
      double best_a = 1, best_e = kInf;
      auto at = [&](double a) {
        const float l = float((move_lo ? a : fixed_lo) * h.min), u = float((move_hi ? a : fixed_hi) * h.max);
        const double e = expected_error(h, f, l, u);
        if (e < best_e) best_e = e, best_a = a;
        if (e < best) best = e, best_lo = l, best_hi = u;
      };
      for (int k = 1; k <= kCoarse; ++k) at(double(k) / kCoarse);
      const double c = best_a;
      for (int k = -kFine + 1; k < kFine; ++k) {
        const double a = c + double(k) / (kCoarse * kFine);
        if (a > 0 && a <= 1 && k != 0) at(a);
      }
      return best_a;
    };
    const double a = line(true, true, 1, 1);
    if (f.scheme == Scheme::affine) {
      const double al = line(true, false, a, a);
      line(false, true, al, a);
    }
    lo = best_lo;
    hi = best_hi;
  }
};

// Integral of (x - round(x))^2 over [0, v].
double sawtooth_integral(double v) {
  const double fl = std::floor(v), t = v - fl;
  const double g = t <= 0.5 ? t * t * t / 3 : 1.0 / 12 - (1 - t) * (1 - t) * (1 - t) / 3;
  return fl / 12 + g;
}

}  // namespace

double quant_error_integral(double a, double b, double s, double qlo, double qhi) {
  const double lo = qlo * s, hi = qhi * s;  // the outermost grid points
  double e = 0;
  if (a < lo) {
    const double u = std::min(b, lo);
    e += ((lo - a) * (lo - a) * (lo - a) - (lo - u) * (lo - u) * (lo - u)) / 3;
  }
  if (b > hi) {
    const double u = std::max(a, hi);
    e += ((b - hi) * (b - hi) * (b - hi) - (u - hi) * (u - hi) * (u - hi)) / 3;
  }
  const double m0 = std::max(a, lo), m1 = std::min(b, hi);
  if (m1 > m0) e += s * s * s * (sawtooth_integral(m1 / s) - sawtooth_integral(m0 / s));
  return e;
}

std::vector<std::string> observer_kinds() { return {"minmax", "ema", "percentile", "mse"}; }

std::unique_ptr<Observer> make_observer(const std::string& kind, bool per_channel, float option) {
  const bool has = !std::isnan(option);
  if (kind == "minmax" || kind == "mse") {
    QSR_CHECK(!has, fmt::format("observer {} takes no option (got {})", kind, option));
    if (kind == "minmax") return std::make_unique<MinMaxObserver>(per_channel, false, 0.f);
    return std::make_unique<HistogramObserver>(per_channel, true, 100.f);
  }
  if (kind == "ema") {
    const float d = has ? option : 0.99f;
    QSR_CHECK(d >= 0 && d < 1, fmt::format("observer ema: decay {} is outside [0, 1)", d));
    return std::make_unique<MinMaxObserver>(per_channel, true, d);
  }
  if (kind == "percentile") {
    const float p = has ? option : 99.99f;
    QSR_CHECK(p > 50 && p <= 100, fmt::format("observer percentile: p = {} is outside (50, 100]", p));
    return std::make_unique<HistogramObserver>(per_channel, false, p);
  }
  std::string valid;
  for (const auto& k : observer_kinds()) valid += (valid.empty() ? "" : ", ") + k;
  throw Error("unknown observer '" + kind + "' (valid: " + valid + ")");
}

}  // namespace qsr::quant
