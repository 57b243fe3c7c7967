// Hardware (F16C) half conversions, for comparison with qsr's software ones.
// Call only when qsr::cpu_features().f16c is true.
#pragma once
#include <cstdint>

namespace qsr_test {
uint16_t f16c_from_f32(float f);  // vcvtps2ph, round to nearest even
float f16c_to_f32(uint16_t h);    // vcvtph2ps
}  // namespace qsr_test
