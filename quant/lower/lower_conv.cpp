// The lowering decisions of one integer or dynamic-range conv (engine_impl.h: lower_integer):
// its weights packed in the buffer's channel order, its output stage (quant/ptq/output_stage.h)
// as the kernels read it, int32 or int64 accumulators, the requantisation arithmetic, and the
// u8 and Winograd forms where they pay (lower_u8.cpp, lower_winograd.cpp).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "quant/lower/engine_impl.h"
#include "quant/lower/weight_pack.h"

namespace qsr::quant::lowering {

namespace {

constexpr int64_t kI32Max = std::numeric_limits<int32_t>::max();

// Checks that codes of `f` fit the engine's int16 buffers.
void check_int16(const QFormat& f, const std::string& what) {
  QSR_CHECK(f.qmin() >= -32768 && f.qmax() <= 32767,
            fmt::format("the integer engine keeps codes in int16; {} ({}) does not fit (run it with --simulate)", what,
                        f.describe()));
}

// Conv i's weight codes (HWIO) with its channels in the buffers' orders, checked for int16.
std::vector<int32_t> buffer_weights(const QuantModel& q, size_t i, const LoweredConv& L, const std::vector<int>& in_order,
                                    const std::vector<int>& out_order, const std::string& name) {
  std::vector<int32_t> w = codes_to_int32(q.weights[i].codes);
  if (!in_order.empty() || !out_order.empty()) {
    const std::vector<int32_t> src = w;
    for (int t = 0; t < L.k * L.k; ++t)
      for (int ci = 0; ci < L.cin; ++ci)
        for (int co = 0; co < L.cout; ++co)
          w[(size_t(t) * L.cin + ci) * L.cout + co] =
              src[(size_t(t) * L.cin + (in_order.empty() ? ci : in_order[size_t(ci)])) * L.cout +
                  (out_order.empty() ? co : out_order[size_t(co)])];
  }
  for (int32_t v : w)
    QSR_CHECK(v > -32768 && v <= 32767,
              fmt::format("the integer engine needs {}'s weight codes in [-32767, 32767] (run it with --simulate)", name));
  return w;
}

// Packs HWIO codes into the int16 blocks of int_kernels.h.
void pack(LoweredConv& L, const std::vector<int32_t>& w) {
  const IntBlocks b = int_blocks(L.cout);
  L.nvec = b.nvec, L.tail = b.tail, L.ndot = b.ndot;
  pack_blocks(WindowWeights{w, L.k, L.cin, L.cout, L.cs}, 2, L.T, L.nvec, L.tail, L.ndot, L.wpack, 16, L.wdot, L.dotlen);
}

// The output stage as the kernels read it: per channel in the buffer's order (oc: the model's
// channel at each position), padded to whole blocks (multiplier 0, shift 62 past cout).
template <class ModelChannel>
void stage_arrays(LoweredConv& L, const ModelChannel& oc) {
  const ConvOutputStage& st = L.stage;
  const size_t cpad = size_t(int_channel_pad(L.cout));
  L.wsum.assign(size_t(L.cout), 0);
  L.beff.assign(cpad, 0);
  L.beff64.assign(cpad, 0);
  L.m0.assign(cpad, 0);
  L.m0_32.assign(cpad, 0);
  L.shift.assign(cpad, 62);
  L.sw.assign(cpad, 0);
  L.fbias.assign(cpad, 0);
  for (int c = 0; c < L.cout; ++c) {
    const size_t u = size_t(c), m = size_t(oc(c));
    L.wsum[u] = st.w_sum[m];
    if (L.path == LayerPath::dynamic) {
      L.sw[u] = st.w_scale[m];
      L.fbias[u] = st.bias_real[m];
      continue;
    }
    L.beff64[u] = st.bias_eff[m];
    L.beff[u] = static_cast<int32_t>(std::clamp<int64_t>(st.bias_eff[m], INT32_MIN, INT32_MAX));
    L.m0_32[u] = st.mult[m].m0;
    L.m0[u] = st.mult[m].m0;
    L.shift[u] = st.mult[m].m0 == 0 ? 62 : st.mult[m].shift;
  }
  if (L.path == LayerPath::integer) L.zo = st.zo, L.lo = st.lo, L.hi = st.hi, L.away = st.half_away();
}

// The requantisation arithmetic (int_kernels.h) of an int32 integer conv: double when that
// gives the exact result, int32 clamping when the result provably fits (|y| + |zo| < 2^31).
// double is exact when the product acc * m0 * 2^-shift is (|acc| < 2^22), and also when every
// channel's shift keeps its one rounding from deciding anything: the exact y = acc * m0 /
// 2^shift is a multiple of 2^-shift, so a y that is not a tie lies at least 2^-shift from one,
// while the rounding moves it by at most |y| * 2^-53; that is less for |y| < 2^(53 - shift). A
// tie is representable and stays exact. Larger |y| (both exact and rounded) are beyond every
// code the clamp keeps when 2^(53 - shift) >= reach + 2, and clamp alike.
int requant_arithmetic(const LoweredConv& L) {
  const ConvOutputStage& st = L.stage;
  double ybound = 0;  // |y| + 1 over the channels
  for (int c = 0; c < L.cout; ++c)
    ybound = std::max(ybound, double(st.acc_bound[size_t(c)]) * multiplier_value(st.mult[size_t(c)]) + 1);
  if (ybound >= std::ldexp(1.0, 30)) return 2;
  const int64_t reach = std::max<int64_t>(int64_t(L.hi) - L.zo, int64_t(L.zo) - L.lo);
  bool near = true;
  for (int c = 0; c < L.cout; ++c)
    near = near && (L.m0[size_t(c)] == 0 || std::ldexp(1.0, 53 - int(L.shift[size_t(c)])) >= double(reach + 2));
  return st.acc_bound_max < (int64_t(1) << 22) || near ? 0 : 1;
}

// int32 accumulators where the output stage proves them exact (ConvOutputStage::int32_folded),
// else int64 in chunks; then the requantisation arithmetic and its per-channel constants.
void choose_accumulation(LoweredConv& L, const LowerOptions& opt, const std::string& name) {
  const ConvOutputStage& st = L.stage;
  L.wide = !st.int32_folded;
  if (L.wide) {
    QSR_CHECK(L.path == LayerPath::integer, fmt::format("{}: dynamic-range accumulators beyond int32", name));
    // Exact int64 beff (the int32 copy is clamped), one int32 chunk per `chunk` pair steps:
    // 2 * chunk * xabs * wabs < 2^31.
    L.chunk = int(std::max<int64_t>(1, kI32Max / std::max<int64_t>(1, 2 * st.in_abs * st.w_max)));
    return;
  }
  const size_t cpad = L.m0.size();
  // |acc| < 2^31: a shift above 62 rounds every product to 0 (int_kernels.h).
  for (size_t c = 0; c < cpad; ++c)
    if (L.shift[c] > 62) L.m0[c] = L.m0_32[c] = 0, L.shift[c] = 62;
  if (L.path == LayerPath::integer) L.rq = requant_arithmetic(L);
  L.rq = std::max(L.rq, std::clamp(opt.min_requant, 0, 2));
  L.mscale.assign(cpad, 0);
  L.bshift.assign(cpad, 0);
  L.half.assign(cpad, 0);
  for (size_t c = 0; c < cpad; ++c) {
    L.mscale[c] = std::ldexp(double(L.m0[c]), -int(L.shift[c]));
    L.bshift[c] = (int64_t(1) << 62) >> L.shift[c];
    L.half[c] = int64_t(1) << (L.shift[c] - 1);
  }
}

void describe_lowering(LoweredConv& L) {
  L.info.wide = L.wide;
  L.info.u8 = L.u8;
  L.info.winograd = L.wino;
  L.info.kacc = L.kacc;
  L.info.requant = L.path == LayerPath::dynamic ? "float"
                   : L.wide                     ? "int64 (spec)"
                   : L.rq == 0                  ? "double"
                   : L.rq == 1                  ? "int64 lanes, int32 clamp"
                                                : "int64 lanes";
  L.info.acc_bits = L.stage.acc_bits;
}

}  // namespace

void lower_integer(const QuantModel& q, size_t i, LoweredConv& L, const std::vector<int>& in_order,
                   const std::vector<int>& out_order, const IntKernels& K, const LowerOptions& opt) {
  const std::string name = fmt::format("conv{}", i + 1);
  const QFormat& in = q.acts[i].fmt;
  check_int16(in, fmt::format("the input of {}", name));
  const std::vector<int32_t> w = buffer_weights(q, i, L, in_order, out_order, name);
  pack(L, w);
  if (L.path == LayerPath::integer) check_int16(q.acts[i + 1].fmt, fmt::format("the output of {}", name));
  L.stage = conv_output_stage(q, int(i));
  stage_arrays(L, [&](int c) { return out_order.empty() ? c : out_order[size_t(c)]; });
  if (L.stage.int32_folded && opt.allow_u8 && L.path == LayerPath::integer) try_u8(L, w, in, K, opt);
  if (L.stage.int32_folded && opt.allow_winograd) try_wino(L, w, in, K, opt);
  choose_accumulation(L, opt, name);
  describe_lowering(L);
}

}  // namespace qsr::quant::lowering
