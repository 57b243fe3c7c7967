// The u8 path of an integer conv (engine_impl.h: try_u8; int_kernels.h).
#include <algorithm>
#include <cstdlib>
#include <limits>

#include "quant/lower/engine_impl.h"
#include "quant/lower/weight_pack.h"

namespace qsr::quant::lowering {

namespace {

constexpr int64_t kI32Max = std::numeric_limits<int32_t>::max();

// The window weights split into main pairs within vpmaddubsw's reach and the residual.
struct SplitWeights {
  WindowArray main, resid;
  int64_t pairmax = 0;  // the largest reach of a main pair
  int64_t nsplit = 0;   // pairs split
};

// A pair (a, b) that could saturate vpmaddubsw's int16 (pair_reach > 32767; on AVX2 and scalar
// tables) is split into a main and a residual pair, each within reach (both weights have one
// sign there: the excess moves into the residual, the larger weight first). vpdpbusd (the
// AVX512-VNNI table) adds u8 x s8 products without an int16 intermediate: exact for any pairs
// when every step widens (kacc = 1, the tiles that use it), so nothing splits there.
SplitWeights split_pairs(const WindowWeights& weight, int T4, int64_t umax, bool vnni) {
  const int k = weight.k, cout = weight.cout;
  const int64_t lim = 32767 / std::max<int64_t>(umax, 1);  // the largest one-sign pair sum
  SplitWeights s{WindowArray(weight, 4 * T4), WindowArray(weight, 4 * T4)};
  std::fill(s.resid.v.begin(), s.resid.v.end(), 0);
  for (int c = 0; c < cout; ++c)
    for (int ky = 0; ky < k; ++ky)
      for (int j = 0; j < 4 * T4; j += 2) {
        int32_t& a = s.main.at(ky, j, c);
        int32_t& b = s.main.at(ky, j + 1, c);
        if (!vnni && pair_reach(umax, a, b) > 32767) {
          // One sign (a pair of opposite signs reaches at most umax * 128 <= 32640).
          const int32_t sg = a + b > 0 ? 1 : -1;
          int32_t excess = std::abs(a + b) - int32_t(lim);  // <= 256 - lim <= lim
          int32_t& big = std::abs(a) >= std::abs(b) ? a : b;
          int32_t& small = &big == &a ? b : a;
          const int32_t from_big = std::min(excess, std::abs(big));
          big -= sg * from_big;
          small -= sg * (excess - from_big);
          s.resid.at(ky, j, c) = weight(ky, j, c) - a;
          s.resid.at(ky, j + 1, c) = weight(ky, j + 1, c) - b;
          ++s.nsplit;
        }
        s.pairmax = std::max(s.pairmax, pair_reach(umax, a, b));
      }
  return s;
}

// The residual steps per half-block of 8 channels (int_kernels.h: xbeg, xky, xt, xw); the
// leftover (dot-product) channels' residual rows are packed apart (wdot8x).
struct ResidualSteps {
  std::vector<int32_t> xbeg{0}, xky, xt;
  PackVec<int8_t> xw;
};

ResidualSteps residual_steps(const WindowArray& resid, int k, int T4, int cmain, int nhalf) {
  ResidualSteps r;
  for (int hb = 0; hb < nhalf; ++hb) {
    for (int ky = 0; ky < k; ++ky)
      for (int t = 0; t < T4; ++t) {
        bool any = false;
        for (int l = 0; l < kIntHalf; ++l)
          for (int e = 0; e < 4; ++e) any |= hb * kIntHalf + l < cmain && resid(ky, 4 * t + e, hb * kIntHalf + l) != 0;
        if (!any) continue;
        r.xky.push_back(ky);
        r.xt.push_back(t);
        for (int l = 0; l < kIntHalf; ++l)
          for (int e = 0; e < 4; ++e) {
            const int c = hb * kIntHalf + l;
            r.xw.push_back(static_cast<int8_t>(c < cmain ? resid(ky, 4 * t + e, c) : 0));
          }
      }
    r.xbeg.push_back(int32_t(r.xky.size()));
  }
  return r;
}

// The residual rows of the dot-product channels, packed as theirs (empty when all zero).
void pack_dot_residual(LoweredConv& L, const WindowArray& resid, int cmain) {
  bool dot_resid = false;
  for (int d = 0; d < L.ndot; ++d)
    for (int ky = 0; ky < L.k; ++ky)
      for (int j = 0; j < 4 * L.T4; ++j) dot_resid |= resid(ky, j, cmain + d) != 0;
  if (dot_resid) {
    PackVec<int8_t> unused;
    int dl = 0;
    pack_blocks(resid, 4, L.T4, 0, 0, L.ndot, unused, 32, L.wdot8x, dl);
  }
}

}  // namespace

// The u8 path (int_kernels.h): input codes spanning at most 256 values and weights in int8,
// pairs split where vpmaddubsw could saturate (split_pairs).
void try_u8(LoweredConv& L, const std::vector<int32_t>& w, const QFormat& in, const IntKernels& K, const LowerOptions& opt) {
  const int64_t umax = int64_t(in.qmax()) - in.qmin();
  if (!u8_codes(umax, w)) return;
  const int k = L.k, cout = L.cout;
  const int cs = int_channel_stride(L.cin, true);
  const int T4 = (k * cs + 3) / 4;
  const WindowWeights weight{w, k, L.cin, cout, cs};
  // The bias for bytes u = x - qmin: beff + qmin * sum w.
  std::vector<int32_t> beff(L.beff.size(), 0);
  for (int c = 0; c < cout; ++c) {
    const int64_t b = L.beff64[size_t(c)] + int64_t(in.qmin()) * L.wsum[size_t(c)];
    if (std::abs(b) > kI32Max) return;
    beff[size_t(c)] = static_cast<int32_t>(b);
  }
  const bool vnni = K.isa == Isa::avx512;
  const SplitWeights sp = split_pairs(weight, T4, umax, vnni);
  // Steps summed in int16 before widening, counted over the whole window (k rows of T4).
  const int kacc = sp.nsplit || sp.pairmax > 32767 ? 1
                   : sp.pairmax > 0                ? int(std::min<int64_t>(int64_t(k) * T4, 32767 / sp.pairmax))
                                                   : k * T4;
  const int cmain = cout - L.ndot;
  const int nhalf = 2 * L.nvec + (L.tail ? 1 : 0);
  ResidualSteps rs = residual_steps(sp.resid, k, T4, cmain, sp.nsplit ? nhalf : 0);
  // The u8 path only where it takes fewer vector instructions per 8 output channels and pixel
  // than the int16 one (measured alike on AVX2): a u8 step 3.5 (vpmaddubsw, vpmaddwd, vpaddd
  // and half a broadcast), a split step 4 (its own broadcast), a step summed in int16 2.5 and
  // 2 per widening; an int16 pair step 2.5 (vpmaddwd, vpaddd, half a broadcast). VNNI: always.
  double u8cost = 0;
  if (!vnni && !opt.force_u8) {
    const double steps = double(k) * T4;
    u8cost = kacc > 1 ? (2.5 + 2.0 / kacc) * steps : 3.5 * steps + (nhalf ? 4.0 * double(rs.xky.size()) / nhalf : 0.0);
    // A 1-channel input (pairs along the kernel row) widening every step measured slower than
    // its int16 pairs (ESPCN's conv1 in w7a8: 1.2x), whatever the count says.
    if (u8cost >= 2.5 * k * L.T || (cs == 1 && kacc == 1)) return;
  }
  L.u8_cost = u8cost;
  L.u8 = true;
  L.cs8 = cs;
  L.T4 = T4;
  L.kacc = kacc;
  L.beff8 = std::move(beff);
  pack_blocks(sp.main, 4, T4, L.nvec, L.tail, L.ndot, L.wpack8, 32, L.wdot8, L.dotlen8);
  L.info.split_pairs = sp.nsplit;
  L.info.split_steps = int64_t(rs.xky.size());
  L.info.main_steps = int64_t(nhalf) * k * T4;
  L.xbeg.clear(), L.xky.clear(), L.xt.clear(), L.xw.clear(), L.wdot8x.clear();
  if (!rs.xky.empty()) L.xbeg = std::move(rs.xbeg), L.xky = std::move(rs.xky), L.xt = std::move(rs.xt), L.xw = std::move(rs.xw);
  pack_dot_residual(L, sp.resid, cmain);
}

}  // namespace qsr::quant::lowering
