#include "quant/spec.h"

#include <fmt/core.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

namespace qsr::quant {

std::string rounding_name(Rounding r) {
  switch (r) {
    case Rounding::half_even: return "half_even";
    case Rounding::half_away: return "half_away";
    case Rounding::stochastic: return "stochastic";
  }
  return "?";
}

Rounding parse_rounding(const std::string& s) {
  if (s == "half_even") return Rounding::half_even;
  if (s == "half_away") return Rounding::half_away;
  if (s == "stochastic") return Rounding::stochastic;
  throw Error("unknown rounding '" + s + "' (half_even, half_away or stochastic)");
}

std::string scheme_name(Scheme s) {
  switch (s) {
    case Scheme::symmetric: return "symmetric";
    case Scheme::affine: return "affine";
    case Scheme::fixed_point: return "fixed_point";
  }
  return "?";
}

Scheme parse_scheme(const std::string& s) {
  if (s == "symmetric") return Scheme::symmetric;
  if (s == "affine") return Scheme::affine;
  if (s == "fixed_point") return Scheme::fixed_point;
  throw Error("unknown quantisation scheme '" + s + "' (symmetric, affine or fixed_point)");
}

int32_t QFormat::qmin() const {
  int32_t lo = is_signed ? -(int32_t(1) << (bits - 1)) : 0;
  return narrow ? lo + 1 : lo;
}

int32_t QFormat::qmax() const { return is_signed ? (int32_t(1) << (bits - 1)) - 1 : (int32_t(1) << bits) - 1; }

void QFormat::validate() const {
  QSR_CHECK(bits >= 2 && bits <= 16, fmt::format("quantisation: {} bits is outside 2..16", bits));
  QSR_CHECK(!(scheme == Scheme::fixed_point && per_channel), "quantisation: a fixed-point format is per tensor");
  QSR_CHECK(!(narrow && !is_signed), "quantisation: narrow range applies to signed formats (an unsigned grid would lose real 0)");
  QSR_CHECK(frac_bits >= -64 && frac_bits <= 64, fmt::format("quantisation: Q format with {} fraction bits", frac_bits));
}

std::string QFormat::describe() const {
  std::string s = fmt::format("{}{}", is_signed ? 's' : 'u', bits);
  if (scheme == Scheme::fixed_point) {
    s += fmt::format(" Q{}.{}", bits - frac_bits, frac_bits);
  } else {
    s += scheme == Scheme::symmetric ? " sym" : " affine";
    if (per_channel) s += " per-channel";
  }
  if (narrow) s += " narrow";
  if (rounding != Rounding::half_even) s += " " + rounding_name(rounding);
  return s;
}

namespace {

// Stochastic rounding here; the deterministic rules are spec_int.h's.
int64_t round_exact(float v, Rounding r, Rng* rng) {
  if (r == Rounding::stochastic && rng && !std::isnan(v)) {
    constexpr float kLim = 1073741824.f;  // 2^30
    v = std::clamp(v, -kLim, kLim);
    const float f = std::floor(v);
    const double d = double(v) - double(f);
    return static_cast<int64_t>(f) + (rng->uniform() < d ? 1 : 0);
  }
  return round_value_det(v, r);
}

}  // namespace

int64_t round_value(float v, Rounding r, Rng* rng) { return round_exact(v, r, rng); }

void choose_params(const QFormat& f, float lo, float hi, float& scale, int32_t& zero_point) {
  f.validate();
  QSR_CHECK(std::isfinite(lo) && std::isfinite(hi), "quantisation: the observed range is not finite");
  QSR_CHECK(lo <= hi, "quantisation: the observed range is empty");
  lo = std::min(lo, 0.f);
  hi = std::max(hi, 0.f);
  const int32_t qmin = f.qmin(), qmax = f.qmax();
  zero_point = 0;
  switch (f.scheme) {
    case Scheme::fixed_point:
      scale = std::ldexp(1.f, -f.frac_bits);
      return;
    case Scheme::symmetric: {
      const float amax = f.is_signed ? std::max(-lo, hi) : hi;
      scale = amax > 0 ? amax / float(qmax) : 1.f;
      return;
    }
    case Scheme::affine: {
      const float span = hi - lo;
      if (!(span > 0)) {
        scale = 1.f;
        zero_point = std::clamp<int32_t>(0, qmin, qmax);
        return;
      }
      scale = span / float(qmax - qmin);
      const int64_t z = round_exact(float(qmin) - lo / scale, Rounding::half_even, nullptr);
      zero_point = static_cast<int32_t>(std::clamp<int64_t>(z, qmin, qmax));
      return;
    }
  }
}

QParams params_from_ranges(const QFormat& f, const std::vector<float>& lo, const std::vector<float>& hi) {
  QSR_CHECK(lo.size() == hi.size() && !lo.empty(), "quantisation: range lists of different or zero length");
  QSR_CHECK(f.per_channel || lo.size() == 1, "quantisation: a per-tensor format takes one range");
  QParams p;
  p.scale.resize(lo.size());
  p.zero_point.resize(lo.size());
  for (size_t i = 0; i < lo.size(); ++i) choose_params(f, lo[i], hi[i], p.scale[i], p.zero_point[i]);
  return p;
}

int fixed_point_frac_bits(int bits, bool is_signed, float amax) {
  QSR_CHECK(std::isfinite(amax) && amax >= 0, "fixed point: the range is not finite");
  const double qmax = is_signed ? std::ldexp(1.0, bits - 1) - 1 : std::ldexp(1.0, bits) - 1;
  if (amax == 0) return bits - (is_signed ? 1 : 0);
  // Largest n with amax <= qmax * 2^-n, i.e. n = floor(log2(qmax / amax)).
  int n = static_cast<int>(std::floor(std::log2(qmax / double(amax))));
  while (double(amax) > qmax * std::ldexp(1.0, -n)) --n;
  while (double(amax) <= qmax * std::ldexp(1.0, -(n + 1))) ++n;
  return std::clamp(n, -64, 64);
}

int32_t quantize_value(float x, float scale, int32_t zero_point, const QFormat& f, Rng* rng) {
  const int64_t q = round_exact(x / scale, f.rounding, rng) + zero_point;
  return static_cast<int32_t>(std::clamp<int64_t>(q, f.qmin(), f.qmax()));
}

DType storage_dtype(const QFormat& f) {
  if (f.bits <= 8) return f.is_signed ? DType::i8 : DType::u8;
  if (f.is_signed || f.bits <= 15) return DType::i16;
  return DType::i32;
}

namespace {

int64_t channels_of(const Tensor& x, const QParams& p) {
  QSR_CHECK(p.size() >= 1 && p.zero_point.size() == p.size(), "quantisation: empty or inconsistent parameters");
  if (p.size() == 1) return 1;
  QSR_CHECK(x.ndim() >= 1 && x.dim(x.ndim() - 1) == int64_t(p.size()),
            fmt::format("quantisation: {} per-channel scales for a tensor of shape {}", p.size(), shape_str(x.shape())));
  return int64_t(p.size());
}

template <class T>
void store_codes(const Tensor& x, const QFormat& f, const QParams& p, Rng* rng, Tensor& q) {
  const int64_t c = channels_of(x, p), n = x.numel();
  const float* src = x.f32();
  T* dst = q.data<T>();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t ch = c == 1 ? 0 : i % c;
    dst[i] = static_cast<T>(quantize_value(src[i], p.scale[ch], p.zero_point[ch], f, rng));
  }
}

template <class T>
void load_codes(const Tensor& q, const QParams& p, Tensor& y) {
  const int64_t c = channels_of(q, p), n = q.numel();
  const T* src = q.data<T>();
  float* dst = y.f32();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t ch = c == 1 ? 0 : i % c;
    dst[i] = dequantize_value(int32_t(src[i]), p.scale[ch], p.zero_point[ch]);
  }
}

}  // namespace

Tensor quantize(const Tensor& x, const QFormat& f, const QParams& p, Rng* rng) {
  f.validate();
  QSR_CHECK(x.dtype() == DType::f32, "quantize: expects an f32 tensor");
  Tensor q = Tensor::empty(x.shape(), storage_dtype(f));
  switch (q.dtype()) {
    case DType::i8: store_codes<int8_t>(x, f, p, rng, q); break;
    case DType::u8: store_codes<uint8_t>(x, f, p, rng, q); break;
    case DType::i16: store_codes<int16_t>(x, f, p, rng, q); break;
    default: store_codes<int32_t>(x, f, p, rng, q); break;
  }
  return q;
}

Tensor dequantize(const Tensor& q, const QParams& p) {
  Tensor y = Tensor::empty(q.shape(), DType::f32);
  switch (q.dtype()) {
    case DType::i8: load_codes<int8_t>(q, p, y); break;
    case DType::u8: load_codes<uint8_t>(q, p, y); break;
    case DType::i16: load_codes<int16_t>(q, p, y); break;
    case DType::i32: load_codes<int32_t>(q, p, y); break;
    default: throw Error("dequantize: expects integer codes (i8, u8, i16 or i32)");
  }
  return y;
}

Tensor fake_quantize(const Tensor& x, const QFormat& f, const QParams& p, Rng* rng) {
  f.validate();
  QSR_CHECK(x.dtype() == DType::f32, "fake_quantize: expects an f32 tensor");
  const int64_t c = channels_of(x, p), n = x.numel();
  Tensor y = Tensor::empty(x.shape(), DType::f32);
  const float* src = x.f32();
  float* dst = y.f32();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t ch = c == 1 ? 0 : i % c;
    dst[i] = dequantize_value(quantize_value(src[i], p.scale[ch], p.zero_point[ch], f, rng), p.scale[ch], p.zero_point[ch]);
  }
  return y;
}

Multiplier quantize_multiplier(double m) {
  QSR_CHECK(std::isfinite(m) && m >= 0, fmt::format("requantisation: multiplier {} is not a finite non-negative number", m));
  Multiplier r;
  if (m == 0) return r;
  int e = 0;
  const double frac = std::frexp(m, &e);  // m = frac * 2^e, frac in [0.5, 1)
  int64_t m0 = std::llround(frac * 2147483648.0);  // frac * 2^31, in [2^30, 2^31]
  if (m0 == (int64_t(1) << 31)) {
    m0 >>= 1;
    ++e;
  }
  r.m0 = static_cast<int32_t>(m0);
  r.shift = 31 - e;
  QSR_CHECK(r.shift >= 1, fmt::format("requantisation: multiplier {} is too large (at least 1 right shift is needed)", m));
  if (r.shift > 100) return Multiplier{};  // every product of a 62-bit accumulator rounds to 0
  return r;
}

double multiplier_value(const Multiplier& m) { return std::ldexp(double(m.m0), -m.shift); }

namespace {
void check_accumulator(int64_t acc) {
  QSR_CHECK(acc > -(int64_t(1) << 62) && acc < (int64_t(1) << 62), "requantisation: accumulator beyond 62 bits");
}
}  // namespace

int64_t rounding_mul_shift(int64_t acc, const Multiplier& m, Rounding r) {
  check_accumulator(acc);
  return mul_shift_round(acc, m, r);
}

int32_t requantize(int64_t acc, const Multiplier& m, int32_t zero_point, int32_t lo, int32_t hi, Rounding r) {
  check_accumulator(acc);
  return requantize_code(acc, m, zero_point, lo, hi, r);
}

int32_t quantize_bias(float b, double s_acc) {
  QSR_CHECK(std::isfinite(b) && s_acc > 0 && std::isfinite(s_acc), "quantize_bias: non-finite bias or scale");
  const double x = double(b) / s_acc, f = std::floor(x), d = x - f;
  const double v = d > 0.5 ? f + 1 : d < 0.5 ? f : (std::fmod(f, 2.0) == 0 ? f : f + 1);  // half to even
  return static_cast<int32_t>(std::clamp<double>(v, std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max()));
}

int accumulator_bits(int64_t k, int64_t cin, int64_t in_span, int64_t w_max, int64_t bias_max) {
  const double worst = double(k) * double(k) * double(cin) * double(in_span) * double(w_max) + double(bias_max);
  int bits = 1;  // sign
  while (std::ldexp(1.0, bits - 1) - 1 < worst) ++bits;
  return bits;
}

uint16_t f32_to_bf16(float x) {
  uint32_t u = std::bit_cast<uint32_t>(x);
  if (std::isnan(x)) return static_cast<uint16_t>((u >> 16) | 0x40);
  u += 0x7FFF + ((u >> 16) & 1);
  return static_cast<uint16_t>(u >> 16);
}

float bf16_to_f32(uint16_t h) { return std::bit_cast<float>(uint32_t(h) << 16); }

Tensor round_to_f16(const Tensor& x) {
  QSR_CHECK(x.dtype() == DType::f32, "round_to_f16: expects an f32 tensor");
  Tensor y = Tensor::empty(x.shape(), DType::f32);
  for (int64_t i = 0; i < x.numel(); ++i) y.f32()[i] = f16_to_f32(f32_to_f16(x.f32()[i]));
  return y;
}

Tensor round_to_bf16(const Tensor& x) {
  QSR_CHECK(x.dtype() == DType::f32, "round_to_bf16: expects an f32 tensor");
  Tensor y = Tensor::empty(x.shape(), DType::f32);
  for (int64_t i = 0; i < x.numel(); ++i) y.f32()[i] = bf16_to_f32(f32_to_bf16(x.f32()[i]));
  return y;
}

}  // namespace qsr::quant
