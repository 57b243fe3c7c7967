// Fake quantisation (quantise then dequantise, in f32) as differentiable ops and a
// layer, for quantisation-aware training.
//
// Forward: per element, the spec's code q = clamp(round(x / s) + z, qmin, qmax) (round_value
// with the format's rounding rule) and y = dequantize_value(q, s, z): bit-for-bit
// quant::fake_quantize for half_even and half_away. Per channel along the last axis when the
// parameters have more than one entry.
//
// Backward: straight-through estimator: dL/dx = dL/dy where the unclamped code
// round(x / s) + z lies in [qmin, qmax], else 0.
//
// Implementation: half_even and half_away (and stochastic without an Rng) run vector kernels
// (engine/kernels/fq/fq_kernels.h: scalar, AVX2 and AVX-512 variants of one source, picked at run
// time like the engine's f32 kernels, QSR_ISA honoured) that are bit-for-bit the scalar
// definition above, NaN, infinities and round_value's 2^30 clamp included; the forward keeps
// the straight-through mask as one bit per element for the backward. Stochastic rounding with
// an Rng runs the scalar loop.
//
// Parallelism and stochastic rounding: the elements are cut into fixed blocks of
// kFakeQuantBlock elements (independent of the thread count), the unit of parallel_for work.
// With Rounding::stochastic and an Rng, one 64-bit seed is drawn from the Rng per call; block b
// rounds its elements in order with its own generator Rng(seed ^ (b+1) * 0x9E3779B97F4A7C15)
// (counter-based per block), so results are identical for every thread count. They differ from
// quant::fake_quantize's sequential use of the Rng (the same distribution, other draws). Without
// an Rng, stochastic rounds half to even (the spec's rule).
//
// LSQ (Esser et al. 2020, "Learned Step Size Quantization"): gradient wrt the scale s of a
// channel, with v = x / s and the unclamped code c = round(v) + z:
//     inside [qmin, qmax]: (c - z) - v;   clipped low: qmin - z;   clipped high: qmax - z
// times dL/dy, summed over the channel's elements (in double, over the fixed blocks in order),
// times g = 1 / sqrt(n_per_channel * Qp) with Qp = max(qmax - z, 1) for that channel's zero
// point z: qmax for symmetric formats (z = 0), the count of positive codes above the zero point
// for affine ones.
#pragma once
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/autograd.h"
#include "engine/random.h"
#include "layers/module.h"
#include "quant/observer.h"
#include "quant/spec.h"
#include "engine/kernels/fq/fq_kernels.h"

namespace qsr::quant {

inline constexpr int64_t kFakeQuantBlock = 4096;

// Scales must be finite and positive; p has 1 entry or one per index of x's last axis.
// kernels: the fake-quant table to run (default: the active one, engine/kernels/kernel_set.h).
Var fake_quant(const Var& x, const QFormat& f, const QParams& p, Rng* rng = nullptr, const FqKernels* kernels = nullptr);

// `scale`: f32, shape [1] or [C] (C = x's last dimension), finite and positive;
// zero_point: one per scale entry.
Var fake_quant_lsq(const Var& x, const Var& scale, const QFormat& f, const std::vector<int32_t>& zero_point,
                   Rng* rng = nullptr, const FqKernels* kernels = nullptr);

// LSQ's gradient scale g for a channel of n elements with zero point z (see above).
double lsq_grad_scale(const QFormat& f, int64_t n_per_channel, int32_t zero_point);

// A fake-quant layer. Training: observe x (unless frozen) and fake-quantise it with the
// observer's parameters for the format (or the learnt scale); eval: the current parameters.
//
// learn_scale (symmetric or affine formats only): the scale is a parameter named "scale" of
// shape [1] (per tensor) or [channels] (per channel: pass the channel count, since optimisers
// are built before the first forward). The first training forward observes x and initialises
// the scale and the zero points from the observer's parameters; after that the observer is no
// longer fed, the scale is learnt with fake_quant_lsq and the zero points stay as initialised.
//
// freeze() snapshots the current parameters (when any): a frozen layer neither observes nor
// learns (with learn_scale it fake-quantises with the snapshot, so the scale gets no gradient).
class FakeQuant : public qsr::Module {
 public:
  FakeQuant(QFormat f, std::string observer = "ema", bool learn_scale = false, float observer_option = NAN,
            int64_t channels = 0);
  Var forward(const Var& x) override;
  std::string describe() const override;
  std::vector<std::pair<std::string, Var>> named_parameters() override;  // {"scale", ...} only when learn_scale
  void freeze();
  bool frozen() const { return frozen_; }
  int64_t freeze_after = -1;  // freeze after this many training forwards (-1: never)
  int64_t steps() const { return steps_; }
  // Current parameters: the snapshot, the learnt scale, or the observer's; qsr::Error when none.
  QParams params() const;
  bool has_params() const;
  void set_params(const QParams& p);  // e.g. from a checkpoint; freezes
  const QFormat& format() const { return format_; }
  Observer& observer() { return *observer_; }
  const Observer& observer() const { return *observer_; }
  bool learn_scale() const { return learn_scale_; }
  Rng* rng = nullptr;  // for stochastic rounding

 private:
  QFormat format_;
  std::unique_ptr<Observer> observer_;
  bool learn_scale_;
  bool frozen_ = false;
  bool scale_ready_ = false;  // learn_scale: initialised from the observer or set_params
  int64_t steps_ = 0;
  Var scale_;
  std::vector<int32_t> zero_point_;  // learn_scale's fixed zero points
  bool have_snapshot_ = false;
  QParams snapshot_;
};

}  // namespace qsr::quant
