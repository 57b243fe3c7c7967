// The native integer engine: a quantised model (quant/ptq/qmodel.h) lowered to integer
// kernels (engine/kernels/int/int_kernels.h) that give exactly the codes of the reference
// execution QuantModel::forward, but run as int16 pair-GEMMs (or u8 quad-GEMMs) with
// int32 accumulation.
//
// Lowering, per conv (QuantModel's own classification):
//   integer  (integer weights, static quantised input and output): the input arrives as
//            int16 codes (or bytes, on the u8 path) in a zero-point-padded buffer; packed
//            int16 weight pairs (or int8 quads); bias and zero-point correction folded into
//            one int32 per channel; fixed-point requantisation (multiplier and shift, the
//            spec's rounding) with the ReLU as a clamp; codes written straight into the next
//            conv's padded buffer. int32 accumulators when the conv's output stage proves
//            they cannot overflow, else int64 (`wide`). The output stage and its bounds are
//            the conv's ConvOutputStage (quant/ptq/output_stage.h), as for the reference.
//   dynamic  (dynamic-range): the f32 input quantised to s8 from its own range per call,
//            the same integer kernels, a float output stage (acc * s_in * s_w + bias).
//   float16  weights packed as IEEE halves, converted with F16C in the conv's inner loop.
//   float    f32 or bf16 weights, or integer weights without integer activations: the f32
//            engine with the effective weights (as the reference).
// The input image is quantised once onto a0's grid; the last conv's codes are moved by
// depth-to-space and dequantised in one pass. Word lengths 2..16 all run on these kernels
// (codes are int16); formats whose codes do not fit int16 (u16 activations) are refused at
// lowering with an error that names the tensor (QuantModel::forward, `--simulate`, still
// runs them).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "engine/kernels/kernel_set.h"
#include "engine/ops.h"
#include "quant/ptq/qmodel.h"

namespace qsr::quant {

enum class LayerPath { integer, dynamic, float16, f32 };
std::string layer_path_name(LayerPath p);

struct IntLayerInfo {
  LayerPath path = LayerPath::f32;
  int k = 1, cin = 1, cout = 1;
  bool wide = false;   // int64 accumulation
  int acc_bits = 0;    // proved bound of the accumulator (sign included; ConvOutputStage::acc_bits); 0 for float paths
  std::string requant; // the requantisation arithmetic chosen (integer layers)
  bool u8 = false;     // the u8 (vpmaddubsw) path, kacc steps summed in int16
  int kacc = 0;
  int64_t split_pairs = 0;  // u8 path: weight pairs split into main + residual (int_kernels.h)
  int64_t split_steps = 0;  // their extra steps, of main_steps per pixel (half-blocks of 8 channels)
  int64_t main_steps = 0;
  bool paired = false;
  bool winograd = false;    // Winograd F(2x2, 3x3) (AVX2 table)      // input channels reordered so that fewer pairs split
  std::string describe() const;  // e.g. "integer s8 x s8 -> int32 (19-bit bound), avx2 vpmaddwd"
};

// Choices of the lowering, passed to the engine (defaults: what the engine picks by itself).
// Tests force paths with them; `qsr` sets conv_algo from QSR_CONV.
struct LowerOptions {
  // Requantisation arithmetic: rq or a more general one (0: as lowering chooses; 1: never the
  // double path; 2: always general 64-bit lanes).
  int min_requant = 0;
  bool allow_u8 = true;        // lowering may choose the u8 path
  bool force_u8 = false;       // ... and takes it wherever it is exact, not only where cheaper
  bool allow_winograd = true;  // lowering may choose Winograd F(2x2, 3x3) (AVX2 table)
  bool force_winograd = false; // ... wherever it is exact, not only where cheaper
  bool allow_pairing = true;   // lowering may reorder channels to pair them for the u8 path
  // direct: never Winograd; winograd: wherever exact (as force_winograd); automatic: by cost.
  ConvAlgo conv_algo = ConvAlgo::automatic;
};

class IntEngine {
 public:
  // Lowers `q` (copied) for a kernel set (default: the active one, kernel_set()); every layer
  // runs on that set's tables (integer, f32 and float16 convs, fake quantisation).
  explicit IntEngine(const QuantModel& q, LowerOptions o = {});
  IntEngine(const QuantModel& q, Isa isa, LowerOptions o = {});
  IntEngine(const QuantModel& q, const KernelSet& set, LowerOptions o = {});  // e.g. kernel_set_w16_emulation()
  ~IntEngine();
  IntEngine(const IntEngine&) = delete;
  IntEngine& operator=(const IntEngine&) = delete;

  // [n, h, w, c] f32 -> [n, h*r, w*r, c], exactly QuantModel::forward for the integer and
  // dynamic-range layers. Thread-safe. layer_seconds (optional): wall time per conv,
  // the input quantisation counted in the first, the output stage in the last.
  Tensor forward(const Tensor& x, std::vector<double>* layer_seconds = nullptr) const;
  const QuantModel& model() const;
  const std::vector<IntLayerInfo>& layers() const;
  const IntKernels& kernels() const;
  const KernelSet& kernel_set() const;
  std::string describe() const;  // one line per conv
  // The lowering as a model file of the inference-only library (quant/infer/infer_format.h,
  // `qsr export --format engine`); qsr::Error naming the conv when one is not on the integer
  // path (dynamic-range, float16 and f32 convs need the engine).
  std::vector<uint8_t> infer_model() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace qsr::quant
