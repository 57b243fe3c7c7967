// Observers: running statistics of a tensor (activations or weights) from which
// quantisation parameters are chosen, per tensor or per channel (channel = the
// last axis; every other axis is reduced). All are deterministic: their state
// after a sequence of observe() calls does not depend on the thread count.
//
//   minmax      running min / max of everything observed.
//   ema         moving-average min-max (TF's MovingAverageQuantize): the first batch sets
//               [lo, hi], then lo = d*lo + (1-d)*batch_min, hi = d*hi + (1-d)*batch_max,
//               decay d = option (default 0.99, in [0, 1)).
//   percentile  [lo, hi] = the (100-p)-th and p-th percentiles of every value observed,
//               p = option (default 99.99, in (50, 100]), read off a histogram (linear within
//               a bin) and clamped to the observed min / max.
//   mse         the clip range whose quantisation grid minimises the expected squared error
//               of the observed values (histogram, values uniform within a bin, exact error
//               integral of the rounding sawtooth and of the clipped tails) for the format
//               asked for: params(f) and clip_range(f) depend on f. range() is the observed
//               min / max. Fixed-point formats take choose_params' scale 2^-frac_bits.
//
// Histograms (percentile, mse): kHistBins bins per tensor or kHistBinsPerChannel per channel,
// spanning the observed range. When a batch falls outside, the bin width grows by a power of
// two and the origin moves by whole new bins, so old bins merge exactly into new ones (counts
// are never split or interpolated). Counts are exact integers, summed over fixed blocks.
//
// Non-finite input values are a qsr::Error (a diverging training run is reported, not hidden
// in the ranges).
#pragma once
#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"
#include "quant/spec.h"

namespace qsr::quant {

class Observer {
 public:
  virtual ~Observer() = default;
  virtual void observe(const Tensor& x) = 0;
  virtual bool empty() const = 0;  // nothing observed yet
  // lo / hi per channel (size 1 when per tensor). qsr::Error if empty.
  virtual std::pair<std::vector<float>, std::vector<float>> range() const = 0;
  // Parameters for format f: params_from_ranges(f, range()) unless overridden (mse).
  // A per-channel observer of more than one channel needs a per-channel format and a
  // per-tensor observer a per-tensor one (qsr::Error otherwise).
  virtual QParams params(const QFormat& f) const;
  virtual std::string name() const = 0;
  bool per_channel() const { return per_channel_; }
  int64_t channels() const { return channels_; }  // 0 until the first observation

 protected:
  explicit Observer(bool per_channel) : per_channel_(per_channel) {}
  // Checks x (f32, and for per-channel observers the same last dimension as before) and
  // returns its channel count (1 when per tensor).
  int64_t check_input(const Tensor& x);
  // check_input, then the batch's per-channel range into lo / hi and channels_ set; false (and
  // nothing changed) for an empty batch.
  bool batch_range(const Tensor& x, std::vector<float>& lo, std::vector<float>& hi);
  void check_format(const QFormat& f) const;
  void check_not_empty() const;

  bool per_channel_;
  int64_t channels_ = 0;
};

// Per-channel min / max of x viewed as [numel / c, c] (c = 1: the whole tensor), computed
// over fixed blocks in parallel. qsr::Error on a non-finite value.
void tensor_min_max(const Tensor& x, int64_t c, std::vector<float>& lo, std::vector<float>& hi);

// The mse observer's extra: the chosen clip range for format f.
class MseObserverBase : public Observer {
 public:
  virtual std::pair<std::vector<float>, std::vector<float>> clip_range(const QFormat& f) const = 0;

 protected:
  using Observer::Observer;
};

inline constexpr int kHistBins = 2048;
inline constexpr int kHistBinsPerChannel = 512;

// kind: minmax | ema | percentile | mse; option: ema's decay or percentile's p (NaN: default;
// minmax and mse take none). Unknown kinds and bad options: qsr::Error.
std::unique_ptr<Observer> make_observer(const std::string& kind, bool per_channel, float option = NAN);
std::vector<std::string> observer_kinds();

// Expected squared error of quantising u ~ uniform[a, b] (a < b) with scale s and grid
// codes [qlo, qhi] relative to the zero point (real grid points k*s, k in [qlo, qhi]),
// times (b - a): the integral of the squared error over [a, b]. Exposed for tests.
double quant_error_integral(double a, double b, double s, double qlo, double qhi);

}  // namespace qsr::quant
