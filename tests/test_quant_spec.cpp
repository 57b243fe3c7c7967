// The quantisation specification (quant/spec.h): integer grids, rounding rules,
// parameter choice, (de)quantisation, requantisation and float storage types.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>

#include "quant/spec.h"
#include "test_util.h"

using namespace qsr;
using namespace qsr::quant;

namespace {
QFormat fmt_of(int bits, bool is_signed, Scheme s = Scheme::symmetric, bool narrow = false) {
  QFormat f;
  f.bits = bits;
  f.is_signed = is_signed;
  f.scheme = s;
  f.narrow = narrow;
  return f;
}
}  // namespace

TEST_CASE("quant spec: integer grids for 2..16 bits", "[quant]") {
  for (int b = 2; b <= 16; ++b) {
    CHECK(fmt_of(b, true).qmin() == -(1 << (b - 1)));
    CHECK(fmt_of(b, true).qmax() == (1 << (b - 1)) - 1);
    CHECK(fmt_of(b, true, Scheme::symmetric, true).qmin() == -(1 << (b - 1)) + 1);
    CHECK(fmt_of(b, false).qmin() == 0);
    CHECK(fmt_of(b, false).qmax() == (1 << b) - 1);
  }
  CHECK(storage_dtype(fmt_of(8, true)) == DType::i8);
  CHECK(storage_dtype(fmt_of(8, false)) == DType::u8);
  CHECK(storage_dtype(fmt_of(4, true)) == DType::i8);
  CHECK(storage_dtype(fmt_of(9, true)) == DType::i16);
  CHECK(storage_dtype(fmt_of(16, true)) == DType::i16);
  CHECK(storage_dtype(fmt_of(15, false)) == DType::i16);
  CHECK(storage_dtype(fmt_of(16, false)) == DType::i32);
  CHECK_THROWS_WITH(fmt_of(1, true).validate(), Catch::Contains("1 bits"));
  CHECK_THROWS_WITH(fmt_of(17, true).validate(), Catch::Contains("17 bits"));
  CHECK_THROWS_WITH(fmt_of(8, false, Scheme::symmetric, true).validate(), Catch::Contains("narrow range applies to signed"));
  CHECK(parse_rounding("half_away") == Rounding::half_away);
  CHECK_THROWS_WITH(parse_rounding("up"), Catch::Contains("unknown rounding 'up'"));
  CHECK(parse_scheme("affine") == Scheme::affine);
  CHECK(fmt_of(8, true).describe() == "s8 sym");
}

TEST_CASE("quant spec: rounding rules", "[quant]") {
  // -0.49999997 and -0.50000006: v - floor(v) is not exact in single precision for v in (-1, 0).
  const float v[] = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 0.49999997f, -0.49999997f, -0.50000006f, 1.25f, -1.75f, 3.f, -7.f};
  const int64_t even[] = {0, 2, 2, 0, -2, -2, 0, 0, -1, 1, -2, 3, -7};
  const int64_t away[] = {1, 2, 3, -1, -2, -3, 0, 0, -1, 1, -2, 3, -7};
  for (size_t i = 0; i < std::size(v); ++i) {
    CHECK(round_value(v[i], Rounding::half_even) == even[i]);
    CHECK(round_value(v[i], Rounding::half_away) == away[i]);
    CHECK(round_value(v[i], Rounding::stochastic) == even[i]);  // no generator: half_even
  }
  CHECK(round_value(1e30f, Rounding::half_even) == (int64_t(1) << 30));
  CHECK(round_value(-INFINITY, Rounding::half_even) == -(int64_t(1) << 30));
  // Stochastic rounding is unbiased: E[round(v)] = v.
  Rng rng(qsr_test::base_seed());
  double sum = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    int64_t r = round_value(2.25f, Rounding::stochastic, &rng);
    REQUIRE((r == 2 || r == 3));
    sum += double(r);
  }
  CHECK(sum / n == Approx(2.25).margin(0.02));
}

TEST_CASE("quant spec: parameters from a range; real zero is exact", "[quant]") {
  float s;
  int32_t z;
  choose_params(fmt_of(8, true), -1.f, 0.5f, s, z);
  CHECK(s == Approx(1.0 / 127));
  CHECK(z == 0);
  choose_params(fmt_of(8, false), 0.f, 3.f, s, z);
  CHECK(s == Approx(3.0 / 255));
  CHECK(z == 0);
  choose_params(fmt_of(8, false, Scheme::affine), -1.f, 3.f, s, z);
  CHECK(s == Approx(4.0 / 255));
  CHECK(z == 64);  // round(1 / (4/255)) = round(63.75)
  CHECK(dequantize_value(z, s, z) == 0.f);
  choose_params(fmt_of(8, true, Scheme::affine), 2.f, 3.f, s, z);  // widened to [0, 3]
  CHECK(z == -128);
  CHECK(quantize_value(0.f, s, z, fmt_of(8, true, Scheme::affine)) == -128);
  choose_params(fmt_of(8, true, Scheme::affine), 0.f, 0.f, s, z);
  CHECK(s == 1.f);
  CHECK_THROWS_WITH(choose_params(fmt_of(8, true), NAN, 1.f, s, z), Catch::Contains("not finite"));
  // Fixed point: the largest n whose grid covers the range.
  CHECK(fixed_point_frac_bits(8, true, 1.f) == 6);    // 127/64 >= 1 > 127/128
  CHECK(fixed_point_frac_bits(8, true, 0.99f) == 7);
  CHECK(fixed_point_frac_bits(8, false, 1.f) == 7);   // 255/128
  CHECK(fixed_point_frac_bits(16, true, 200.f) == 7); // 32767/128 = 255.99
  QFormat q = fmt_of(8, true, Scheme::fixed_point);
  q.frac_bits = 6;
  choose_params(q, -5.f, 5.f, s, z);
  CHECK(s == 1.f / 64);
  CHECK(q.describe() == "s8 Q2.6");
}

TEST_CASE("quant spec: quantise / dequantise, per tensor and per channel", "[quant]") {
  Rng rng(qsr_test::base_seed() + 1);
  for (int bits : {2, 3, 4, 6, 8, 10, 12, 16}) {
    for (Scheme sc : {Scheme::symmetric, Scheme::affine}) {
      QFormat f = fmt_of(bits, true, sc);
      f.per_channel = true;
      Tensor x({3, 2, 5});
      for (int64_t i = 0; i < x.numel(); ++i) x.f32()[i] = rng.uniform(-2.f, 1.f) * float(1 + i % 5);
      std::vector<float> lo(5), hi(5);
      for (int c = 0; c < 5; ++c) {
        lo[c] = -2.f * (1 + c);
        hi[c] = 1.f * (1 + c);
      }
      QParams p = params_from_ranges(f, lo, hi);
      Tensor q = quantize(x, f, p);
      CHECK(q.dtype() == storage_dtype(f));
      Tensor y = dequantize(q, p);
      Tensor fq = fake_quantize(x, f, p);
      for (int64_t i = 0; i < x.numel(); ++i) {
        const int c = int(i % 5);
        CHECK(std::abs(y.f32()[i] - x.f32()[i]) <= p.scale[c] * 0.5f * (1 + 1e-5f));
        CHECK(fq.f32()[i] == y.f32()[i]);
      }
    }
  }
  // Saturation.
  QFormat f = fmt_of(4, true);
  CHECK(quantize_value(100.f, 0.1f, 0, f) == 7);
  CHECK(quantize_value(-100.f, 0.1f, 0, f) == -8);
  f.narrow = true;
  CHECK(quantize_value(-100.f, 0.1f, 0, f) == -7);
  // Mismatched per-channel parameters.
  QFormat pc = fmt_of(8, true);
  pc.per_channel = true;
  QParams p3 = params_from_ranges(pc, {-1, -1, -1}, {1, 1, 1});
  CHECK_THROWS_WITH(quantize(Tensor({2, 4}), pc, p3), Catch::Contains("3 per-channel scales"));
}

TEST_CASE("quant spec: requantisation is exact integer arithmetic", "[quant]") {
  Rng rng(qsr_test::base_seed() + 2);
  for (int i = 0; i < 2000; ++i) {
    const double m = std::ldexp(0.5 + 0.5 * rng.uniform(), -int(rng.below(40)));
    Multiplier q = quantize_multiplier(m);
    REQUIRE(q.m0 >= (1 << 30));
    CHECK(std::abs(multiplier_value(q) - m) <= m * std::ldexp(1.0, -30));
    int64_t acc = int64_t(rng.below(uint64_t(1) << 32)) - (int64_t(1) << 31);
    if (i % 4 == 0) {  // an exact tie: acc * m0 / 2^shift = (2k + 1) / 2
      q.m0 = int32_t(1) << 30;
      q.shift = 31 + int(rng.below(10));
      acc = (2 * int64_t(rng.below(1000)) + 1) << (q.shift - 31);
      if (i % 8 == 0) acc = -acc;
    }
    // Independent evaluation: the exact product in long double (64-bit mantissa), scaled by
    // a power of two, then rounded by the C library.
    const long double exact = std::ldexp((long double)acc * (long double)q.m0, -q.shift);  // < 2^63: exact
    const long double fl = std::floor(exact), d = exact - fl;
    const int64_t want_even = int64_t(d > 0.5L ? fl + 1 : d < 0.5L ? fl : (std::fmod(fl, 2.0L) == 0 ? fl : fl + 1));
    const int64_t want_away = int64_t(std::round(exact));
    CHECK(rounding_mul_shift(acc, q, Rounding::half_even) == want_even);
    CHECK(rounding_mul_shift(acc, q, Rounding::half_away) == want_away);
    // Accumulators wider than 32 bits (int16 x int16 layers): acc * 2^20 with 20 more bits of
    // shift is the same real number, so the same result.
    if (q.shift + 20 <= 100) {
      Multiplier wide = q;
      wide.shift += 20;
      CHECK(rounding_mul_shift(acc * (int64_t(1) << 20), wide, Rounding::half_even) == want_even);
      CHECK(rounding_mul_shift(acc * (int64_t(1) << 20), wide, Rounding::half_away) == want_away);
    }
  }
  Multiplier half = quantize_multiplier(0.5);
  CHECK(rounding_mul_shift(3, half, Rounding::half_even) == 2);    // 1.5
  CHECK(rounding_mul_shift(5, half, Rounding::half_even) == 2);    // 2.5
  CHECK(rounding_mul_shift(-5, half, Rounding::half_even) == -2);
  CHECK(rounding_mul_shift(-5, half, Rounding::half_away) == -3);
  CHECK(requantize(1000, half, 10, 0, 255, Rounding::half_even) == 255);
  CHECK(requantize(-1000, half, 10, 10, 255, Rounding::half_even) == 10);  // fused ReLU: lo = zero point
  CHECK(quantize_multiplier(0).m0 == 0);
  CHECK(rounding_mul_shift(12345, quantize_multiplier(0), Rounding::half_even) == 0);
  CHECK(rounding_mul_shift(-(int64_t(1) << 31), quantize_multiplier(std::ldexp(1.0, -70)), Rounding::half_even) == 0);
  CHECK(rounding_mul_shift(int64_t(1) << 50, quantize_multiplier(std::ldexp(1.0, -45)), Rounding::half_even) == 32);
  CHECK_THROWS_WITH(rounding_mul_shift(int64_t(1) << 62, half, Rounding::half_even), Catch::Contains("62 bits"));
  CHECK_THROWS_WITH(quantize_multiplier(-1), Catch::Contains("not a finite non-negative"));
  CHECK_THROWS_WITH(quantize_multiplier(std::ldexp(1.0, 40)), Catch::Contains("too large"));
  CHECK(quantize_bias(2.5f, 1.0) == 2);
  CHECK(quantize_bias(3.5f, 1.0) == 4);
  CHECK(quantize_bias(-2.5f, 1.0) == -2);
  CHECK(quantize_bias(1e20f, 1.0) == INT32_MAX);
}

TEST_CASE("quant spec: accumulator width", "[quant]") {
  // ESPCN conv2 (3x3, 64 in) with u8 activations and s8 weights: 576 * 255 * 127 = 18.6M -> 26 bits.
  CHECK(accumulator_bits(3, 64, 255, 127, 0) == 26);
  // int16 x int16 needs more than 32 bits.
  CHECK(accumulator_bits(3, 64, 65535, 32767, 0) > 32);
  CHECK(accumulator_bits(1, 1, 1, 1, 0) == 2);
}

TEST_CASE("quant spec: float16 and bfloat16 weight storage", "[quant]") {
  CHECK(bf16_to_f32(f32_to_bf16(1.f)) == 1.f);
  CHECK(bf16_to_f32(f32_to_bf16(1.f + std::ldexp(1.f, -8))) == 1.f);  // tie -> even
  CHECK(bf16_to_f32(f32_to_bf16(1.f + 3 * std::ldexp(1.f, -8))) == 1.f + std::ldexp(1.f, -6));
  CHECK(std::isnan(bf16_to_f32(f32_to_bf16(NAN))));
  Tensor x = Tensor::from({3}, std::vector<float>{0.1f, -3.3f, 65504.f});
  Tensor h = round_to_f16(x), b = round_to_bf16(x);
  CHECK(h.f32()[0] == Approx(0.1f).epsilon(1e-3));
  CHECK(h.f32()[0] != 0.1f);
  CHECK(h.f32()[2] == 65504.f);
  CHECK(b.f32()[1] == Approx(-3.3f).epsilon(1e-2));
}
