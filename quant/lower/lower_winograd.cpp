// Winograd F(2x2, 3x3) for an integer or dynamic-range conv (engine_impl.h: try_wino; int_kernels.h).
#include <algorithm>
#include <cstdlib>
#include <limits>

#include "quant/lower/engine_impl.h"

namespace qsr::quant::lowering {

namespace {

constexpr int64_t kI32Max = std::numeric_limits<int32_t>::max();

}  // namespace

// Winograd F(2x2, 3x3) on the AVX2 table (int_kernels.h) for a 3x3 integer or dynamic-range
// conv with cin and cout multiples of 16, when nothing leaves its integer type: |V| <= 4 max|code| and |U2| fit
// int16, and every output's 9 position sums, each at most 4 max|code| * sum over cin |U2|,
// fit int32 (the direct form's bounds hold for the result, which is the same integer). Taken
// where it counts fewer vector instructions per 8 output channels and pixel than the path
// chosen so far (try_u8's count, lower_u8.cpp): 16 positions x cin/2 pair steps of 2.5 per 4 outputs,
// measured 15% above that, plus the transforms; a u8 path summing many steps in int16 (w4a4)
// stays.
void try_wino(LoweredConv& L, const std::vector<int32_t>& w, const QFormat& in, const IntKernels& K, const LowerOptions& opt) {
  if (K.isa != Isa::avx2 || L.k != 3 || L.cin % 16 || L.cout % 16) return;
  const ConvAlgo algo = opt.conv_algo;  // direct never, winograd wherever exact, auto by the count
  if (algo == ConvAlgo::direct) return;
  const double wino_cost = 11.5 * (L.cs / 2) + 10;
  if (wino_cost >= (L.u8 ? L.u8_cost : 2.5 * L.k * L.T) && !opt.force_winograd && algo != ConvAlgo::winograd) return;
  const int64_t xabs = std::max(std::abs(int64_t(in.qmin())), std::abs(int64_t(in.qmax())));
  const int64_t vmax = 4 * xabs;
  if (vmax > 32767) return;
  const int cin = L.cin, cout = L.cout;
  const int G2[4][3] = {{2, 0, 0}, {1, 1, 1}, {1, -1, 1}, {0, 0, 2}};
  // U2[p][ci][co]
  std::vector<int32_t> u(size_t(16) * cin * cout);
  for (int ci = 0; ci < cin; ++ci)
    for (int co = 0; co < cout; ++co)
      for (int r = 0; r < 4; ++r)
        for (int c = 0; c < 4; ++c) {
          int64_t acc = 0;
          for (int ky = 0; ky < 3; ++ky)
            for (int kx = 0; kx < 3; ++kx) acc += int64_t(G2[r][ky]) * G2[c][kx] * w[((size_t(ky) * 3 + kx) * cin + ci) * cout + co];
          if (acc < -32767 || acc > 32767) return;
          u[(size_t(r * 4 + c) * cin + ci) * cout + co] = int32_t(acc);
        }
  // Y[dy][dx] = sum over rows r with A[r][dy] != 0 and columns c with A[c][dx] != 0 of M[r][c].
  const int A[4][2] = {{1, 0}, {1, 1}, {1, -1}, {0, -1}};
  for (int co = 0; co < cout; ++co) {
    std::vector<int64_t> mb(16, 0);
    for (int p = 0; p < 16; ++p)
      for (int ci = 0; ci < cin; ++ci) mb[size_t(p)] += vmax * std::abs(int64_t(u[(size_t(p) * cin + ci) * cout + co]));
    for (int dy = 0; dy < 2; ++dy)
      for (int dx = 0; dx < 2; ++dx) {
        int64_t yb = 0;
        for (int r = 0; r < 4; ++r)
          for (int c = 0; c < 4; ++c)
            if (A[r][dy] && A[c][dx]) yb += mb[size_t(r * 4 + c)];
        if (yb > kI32Max) return;
      }
  }
  const int T = L.cs / 2;
  const int nvec = cout / 16;
  L.wino_u.assign(size_t(16) * nvec * T * 32, 0);
  int16_t* o = L.wino_u.data();
  for (int p = 0; p < 16; ++p)
    for (int cb = 0; cb < nvec; ++cb)
      for (int t = 0; t < T; ++t)
        for (int l = 0; l < 16; ++l)
          for (int e = 0; e < 2; ++e) *o++ = static_cast<int16_t>(u[(size_t(p) * cin + 2 * t + e) * cout + cb * 16 + l]);
  L.wino = true;
  L.u8 = false;  // (the int16 buffers and packing of the direct form stay: other tables, the scalar twin)
  L.wpack8.clear(), L.wdot8.clear(), L.xbeg.clear(), L.xky.clear(), L.xt.clear(), L.xw.clear(), L.wdot8x.clear();
  L.info.split_pairs = L.info.split_steps = L.info.main_steps = 0;
}

}  // namespace qsr::quant::lowering
