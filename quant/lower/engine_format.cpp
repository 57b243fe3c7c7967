// The lowering written as a model file of the inference-only library (IntEngine::infer_model;
// quant/infer/infer_format.h). It stays with the engine (qsr_lower) rather than the exporters
// (qsr_export): it writes the engine's lowered convs, and IntEngine::infer_model is the entry
// point that `qsr export --format engine`, qsr_infer_bench and the tests call.
#include <fmt/format.h>

#include <cstddef>
#include <cstdio>
#include <cstring>

#include "quant/infer/infer_format.h"
#include "quant/lower/engine_impl.h"

namespace qsr::quant {

namespace {

// The file's bytes: the header and records first, then arrays at 64-byte offsets.
struct InferWriter {
  std::vector<uint8_t> out;
  void align() { out.resize((out.size() + infer::kAlign - 1) / infer::kAlign * infer::kAlign, 0); }
  template <class V>
  infer::ArrayRef add(const V& v) {
    infer::ArrayRef r;
    if (v.empty()) return r;
    align();
    r.offset = out.size();
    r.count = v.size();
    const size_t bytes = v.size() * sizeof(v[0]);
    out.resize(out.size() + bytes);
    std::memcpy(out.data() + r.offset, v.data(), bytes);
    return r;
  }
};

// Conv i's record, its arrays appended to the file. The output stage's constants (zero points,
// clamp, rounding) are the conv's ConvOutputStage (quant/ptq/output_stage.h); the per-channel
// arrays are the lowering's (buffer order, the kernels' encoding).
infer::ConvRecord conv_record(const QuantModel& q, const std::vector<LoweredConv>& layers, size_t i, InferWriter& W) {
  const LoweredConv& L = layers[i];
  const ConvOutputStage& st = L.stage;
  infer::ConvRecord R{};
  R.k = L.k, R.cin = L.cin, R.cout = L.cout, R.cs = L.cs, R.T = L.T;
  R.nvec = L.nvec, R.tail = L.tail, R.ndot = L.ndot, R.dotlen = L.dotlen;
  R.u8 = L.u8, R.cs8 = L.cs8, R.T4 = L.T4, R.kacc = L.kacc, R.dotlen8 = L.dotlen8;
  R.wino = L.wino, R.wide = L.wide, R.chunk = L.chunk, R.rq = L.rq;
  R.zo = st.zo, R.lo = st.lo, R.hi = st.hi, R.away = st.half_away();
  R.in_zp = st.zin;
  R.in_off = st.in_qmin;
  R.out_u8 = i + 1 < layers.size() && layers[i + 1].u8;
  R.out_off = q.acts[i + 1].fmt.qmin();
  if (L.u8) {
    R.wpack8 = W.add(L.wpack8), R.wdot8 = W.add(L.wdot8), R.xw = W.add(L.xw), R.wdot8x = W.add(L.wdot8x);
    R.xbeg = W.add(L.xbeg), R.xky = W.add(L.xky), R.xt = W.add(L.xt);
    R.beff = W.add(L.beff8);
  } else {
    R.wpack = W.add(L.wpack), R.wdot = W.add(L.wdot);
    R.beff = W.add(L.beff);
  }
  if (L.wino) R.wino_u = W.add(L.wino_u);
  R.m0_32 = W.add(L.m0_32);
  if (L.wide) R.beff64 = W.add(L.beff64);
  R.m0 = W.add(L.m0), R.shift = W.add(L.shift), R.bshift = W.add(L.bshift), R.half = W.add(L.half), R.mscale = W.add(L.mscale);
  return R;
}

infer::Header header(const QuantModel& q, const IntKernels& K, size_t n, uint64_t total_bytes) {
  infer::Header H{};
  std::memcpy(H.magic, infer::kMagic, sizeof H.magic);
  H.version = infer::kVersion;
  H.header_bytes = sizeof(infer::Header);
  H.total_bytes = total_bytes;
  H.lanes = K.isa == Isa::avx512 ? 16 : 8;
  H.nconv = uint32_t(n);
  H.scale = uint32_t(q.cfg.scale);
  H.channels = uint32_t(q.cfg.channels);
  H.record_bytes = sizeof(infer::ConvRecord);
  H.records = sizeof(infer::Header);
  const ActQuant& a0 = q.acts[0];
  const ActQuant& aL = q.acts[n];
  H.in_scale = a0.params.scale[0];
  H.in_zp = a0.params.zero_point[0];
  H.in_qmin = a0.fmt.qmin();
  H.in_qmax = a0.fmt.qmax();
  H.in_away = a0.fmt.rounding == Rounding::half_away;
  H.out_scale = aL.params.scale[0];
  H.out_zp = aL.params.zero_point[0];
  std::snprintf(H.mode, sizeof H.mode, "%s", q.mode.c_str());
  std::snprintf(H.lowered, sizeof H.lowered, "%s", isa_name(K.isa) == "avx512" ? "avx512-vnni" : isa_name(K.isa).c_str());
  return H;
}

}  // namespace

std::vector<uint8_t> IntEngine::infer_model() const {
  const IntEngineState& I = *impl_;
  const size_t n = I.layers.size();
  QSR_CHECK(n >= 1 && n <= size_t(infer::kMaxConvs),
            fmt::format("the inference library runs 1 to {} convs; this model has {}", infer::kMaxConvs, n));
  for (size_t i = 0; i < n; ++i)
    QSR_CHECK(I.layers[i].path == LayerPath::integer,
              fmt::format("conv{} runs on the {} path; the inference library runs integer convs only (integer weights "
                          "and static activations: int8, int16x8, wNaM, fixed point)",
                          i + 1, layer_path_name(I.layers[i].path)));
  InferWriter W;
  W.out.assign(sizeof(infer::Header) + n * sizeof(infer::ConvRecord), 0);
  std::vector<infer::ConvRecord> recs;
  for (size_t i = 0; i < n; ++i) recs.push_back(conv_record(I.q, I.layers, i, W));
  W.align();
  std::vector<uint8_t>& out = W.out;
  const infer::Header H = header(I.q, *I.K, n, out.size());
  std::memcpy(out.data() + H.records, recs.data(), n * sizeof(infer::ConvRecord));
  std::memcpy(out.data(), &H, sizeof H);
  const uint32_t sum = infer::fnv1a(out.data() + 32, out.size() - 32);
  std::memcpy(out.data() + offsetof(infer::Header, checksum), &sum, sizeof sum);
  return out;
}

}  // namespace qsr::quant
