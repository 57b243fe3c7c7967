// Built with -mf16c (see CMakeLists.txt); nothing else in the tests is.
#include "tests/f16c_ref.h"

#include <immintrin.h>

namespace qsr_test {
uint16_t f16c_from_f32(float f) { return static_cast<uint16_t>(_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT)); }
float f16c_to_f32(uint16_t h) { return _cvtsh_ss(h); }
}  // namespace qsr_test
