// Quantised ESPCN models: post-training quantisation in every mode TFLite
// names (and any word length), calibration, the reference execution that
// defines their numbers, and their checkpoint files.
//
// A QuantModel keeps, per conv, how its weights are stored (f32, f16, bf16 or
// integer codes with per-channel or per-tensor scales) and, per activation
// tensor (a0 = the model input, a_i = the output of conv i after its
// activation), whether the tensor lives on an integer grid. Execution
// (QuantModel::forward) per conv i:
//   * integer weights, a_{i-1} and a_i quantised (static), ReLU or no
//     activation: the integer path -- input codes, int64 accumulation of
//     (code - zero point) x weight code, int32 bias, requantisation by the
//     multiplier s_in * s_w[c] / s_out with the spec's rounding, ReLU as the
//     clamp at the output zero point (quant/spec.h). This is the arithmetic the
//     integer engine reproduces bit for bit.
//   * integer weights and a dynamic a_{i-1} (dynamic-range mode): the input is
//     quantised to s8 affine from its own range at run time, integer
//     accumulation, then float out = acc * s_in * s_w[c] + bias, float activation.
//   * otherwise the float path: the effective float weights (dequantised codes,
//     or f16/bf16-rounded values) in the f32 engine, then, when a_i is
//     quantised, fake quantisation onto a_i's grid.
// Depth-to-space moves values without changing them, so a quantised last
// activation is also the model's quantised output.
#pragma once
#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "engine/kernels/f32/f32_kernels.h"
#include "engine/ops.h"
#include "engine/tensor.h"
#include "models/espcn.h"
#include "quant/spec.h"

namespace qsr::quant {

enum class WeightKind { f32, f16, bf16, integer };
std::string weight_kind_name(WeightKind k);

struct WeightQuant {
  WeightKind kind = WeightKind::f32;
  QFormat fmt;     // integer only
  QParams params;  // integer only: one entry per output channel, or one
  Tensor codes;    // integer: codes in storage_dtype(fmt), HWIO; empty otherwise
};

struct ActQuant {
  bool on = false;
  bool dynamic = false;  // quantised from its own range at run time (dynamic-range mode)
  QFormat fmt;
  QParams params;        // per tensor; set by calibration (static only)
};

// What `qsr quantize --mode` asks for.
struct QuantRequest {
  std::string mode = "int8";      // float16 | bfloat16 | dynamic-range | int8 | int16x8 | wNaM | wN | aM | qM.N
                                  // | wW1.W2...aA0.A1... (mixed precision: per conv, per activation tensor)
  std::vector<int> layers;        // 0-based conv indices to quantise; empty: all
  bool per_channel = true;        // weights: one scale per output channel
  Rounding rounding = Rounding::half_even;
  std::string observer = "minmax";  // activation observer for calibration
  float observer_option = NAN;      // e.g. the percentile
};

// A format as JSON (the checkpoint's and the C export sidecar's): bits, signed, scheme, narrow,
// per_channel, rounding, frac_bits.
nlohmann::json format_json(const QFormat& f);

// Parses a layer list "conv1,conv3" or "1,3" (1-based) into 0-based indices; "all" or "" is every conv.
std::vector<int> parse_layers(const std::string& s, int nconvs);

// What a mode means, the one definition shared by post-training quantisation (QuantModel) and
// quantisation-aware training (quant/qat/qat.h): per conv, how its weights are stored (kind, and
// for integer weights the format); per activation tensor a0..aL (a0 the model input, a_i the
// output of conv i after its activation, a_L also the model output since depth-to-space moves
// values unchanged) whether it is quantised, dynamically or statically, and on which grid.
// Every quantised conv i turns on a_{i-1} and a_i (static modes) or a_{i-1} (dynamic-range).
// Fixed-point activations come with their parameters (scale 2^-n); weight parameters, codes and
// the other activations' parameters are left empty. Unknown modes and word lengths outside
// 2..16 are qsr::Errors.
struct QuantPlan {
  std::string mode;
  std::vector<int> layers;           // 0-based quantised convs, sorted
  std::vector<WeightQuant> weights;  // per conv: kind, fmt (integer); params and codes empty
  std::vector<ActQuant> acts;        // per activation tensor: nconvs + 1
};
QuantPlan plan_quantization(const QuantRequest& req, int nconvs);

// The activation after conv i of an ESPCN (none on the last conv unless activate_last).
Activation conv_activation(const EspcnConfig& cfg, size_t i);
// How the float path runs: the algorithm of its 3x3 convs (direct unless winograd) and the f32
// table (null: the active one). Run-time choices, not stored in checkpoints.
struct FloatPath {
  ConvAlgo algo = ConvAlgo::automatic;
  const F32Kernels* kernels = nullptr;
};
// act(conv(a, w) + b) in the f32 engine (no gradients): the float path of every conv.
Tensor float_conv(const Tensor& a, const Tensor& w, const Tensor& b, Activation act, const FloatPath& fp = {});
// Integer codes of any storage type (i8, u8, i16, i32) as int32.
std::vector<int32_t> codes_to_int32(const Tensor& codes);

// Integer weight parameters as QuantModel chooses them: params_from_ranges of the kernel's
// min / max per output channel (the last axis of HWIO) when f is per channel, else of the whole tensor.
QParams weight_params(const Tensor& kernel, const QFormat& f);

class QuantModel {
 public:
  QuantModel() = default;
  // A plan for `model` (copied): formats set per the request, weights quantised, activation
  // parameters still to be calibrated (needs_calibration()).
  QuantModel(Espcn& model, const QuantRequest& req);

  std::string mode;
  EspcnConfig cfg;
  std::vector<Tensor> kernels, biases;  // float source weights (HWIO) and biases, per conv
  std::vector<WeightQuant> weights;     // per conv
  std::vector<ActQuant> acts;           // per activation tensor: convs + 1
  std::vector<int> quantised_layers;    // 0-based
  FloatPath float_path;                 // how the float convs run (not stored)

  bool needs_calibration() const;       // a static activation without parameters
  // Observes the float model's activations on `inputs` ([1, h, w, c] low-res tensors in [0, 1])
  // and sets every static activation's parameters; the model's input and output (a0 and the
  // last activation: images) take the range [0, 1] instead of an observed one.
  void calibrate(const std::vector<Tensor>& inputs, const std::string& observer = "minmax", float option = NAN);

  // [n, h, w, c] -> [n, h*r, w*r, c]; no gradients.
  Tensor forward(const Tensor& x) const;
  // Conv i alone (activation and output quantisation included) on its float input a
  // (which the integer path quantises onto a_i's grid first); forward() chains these.
  Tensor forward_layer(int i, const Tensor& a) const;
  // The effective float weights of conv i (what the float path convolves with).
  Tensor effective_kernel(int i) const;
  // A float model with the effective weights and the biases (e.g. to fine-tune a quantised
  // model with QAT from its rounded weights).
  std::unique_ptr<Espcn> float_model() const;
  // Whether conv i runs the integer path / the dynamic-range path.
  bool integer_layer(int i) const;
  bool dynamic_layer(int i) const;
  // Worst-case accumulator bits of conv i's integer path (0 when it has none):
  // ConvOutputStage::worst_bits (quant/ptq/output_stage.h).
  int accumulator_bits_of(int i) const;
  // True when the output does not depend on how the input is tiled (false for dynamic-range).
  bool tile_invariant() const;

  // Sizes: bytes as stored in the checkpoint's tensors, and bits when every weight is packed
  // at its word length (+ 32-bit scales/zero points and f32 biases).
  int64_t stored_bytes() const;
  int64_t packed_bits() const;
  std::string describe() const;  // one line per layer
  nlohmann::json to_json() const;
};

// Calibration inputs: the first `count` images (sorted) of `dir` (for a BSDS500 root: its
// images/train or train folder), each as the `y` protocol feeds a model: MATLAB Y rounded
// to 8 bits, cropped to a multiple of `scale`, MATLAB bicubic downscale, / 255.
std::vector<Tensor> calibration_inputs(const std::string& dir, int scale, int count);

// Checkpoints: safetensors with "format": "qsr-espcn-quant", "format_version": "1",
// "architecture" (as float models), "quant" (mode, per-layer weight kinds and formats,
// per-activation formats; see docs/QUANT.md). Tensors: "convI.kernel" (codes in their
// storage type, F16 for float16, bf16 bits as I16, F32 for float layers), "convI.kernel.scale"
// F32 and "convI.kernel.zero_point" I32 (integer layers), "convI.bias" F32, "aJ.scale" F32 and
// "aJ.zero_point" I32 (static quantised activations). Written atomically.
void save_quant_model(const std::string& path, const QuantModel& q, const nlohmann::json& extra_meta = {});
QuantModel load_quant_model(const std::string& path);
// True when the file's metadata says qsr-espcn-quant (false for float models; errors for unreadable files).
bool is_quant_checkpoint(const std::string& path);

}  // namespace qsr::quant
