// CPU feature detection and the instruction-set path in use. The path is
// chosen once (first call to active_isa()), from the CPU's features or from
// the environment variable QSR_ISA=scalar|avx2|avx512.
#pragma once
#include <string>
#include <vector>

#include "engine/isa.h"

namespace qsr {

struct CpuFeatures {
  std::string vendor, brand;
  bool sse42 = false, avx = false, avx2 = false, fma = false, f16c = false, bmi2 = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false, avx512vnni = false,
       avxvnni = false, avx512bf16 = false, avx512fp16 = false;
  bool os_avx = false, os_avx512 = false;  // the OS saves the wider registers (XCR0)
};

const CpuFeatures& cpu_features();
std::string isa_name(Isa isa);
Isa parse_isa(const std::string& name);  // throws qsr::Error on unknown names
bool isa_compiled(Isa isa);              // the kernels exist in this build
bool isa_supported(Isa isa);             // compiled and the CPU can run them
std::vector<Isa> available_isas();       // compiled and runnable, scalar first
Isa best_isa();
Isa active_isa();                        // resolved once; honours QSR_ISA
std::string cpu_report();                // multi-line human summary for `qsr info`

}  // namespace qsr
