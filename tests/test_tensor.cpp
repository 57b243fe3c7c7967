// Tensor basics (shapes, allocation, alignment, reshape, clone), dtype
// conversions and the IEEE half conversions.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "engine/cpu.h"
#include "engine/dtype.h"
#include "engine/tensor.h"
#include "tests/f16c_ref.h"
#include "tests/test_util.h"

using namespace qsr;
using Catch::Matchers::Contains;

namespace {
constexpr DType kAllDtypes[] = {DType::f32, DType::f16, DType::i8, DType::u8, DType::i16, DType::i32};

float bits_to_f32(uint32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}
uint32_t f32_bits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}
bool f16_is_nan(uint16_t h) { return (h & 0x7c00u) == 0x7c00u && (h & 0x3ffu) != 0; }

template <class T> std::vector<T> convert(std::initializer_list<float> vals, DType dt) {
  Tensor t = Tensor::from({int64_t(vals.size())}, std::span<const float>(vals.begin(), vals.size())).to(dt);
  REQUIRE(t.dtype() == dt);
  const T* p = t.data<T>();
  return std::vector<T>(p, p + t.numel());
}
}  // namespace

TEST_CASE("tensor: shape, numel, dim and nbytes", "[tensor]") {
  Tensor t({2, 3, 4});
  CHECK(t.defined());
  CHECK(t.ndim() == 3);
  CHECK(t.numel() == 24);
  CHECK(t.dim(0) == 2);
  CHECK(t.dim(-1) == 4);
  CHECK(t.dtype() == DType::f32);
  CHECK(t.nbytes() == 96);
  CHECK_THROWS_AS(t.dim(3), Error);
  CHECK_THROWS_AS(t.dim(-4), Error);
  for (DType dt : kAllDtypes) {
    Tensor u({5, 7}, dt);
    CHECK(u.nbytes() == 35 * dtype_size(dt));
  }
  CHECK(shape_numel({}) == 1);
  CHECK(shape_numel({3, 0, 2}) == 0);
  CHECK(shape_str({1, 2, 3}) == "[1, 2, 3]");
  CHECK_THROWS_AS(Tensor({2, -1}), Error);
  CHECK_FALSE(Tensor().defined());
  CHECK(dtype_size(DType::f16) == 2);
  CHECK(dtype_name(DType::u8) == "u8");
}

TEST_CASE("tensor: zero-filled construction for every dtype, including reused blocks", "[tensor]") {
  // Large blocks are recycled by the allocator: dirty one, release it, then
  // ask for the same size again and check that it comes back zeroed.
  for (DType dt : kAllDtypes) {
    INFO("dtype " << dtype_name(dt));
    const int64_t n = (int64_t(1) << 20) / int64_t(dtype_size(dt));
    {
      Tensor dirty = Tensor::empty({n}, dt);
      std::memset(dirty.raw(), 0xAB, dirty.nbytes());
    }
    Tensor z({n}, dt);
    const auto* p = static_cast<const uint8_t*>(z.raw());
    bool all_zero = true;
    for (size_t i = 0; i < z.nbytes(); ++i) all_zero = all_zero && p[i] == 0;
    CHECK(all_zero);
    Tensor small = Tensor::zeros({3, 5}, dt);
    const auto* q = static_cast<const uint8_t*>(small.raw());
    bool small_zero = true;
    for (size_t i = 0; i < small.nbytes(); ++i) small_zero = small_zero && q[i] == 0;
    CHECK(small_zero);
  }
}

TEST_CASE("tensor: empty, zero-sized, full and from", "[tensor]") {
  Tensor e = Tensor::empty({4, 6}, DType::i16);
  CHECK(e.defined());
  CHECK(e.numel() == 24);
  CHECK(e.dtype() == DType::i16);
  Tensor z({0, 3});
  CHECK(z.defined());
  CHECK(z.numel() == 0);
  CHECK(z.clone().numel() == 0);
  Tensor f = Tensor::full({2, 2}, 2.5f);
  for (int i = 0; i < 4; ++i) CHECK(f.f32()[i] == 2.5f);
  std::vector<float> v{1, 2, 3, 4, 5, 6};
  Tensor t = Tensor::from({2, 3}, v);
  CHECK(t.f32()[5] == 6.f);
  CHECK_THROWS_AS(Tensor::from({2, 2}, v), Error);
  CHECK_THROWS_WITH(Tensor::from({2, 2}, v), Contains("6 values"));
  Tensor h = Tensor::full({3}, 1.5f);
  h.zero();
  CHECK(h.f32()[2] == 0.f);
}

TEST_CASE("tensor: typed access checks the dtype", "[tensor]") {
  Tensor t({4}, DType::i8);
  CHECK_NOTHROW(t.data<int8_t>());
  CHECK_THROWS_AS(t.f32(), Error);
  CHECK_THROWS_WITH(t.data<int16_t>(), Contains("i8") && Contains("i16"));
  Tensor u;
  CHECK_THROWS_AS(u.f32(), Error);
}

TEST_CASE("tensor: reshape shares storage and checks the element count", "[tensor]") {
  Tensor t({2, 6});
  for (int i = 0; i < 12; ++i) t.f32()[i] = float(i);
  Tensor r = t.reshape({3, 4});
  CHECK(r.shape() == Shape{3, 4});
  CHECK(r.same_storage(t));
  r.f32()[7] = 100.f;
  CHECK(t.f32()[7] == 100.f);
  CHECK(t.shape() == Shape{2, 6});
  CHECK_THROWS_AS(t.reshape({5, 2}), Error);
  CHECK_THROWS_WITH(t.reshape({5, 2}), Contains("reshape") && Contains("[2, 6]") && Contains("[5, 2]"));
  CHECK_THROWS_AS(t.reshape({-1, 12}), Error);
}

TEST_CASE("tensor: clone is a deep, independent copy", "[tensor]") {
  for (DType dt : kAllDtypes) {
    Tensor t({3, 5}, dt);
    std::memset(t.raw(), 0x11, t.nbytes());
    Tensor c = t.clone();
    CHECK_FALSE(c.same_storage(t));
    CHECK(c.dtype() == dt);
    CHECK(c.shape() == t.shape());
    CHECK(std::memcmp(c.raw(), t.raw(), t.nbytes()) == 0);
    std::memset(c.raw(), 0x22, c.nbytes());
    CHECK(static_cast<const uint8_t*>(t.raw())[0] == 0x11);
  }
}

TEST_CASE("tensor: data is 64-byte aligned for every dtype and size", "[tensor]") {
  for (DType dt : kAllDtypes)
    for (int64_t n : {1, 3, 17, 63, 64, 65, 1000, 100003, 300001}) {
      INFO("dtype " << dtype_name(dt) << " n " << n);
      Tensor a({n}, dt);
      Tensor b = Tensor::empty({n}, dt);
      CHECK(reinterpret_cast<uintptr_t>(a.raw()) % kTensorAlign == 0);
      CHECK(reinterpret_cast<uintptr_t>(b.raw()) % kTensorAlign == 0);
      CHECK(reinterpret_cast<uintptr_t>(a.clone().raw()) % kTensorAlign == 0);
    }
  AlignedBuffer<float> buf(37);
  CHECK(reinterpret_cast<uintptr_t>(buf.data()) % kTensorAlign == 0);
}

TEST_CASE("tensor: conversions to integers round to nearest even and saturate", "[tensor][dtype]") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  CHECK(convert<int8_t>({-200.f, -128.5f, -2.5f, -1.5f, -0.5f, 0.5f, 1.5f, 2.5f, 126.5f, 127.6f, 300.f, nan}, DType::i8) ==
        std::vector<int8_t>{-128, -128, -2, -2, 0, 0, 2, 2, 126, 127, 127, 0});
  CHECK(convert<uint8_t>({-5.f, -0.4f, 0.5f, 1.5f, 254.5f, 255.4f, 255.6f, 1e9f, nan}, DType::u8) ==
        std::vector<uint8_t>{0, 0, 0, 2, 254, 255, 255, 255, 0});
  CHECK(convert<int16_t>({-40000.f, -32768.4f, 32766.5f, 32767.4f, 40000.f, -3.5f}, DType::i16) ==
        std::vector<int16_t>{-32768, -32768, 32766, 32767, 32767, -4});
  CHECK(convert<int32_t>({-3e9f, -2147483648.f, 2147483520.f, 3e9f, 1e30f, -1e30f, 7.5f, nan}, DType::i32) ==
        std::vector<int32_t>{INT32_MIN, INT32_MIN, 2147483520, INT32_MAX, INT32_MAX, INT32_MIN, 8, 0});
}

TEST_CASE("tensor: f32 2^31 saturates to INT32_MAX when converted to i32", "[tensor][dtype]") {
  // 2^31 is the first float above INT32_MAX; it must saturate, not wrap.
  CHECK(convert<int32_t>({2147483648.f}, DType::i32) == std::vector<int32_t>{INT32_MAX});
  CHECK(convert<int32_t>({2147483904.f}, DType::i32) == std::vector<int32_t>{INT32_MAX});
}

TEST_CASE("tensor: conversions from integers and f16 are by value", "[tensor][dtype]") {
  Tensor a({4}, DType::i8);
  int8_t* p = a.data<int8_t>();
  p[0] = -128, p[1] = -1, p[2] = 0, p[3] = 127;
  Tensor f = a.to(DType::f32);
  CHECK(std::vector<float>(f.f32(), f.f32() + 4) == std::vector<float>{-128, -1, 0, 127});
  // i8 -> u8 goes through the value: negatives saturate to 0.
  Tensor u = a.to(DType::u8);
  CHECK(std::vector<uint8_t>(u.data<uint8_t>(), u.data<uint8_t>() + 4) == std::vector<uint8_t>{0, 0, 0, 127});
  Tensor b({2}, DType::i32);
  b.data<int32_t>()[0] = 16777217;  // not representable in f32: rounds to even
  b.data<int32_t>()[1] = -16777219;
  Tensor bf = b.to(DType::f32);
  CHECK(bf.f32()[0] == 16777216.f);
  CHECK(bf.f32()[1] == -16777220.f);
  Tensor c = Tensor::from({3}, std::vector<float>{1.f, 0.1f, 70000.f}).to(DType::f16);
  CHECK(c.data<half_bits>()[0].bits == 0x3c00);
  CHECK(c.data<half_bits>()[1].bits == 0x2e66);
  CHECK(c.data<half_bits>()[2].bits == 0x7c00);
  Tensor cb = c.to(DType::f32);
  CHECK(cb.f32()[1] == 0.0999755859375f);
  CHECK(std::isinf(cb.f32()[2]));
  Tensor ci = c.to(DType::i16);
  CHECK(ci.data<int16_t>()[2] == 32767);
  // Same dtype: a copy.
  Tensor same = c.to(DType::f16);
  CHECK_FALSE(same.same_storage(c));
  // fill converts too.
  Tensor g({2}, DType::u8);
  g.fill(300.f);
  CHECK(g.data<uint8_t>()[1] == 255);
}

TEST_CASE("f16: every bit pattern survives f16 -> f32 -> f16 and NaN stays NaN", "[f16]") {
  int mismatches = 0;
  for (uint32_t h = 0; h < 65536; ++h) {
    const uint16_t hb = static_cast<uint16_t>(h);
    const float f = f16_to_f32(hb);
    const uint16_t back = f32_to_f16(f);
    if (f16_is_nan(hb)) {
      if (!std::isnan(f) || !f16_is_nan(back) || (back & 0x8000u) != (hb & 0x8000u)) ++mismatches;
    } else if (back != hb) {
      ++mismatches;
      if (mismatches < 5) FAIL_CHECK("f16 0x" << std::hex << h << " -> " << f << " -> 0x" << back);
    }
  }
  CHECK(mismatches == 0);
}

TEST_CASE("f16: f32_to_f16 on known values", "[f16]") {
  CHECK(f32_to_f16(0.f) == 0x0000);
  CHECK(f32_to_f16(-0.f) == 0x8000);
  CHECK(f32_to_f16(1.f) == 0x3c00);
  CHECK(f32_to_f16(-2.f) == 0xc000);
  CHECK(f32_to_f16(0.5f) == 0x3800);
  CHECK(f32_to_f16(0.1f) == 0x2e66);
  CHECK(f32_to_f16(65504.f) == 0x7bff);           // largest finite
  CHECK(f32_to_f16(65519.996f) == 0x7bff);        // just below the halfway point to 2^16
  CHECK(f32_to_f16(65520.f) == 0x7c00);           // the halfway point rounds (to even) to inf
  CHECK(f32_to_f16(-65520.f) == 0xfc00);
  CHECK(f32_to_f16(1e10f) == 0x7c00);
  CHECK(f32_to_f16(std::numeric_limits<float>::infinity()) == 0x7c00);
  CHECK(f32_to_f16(-std::numeric_limits<float>::infinity()) == 0xfc00);
  CHECK(f16_is_nan(f32_to_f16(std::numeric_limits<float>::quiet_NaN())));
  CHECK(f16_is_nan(f32_to_f16(bits_to_f32(0x7f800001u))));  // signalling NaN, payload only in low bits
  CHECK(f16_is_nan(f32_to_f16(bits_to_f32(0xffc00000u))));
  CHECK(f32_to_f16(std::ldexp(1.f, -14)) == 0x0400);  // smallest normal
  CHECK(f32_to_f16(std::ldexp(1.f, -24)) == 0x0001);  // smallest subnormal
  CHECK(f32_to_f16(-std::ldexp(1.f, -24)) == 0x8001);
  CHECK(f32_to_f16(std::ldexp(1.f, -25)) == 0x0000);                 // tie between 0 and 1 ulp: even (0)
  CHECK(f32_to_f16(-std::ldexp(1.f, -25)) == 0x8000);
  CHECK(f32_to_f16(std::nextafter(std::ldexp(1.f, -25), 1.f)) == 0x0001);  // just above the tie
  CHECK(f32_to_f16(3 * std::ldexp(1.f, -25)) == 0x0002);             // 1.5 ulp: tie, to even (2)
  CHECK(f32_to_f16(5 * std::ldexp(1.f, -25)) == 0x0002);             // 2.5 ulp: tie, to even (2)
  CHECK(f32_to_f16(std::ldexp(1023.f, -24)) == 0x03ff);              // largest subnormal
  CHECK(f32_to_f16(std::ldexp(1023.5f, -24)) == 0x0400);             // rounds up into the normals
  CHECK(f32_to_f16(1.f + std::ldexp(1.f, -11)) == 0x3c00);           // tie: to even
  CHECK(f32_to_f16(1.f + 3 * std::ldexp(1.f, -11)) == 0x3c02);       // tie: to even (up)
  CHECK(f32_to_f16(std::ldexp(1.f, -30)) == 0x0000);
  CHECK(f16_to_f32(0x0001) == std::ldexp(1.f, -24));
  CHECK(f16_to_f32(0x03ff) == std::ldexp(1023.f, -24));
  CHECK(f16_to_f32(0x7bff) == 65504.f);
  CHECK(f16_to_f32(0x3555) == 0.333251953125f);
  CHECK(f32_bits(f16_to_f32(0x8000)) == 0x80000000u);
  CHECK(std::isinf(f16_to_f32(0xfc00)));
  CHECK(f16_to_f32(0xfc00) < 0);
}

TEST_CASE("f16: software conversions agree with F16C", "[f16]") {
  if (!cpu_features().f16c) {
    WARN("this CPU has no F16C: hardware comparison skipped");
    return;
  }
  // Every half to float, bit for bit (NaN: NaN-ness and sign).
  for (uint32_t h = 0; h < 65536; ++h) {
    const uint16_t hb = static_cast<uint16_t>(h);
    const float hw = qsr_test::f16c_to_f32(hb), sw = f16_to_f32(hb);
    if (f16_is_nan(hb)) {
      REQUIRE(std::isnan(sw));
      REQUIRE(std::signbit(sw) == std::signbit(hw));
    } else {
      INFO("half 0x" << std::hex << h);
      REQUIRE(f32_bits(hw) == f32_bits(sw));
    }
  }
  // Random floats: raw bit patterns (all exponents) and values near the f16 range.
  qsr::Rng rng(qsr_test::base_seed());
  INFO("seed " << qsr_test::base_seed());
  const int n = qsr_test::kSmall ? 200000 : 2000000;
  int mismatches = 0;
  for (int i = 0; i < n; ++i) {
    float f;
    switch (i % 4) {
      case 0: f = bits_to_f32(static_cast<uint32_t>(rng.next_u64())); break;
      case 1: f = rng.uniform(-70000.f, 70000.f); break;
      case 2: f = std::ldexp(rng.uniform(-1.f, 1.f), int(rng.below(40)) - 30); break;
      default: {  // exponents around the f16 range, random mantissas: many ties and near-ties
        uint32_t e = 100 + uint32_t(rng.below(45));
        uint32_t m = static_cast<uint32_t>(rng.next_u64()) & 0x7fffffu;
        if (rng.below(2)) m &= ~0xfffu;  // low bits cleared: exact ties more likely
        f = bits_to_f32((uint32_t(rng.below(2)) << 31) | (e << 23) | m);
      }
    }
    const uint16_t hw = qsr_test::f16c_from_f32(f), sw = f32_to_f16(f);
    const bool ok = std::isnan(f) ? (f16_is_nan(sw) && (sw & 0x8000u) == (hw & 0x8000u)) : hw == sw;
    if (!ok && ++mismatches < 5)
      FAIL_CHECK("float bits 0x" << std::hex << f32_bits(f) << ": F16C 0x" << hw << ", qsr 0x" << sw);
  }
  CHECK(mismatches == 0);
}
