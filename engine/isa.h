// The instruction-set paths of the kernel tables (engine/cpu.h detects and picks them). A
// header of its own so that the inference-only library (quant/infer) names them without the
// engine's CPU report and its strings.
#pragma once

namespace qsr {

enum class Isa { scalar, avx2, avx512 };

}  // namespace qsr
