// The one CPU detection and QSR_ISA resolution of the whole program and of the inference-only
// library (quant/infer): plain C++ with no allocation, exceptions or strings, so that both can
// use it. engine/cpu.h wraps it with the engine's error messages and its report.
//
// Instruction sets (engine/isa.h): scalar runs anywhere; avx2 needs AVX2, FMA and F16C; avx512
// needs AVX-512 F, BW, VL, DQ and VNNI (the integer table is built on vpdpwssd / vpdpbusd), plus
// FMA and F16C. Every kernel family has a table for each, so an ISA is runnable for all of them
// or for none.
#pragma once
#include "engine/isa.h"

namespace qsr {

struct CpuFlags {
  char vendor[13] = {};
  char brand[49] = {};
  bool sse42 = false, avx = false, avx2 = false, fma = false, f16c = false, bmi2 = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false, avx512vnni = false,
       avxvnni = false, avx512bf16 = false, avx512fp16 = false;
  bool os_avx = false, os_avx512 = false;  // the OS saves the wider registers (XCR0)
};

// CPUID and XCR0 read now (a feature the OS does not enable reads as absent).
CpuFlags cpu_detect();
// The ISAs in order of preference, widest last.
inline constexpr Isa kAllIsas[] = {Isa::scalar, Isa::avx2, Isa::avx512};
// "scalar", "avx2", "avx512": the names QSR_ISA takes.
const char* isa_id(Isa isa);
// isa_id's inverse; false for any other name.
bool isa_from_id(const char* name, Isa* isa);
// The features an ISA needs, for messages: e.g. "AVX2, FMA and F16C".
const char* isa_needs(Isa isa);
// The CPU can run the ISA's instructions.
bool isa_runnable(Isa isa, const CpuFlags& f);
// This build has the ISA's kernels (-DQSR_SIMD=OFF builds scalar only).
bool isa_built(Isa isa);

enum class IsaStatus { ok, unknown_name, not_built, not_runnable };
// The ISA to use: `requested` (the value of QSR_ISA) when not null or empty, else the widest one
// that is built and runnable. A requested ISA that is unknown, not built or not runnable is an
// error (no fallback): *isa is left unchanged and the status says why.
IsaStatus isa_resolve(const char* requested, const CpuFlags& f, Isa* isa);

}  // namespace qsr
