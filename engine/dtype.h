// Element types a Tensor can hold, with their sizes and names, plus IEEE half
// conversions (storage only: arithmetic on f16 is done in f32).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace qsr {

enum class DType : uint8_t { f32, f16, i8, u8, i16, i32 };

constexpr size_t dtype_size(DType t) {
  switch (t) {
    case DType::f32: return 4;
    case DType::f16: return 2;
    case DType::i8: return 1;
    case DType::u8: return 1;
    case DType::i16: return 2;
    case DType::i32: return 4;
  }
  return 0;
}

constexpr std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "f32";
    case DType::f16: return "f16";
    case DType::i8: return "i8";
    case DType::u8: return "u8";
    case DType::i16: return "i16";
    case DType::i32: return "i32";
  }
  return "?";
}

template <class T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::f32; };
template <> struct dtype_of<int8_t> { static constexpr DType value = DType::i8; };
template <> struct dtype_of<uint8_t> { static constexpr DType value = DType::u8; };
template <> struct dtype_of<int16_t> { static constexpr DType value = DType::i16; };
template <> struct dtype_of<int32_t> { static constexpr DType value = DType::i32; };

// f16 is stored as its raw bit pattern.
struct half_bits { uint16_t bits; };
template <> struct dtype_of<half_bits> { static constexpr DType value = DType::f16; };

// Round-to-nearest-even float -> IEEE binary16 (overflow to inf, NaN kept NaN),
// the same result as F16C's vcvtps2ph with rounding mode 0.
uint16_t f32_to_f16(float f);
float f16_to_f32(uint16_t h);

}  // namespace qsr
