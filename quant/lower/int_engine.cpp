// The integer engine object (int_engine.h): every conv lowered, describe. The parts of the
// lowering and the run are in the files engine_impl.h lists.
#include "quant/lower/int_engine.h"

#include <fmt/format.h>

#include "engine/f32_drivers.h"
#include "quant/lower/engine_impl.h"

namespace qsr::quant {

std::string layer_path_name(LayerPath p) {
  switch (p) {
    case LayerPath::integer: return "integer";
    case LayerPath::dynamic: return "dynamic-range";
    case LayerPath::float16: return "float16";
    case LayerPath::f32: return "f32";
  }
  return "?";
}

std::string IntLayerInfo::describe() const {
  switch (path) {
    case LayerPath::integer:
    case LayerPath::dynamic:
      return fmt::format("{} {}x{} {}->{}: {}, {} accumulators ({}-bit bound), {} requantisation",
                         layer_path_name(path), k, k, cin, cout,
                         winograd ? std::string("Winograd F(2x2,3x3): int16 transforms, vpmaddwd on 16 positions (2.25x fewer multiplies)")
                         : u8 ? fmt::format("u8 quads, vpmaddubsw (int16 sums of {} step{}{})", kacc, kacc > 1 ? "s" : "",
                                          split_pairs ? fmt::format("; {} pair{} split, {:.1f}% extra steps{}", split_pairs, split_pairs > 1 ? "s" : "",
                                                                    main_steps ? 100.0 * split_steps / main_steps : 0.0,
                                                                    paired ? ", input channels reordered" : "")
                                                      : "")
                            : std::string("int16 pairs, vpmaddwd"),
                         wide ? "int64" : "int32", acc_bits, requant);
    case LayerPath::float16: return fmt::format("float16 {}x{} {}->{}: f16 weights, F16C in the inner loop", k, k, cin, cout);
    case LayerPath::f32: return fmt::format("f32 {}x{} {}->{}: f32 engine", k, k, cin, cout);
  }
  return "?";
}

void IntEngineState::lower() {
  QSR_CHECK(!q.needs_calibration(), "quantised model: activations are not calibrated");
  const size_t n = q.kernels.size();
  layers.resize(n);
  const std::vector<std::vector<int>> order = lowering::choose_channel_orders(q, *K, opt);
  for (size_t i = 0; i < n; ++i) {
    LoweredConv& L = layers[i];
    const Tensor& kt = q.kernels[i];
    L.k = int(kt.dim(0));
    L.cin = int(kt.dim(2));
    L.cout = int(kt.dim(3));
    L.pad = L.k / 2;
    L.cs = int_channel_stride(L.cin, false);
    L.T = (L.k * L.cs + 1) / 2;
    L.act = conv_activation(q.cfg, i);
    L.path = q.integer_layer(int(i))                ? LayerPath::integer
             : q.dynamic_layer(int(i))              ? LayerPath::dynamic
             : q.weights[i].kind == WeightKind::f16 ? LayerPath::float16
                                                    : LayerPath::f32;
    if (L.path == LayerPath::integer || L.path == LayerPath::dynamic) {
      lowering::lower_integer(q, i, L, order[i], order[i + 1], *K, opt);
      L.info.paired = !order[i].empty();
    } else if (L.path == LayerPath::float16) {
      const ConvGeom g{1, 1, 1, L.cin, L.cout, L.k};
      L.wf16.assign(packed_conv_weights_size(g), 0);
      const Tensor& codes = q.weights[i].codes;
      pack_conv_weights_for_fwd_f16(g, reinterpret_cast<const uint16_t*>(codes.data<half_bits>()), L.wf16.data());
      L.bias = q.biases[i];
    } else {
      L.kernel = q.effective_kernel(int(i));
      L.bias = q.biases[i];
    }
    L.info.path = L.path;
    L.info.k = L.k;
    L.info.cin = L.cin;
    L.info.cout = L.cout;
    infos.push_back(L.info);
  }
}

IntEngine::IntEngine(const QuantModel& q, LowerOptions o) : IntEngine(q, qsr::kernel_set(), o) {}

IntEngine::IntEngine(const QuantModel& q, Isa isa, LowerOptions o) : IntEngine(q, qsr::kernel_set(isa), o) {}

IntEngine::IntEngine(const QuantModel& q, const KernelSet& set, LowerOptions o) : impl_(std::make_unique<Impl>()) {
  impl_->q = q;
  impl_->S = &set;
  impl_->opt = o;
  impl_->K = set.ints;
  impl_->lower();
}

IntEngine::~IntEngine() = default;

const QuantModel& IntEngine::model() const { return impl_->q; }
const std::vector<IntLayerInfo>& IntEngine::layers() const { return impl_->infos; }
const IntKernels& IntEngine::kernels() const { return *impl_->K; }
const KernelSet& IntEngine::kernel_set() const { return *impl_->S; }

std::string IntEngine::describe() const {
  std::string s = fmt::format("native engine, {} integer kernels, mode {}\n", impl_->K->name, impl_->q.mode);
  for (size_t i = 0; i < impl_->infos.size(); ++i) s += fmt::format("  conv{}: {}\n", i + 1, impl_->infos[i].describe());
  return s;
}

}  // namespace qsr::quant
