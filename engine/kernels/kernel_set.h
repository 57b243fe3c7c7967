// The one kernel dispatch: every kernel family's table for an instruction set, bound together.
// Each family keeps its list and per-ISA files in its own folder:
//   f32/ float convolution, ReLU, depth-to-space, Winograd transforms (f32_list.inc, f32_kernels.h)
//   fq/  fake quantisation forward and straight-through mask (fq_kernels.h)
//   int/ the integer engine's kernels (int_kernels.h; also built alone for quant/infer)
// A KernelSet is what an engine is built for: IntEngine(q, set) runs its integer, float16 and
// fake-quant layers on the set's tables, so an engine built for an ISA runs nothing else. The
// active set (kernel_set()) follows active_isa(): the CPU's best, or QSR_ISA.
// A new family adds a table pointer here, a folder with its list and one file per ISA.
#pragma once
#include "engine/cpu.h"
#include "engine/kernels/f32/f32_kernels.h"
#include "engine/kernels/fq/fq_kernels.h"
#include "engine/kernels/int/int_kernels.h"

namespace qsr {

struct KernelSet {
  Isa isa;                        // the instruction set the integer lowering targets
  const char* name;               // e.g. "avx512-vnni", "scalar (lowered for avx2)"
  const F32Kernels* f32;
  const quant::FqKernels* fq;
  const quant::IntKernels* ints;
};

// The set of an instruction set; qsr::Error (naming it and why) when it is not compiled or the
// CPU cannot run it.
const KernelSet& kernel_set(Isa isa);
// The active instruction set's (active_isa()).
const KernelSet& kernel_set();
// Tests: the AVX-512 table's 16-lane integer logic emulated on AVX2 halves (int_w16.cpp), with
// the AVX2 f32 and fake-quant tables; isa says avx512 (lowering makes the VNNI table's choices).
// qsr::Error without AVX2.
const KernelSet& kernel_set_w16_emulation();
// Lowering for `isa`'s layouts on any CPU (IntEngine::infer_model for another machine): every
// table is the scalar one, which computes every layout exactly.
const KernelSet& kernel_set_lowering(Isa isa);

}  // namespace qsr
