// The CPU's features and the instruction-set path in use, with the engine's messages: a wrapper
// of engine/cpu_detect.h, the one detection. The path is resolved once (first call to
// active_isa()) from the CPU or from QSR_ISA=scalar|avx2|avx512; a value this build or this
// CPU cannot run is a qsr::Error, never a quiet fallback.
#pragma once
#include <string>
#include <vector>

#include "engine/cpu_detect.h"

namespace qsr {

using CpuFeatures = CpuFlags;
const CpuFeatures& cpu_features();       // detected once
std::string isa_name(Isa isa);           // isa_id(isa)
Isa parse_isa(const std::string& name);  // throws qsr::Error on unknown names
bool isa_compiled(Isa isa);              // the kernels exist in this build
bool isa_supported(Isa isa);             // compiled and the CPU can run them
std::vector<Isa> available_isas();       // compiled and runnable, scalar first
Isa best_isa();
// qsr::Error unless `isa` is compiled and runnable here; the message names the ISA and why.
void check_isa(Isa isa);
Isa active_isa();                        // resolved once; honours QSR_ISA
std::string cpu_report();                // multi-line human summary for `qsr info`

}  // namespace qsr
