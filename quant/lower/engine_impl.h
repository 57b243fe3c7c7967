// The integer engine's insides (int_engine.h), shared by the files of quant/lower:
//   weight_pack.h          packing codes into the kernels' layouts, the u8 path's pairs
//   channel_pairing.cpp    the order of a u8 conv's input channels (fewer split pairs)
//   lower_conv.cpp         per conv: weights, output stage (quant/ptq/output_stage.h), int32 or
//                          int64 accumulators and the requantisation arithmetic
//   lower_u8.cpp           the u8 path (vpmaddubsw quads, split pairs)
//   lower_winograd.cpp     Winograd F(2x2, 3x3) on the AVX2 table
//   int_engine.cpp         the engine object: lowering every conv, describe
//   forward.cpp            the run-time buffers and IntEngine::forward
//   engine_format.cpp      the lowering written for the inference library (IntEngine::infer_model)
#pragma once
#include <cstddef>
#include <mutex>
#include <new>
#include <vector>

#include "quant/lower/code_buf.h"
#include "quant/lower/int_engine.h"
#include "quant/ptq/output_stage.h"

namespace qsr::quant {

// Packed weights start on a cache line, so that no vector load of them splits across two.
template <class T>
struct LineAlloc {
  using value_type = T;
  LineAlloc() = default;
  template <class U>
  LineAlloc(const LineAlloc<U>&) {}
  T* allocate(size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(64))); }
  void deallocate(T* p, size_t) { ::operator delete(p, std::align_val_t(64)); }
  template <class U>
  bool operator==(const LineAlloc<U>&) const { return true; }
};
template <class T>
using PackVec = std::vector<T, LineAlloc<T>>;

// One conv as lowered: what the kernels read (int_kernels.h names the fields), per channel in
// the buffer's order (lower() may reorder channels for the u8 path), padded to whole blocks.
struct LoweredConv {
  LayerPath path = LayerPath::f32;
  int k = 1, cin = 1, cout = 1, cs = 1, T = 1, pad = 0;
  Activation act = Activation::none;
  int nvec = 0, tail = 0, ndot = 0, dotlen = 0;
  PackVec<int16_t> wpack, wdot;
  std::vector<int64_t> wsum;  // sum of the weight codes per channel (zero-point correction)
  std::vector<int32_t> beff, m0_32;
  std::vector<int64_t> beff64;  // wide layers
  std::vector<int64_t> m0, shift, bshift, half;
  std::vector<double> mscale;
  int rq = 2;
  // The u8 path (int_kernels.h)
  bool u8 = false;
  int cs8 = 1, T4 = 1, kacc = 1, dotlen8 = 0;
  PackVec<int8_t> wpack8, wdot8;
  std::vector<int32_t> beff8;
  std::vector<int32_t> xbeg, xky, xt;  // split pairs (int_kernels.h)
  double u8_cost = 0;                  // the u8 path's instruction count (lower_u8)
  bool wino = false;                   // Winograd F(2x2, 3x3) (int_kernels.h)
  PackVec<int16_t> wino_u;
  PackVec<int8_t> xw, wdot8x;
  std::vector<double> sw;      // weight scale per channel (dynamic)
  std::vector<float> fbias;    // float bias, padded (dynamic)
  bool wide = false;
  int chunk = 0;
  int32_t zo = 0, lo = 0, hi = 0;
  bool away = false;
  ConvOutputStage stage;       // integer and dynamic convs: the output stage, in the model's channel order
  Tensor kernel, bias;         // float layers: the effective weights
  std::vector<uint16_t> wf16;  // float16 layers: packed halves
  IntLayerInfo info;
};

// What an IntEngine holds (IntEngine::Impl is this; the run, forward.cpp, takes it as such).
struct IntEngineState {
  QuantModel q;
  const KernelSet* S = nullptr;
  const IntKernels* K = nullptr;  // S->ints
  LowerOptions opt;
  std::vector<LoweredConv> layers;
  std::vector<IntLayerInfo> infos;
  // The workspace of forward(), kept between calls (no page faults on every frame); forward
  // holds the lock while it runs.
  mutable std::mutex mu;
  mutable CodeBuf bufs[2];
  mutable std::vector<Tensor> fbufs;  // per conv: a dynamic-range conv's f32 output

  void lower();  // every conv (int_engine.cpp)
};

struct IntEngine::Impl : IntEngineState {};

// The lowering of one conv, and its parts (the files above).
namespace lowering {

// Conv i on the integer or dynamic-range path. in_order / out_order: the buffer order of the
// input / output channels (empty: as in the model; choose_channel_orders).
void lower_integer(const QuantModel& q, size_t i, LoweredConv& L, const std::vector<int>& in_order,
                   const std::vector<int>& out_order, const IntKernels& K, const LowerOptions& opt);
// The u8 path where it is exact and cheaper (or forced); L packed, its beff64 and wsum set.
void try_u8(LoweredConv& L, const std::vector<int32_t>& w, const QFormat& in, const IntKernels& K, const LowerOptions& opt);
// Winograd F(2x2, 3x3) where it is exact and cheaper (or forced).
void try_wino(LoweredConv& L, const std::vector<int32_t>& w, const QFormat& in, const IntKernels& K, const LowerOptions& opt);
// Per conv, the buffer order of its input channels (empty: the model's), chosen for the u8
// path's pairs; index n (the model output) is always empty.
std::vector<std::vector<int>> choose_channel_orders(const QuantModel& q, const IntKernels& K, const LowerOptions& opt);

}  // namespace lowering

}  // namespace qsr::quant
