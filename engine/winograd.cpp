// Winograd F(4x4, 3x3) drivers (Lavin & Gray 2015). Per 4x4 output tile and channel,
// the 6x6 input patch d becomes V = B^T d B, each weight g (3x3, per cin and cout)
// becomes U = G g G^T, and Y = A^T [sum_ci U (.) V] A. The sum over input channels at
// each of the 36 positions xi is a GEMM (tiles x cin) x (cin x cout): 36 GEMMs of
// 1/4 the multiply-adds of a direct 3x3 conv in all.
//
// The GEMMs run on the existing register-blocked kernels: a GEMM is a 1x1 convolution
// over a row of "pixels" (the tiles), so conv_fwd_row (6 tiles x 16 channels per
// register tile) computes M[xi] = V[xi] U[xi], and conv_bwdw_tiles (6 input channels x
// 16 output channels, accumulated over tiles) computes dU[xi] += V[xi]^T dM[xi]. The
// transforms are kernels of their own (f32_winograd.inc), vectorised across channels.
// Weight transforms (G g G^T and G^T dU G) are tiny and done here in double.
#include "engine/winograd.h"

#include <algorithm>
#include <string>
#include <vector>

#include "engine/f32_drivers.h"
#include "engine/parallel.h"
#include "engine/tensor.h"

namespace qsr {

namespace {

// G of F(4, 3): 6 x 3.
constexpr double kG[kWinoAlpha][3] = {{1.0 / 4, 0, 0},
                                      {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                      {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                      {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                      {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                      {0, 0, 1}};

// Tiles per forward work item: the group's transformed input and GEMM output
// (36 x 24 x 64 floats each for 64 channels, 221 KB) stay in L2 between the input
// transform, the 36 GEMMs and the output transform.
constexpr int kFwdGroup = 24;
// Weight gradient: tiles per slice (at least; at most kBwdwMaxSlices slices, each with a
// partial dU of 36 x cin x cout floats), and bytes of transformed input plus output
// gradient per chunk of a slice (the whole batch would be 92 MB for ESPCN's 64->64
// layer at batch 8; chunks of 6 MB, in L3 instead of L2, ran that layer 1.5x slower).
constexpr int64_t kBwdwSliceTiles = 256;
constexpr int64_t kBwdwMaxSlices = 8;
constexpr int64_t kBwdwChunkBytes = int64_t(1) << 20;

struct Scratch {
  AlignedBuffer<float> u, upack, bias, zero, du, wt;
};
// Per calling thread (the op thread), reused between calls.
Scratch& scratch() {
  static thread_local Scratch s;
  return s;
}
// Per worker thread: the transformed tiles of one forward group or weight-gradient chunk.
struct GroupScratch {
  AlignedBuffer<float> v, m;
};
void ensure(AlignedBuffer<float>& b, size_t n) {
  if (b.size() < n) b.resize(n);
}
// This thread's scratch, with room for 36 x vs floats of v and 36 x ms of m.
GroupScratch& group_scratch(int64_t vs, int64_t ms) {
  static thread_local GroupScratch s;
  ensure(s.v, size_t(kWinoXi * vs));
  ensure(s.m, size_t(kWinoXi * ms));
  return s;
}

// Distance between the 36 GEMM operands of a buffer holding `floats` per xi. A transform
// writes (or reads) one vector in each of the 36 per tile: at distances that are a
// multiple of 4 KB they would all fall into one L1 set (8 ways) and evict each other;
// a multiple of 4 KB plus one cache line puts the 36 in 36 different sets.
int64_t xi_stride(int64_t floats) { return (floats + 1023) / 1024 * 1024 + 16; }

int64_t tile_count(const ConvGeom& g) {
  return int64_t(g.n) * ((g.h + kWinoOut - 1) / kWinoOut) * ((g.w + kWinoOut - 1) / kWinoOut);
}

// The GEMM of one xi seen as a 1x1 convolution of a 1 x ntiles image.
ConvGeom gemm_geom(int ntiles, int cin, int cout) {
  ConvGeom g;
  g.n = 1, g.h = 1, g.w = ntiles, g.cin = cin, g.cout = cout, g.k = 1;
  return g;
}

// u[ci][co] = (G g G^T)[xi] of every (ci, co), for HWIO 3x3 weights w (one xi = 6*a + b).
void transform_weights_xi(const ConvGeom& g, const float* w, int xi, float* u) {
  const int a = xi / kWinoAlpha, b = xi % kWinoAlpha;
  const int64_t cc = int64_t(g.cin) * g.cout;
  // U[a][b] = sum_{ky,kx} G[a][ky] g[ky][kx] G[b][kx]: 9 fixed coefficients.
  double coef[9];
  for (int ky = 0; ky < 3; ++ky)
    for (int kx = 0; kx < 3; ++kx) coef[ky * 3 + kx] = kG[a][ky] * kG[b][kx];
  for (int64_t i = 0; i < cc; ++i) {
    double acc = 0;
    for (int k = 0; k < 9; ++k) acc += coef[k] * w[k * cc + i];
    u[i] = static_cast<float>(acc);
  }
}

void check_geom(const ConvGeom& g, const char* what) {
  QSR_CHECK(g.k == 3, std::string(what) + ": Winograd F(4x4, 3x3) needs a 3x3 kernel (got " + std::to_string(g.k) + ")");
}

}  // namespace

void winograd_conv2d_forward(const F32Kernels& K, const ConvGeom& g, const float* x, const float* w, const float* b,
                             float* y, bool relu) {
  check_geom(g, "winograd_conv2d_forward");
  Scratch& s = scratch();
  const int64_t cc = int64_t(g.cin) * g.cout;
  // U[xi] (cin x cout), packed for conv_fwd_row as the weights of a 1x1 conv; one
  // parallel region (a region costs far more than this work on a busy machine).
  const ConvGeom gp = gemm_geom(kFwdGroup, g.cin, g.cout);
  const int64_t ps = static_cast<int64_t>(packed_conv_weights_size(gp));
  ensure(s.u, size_t(kWinoXi * cc));
  ensure(s.upack, size_t(kWinoXi * ps));
  parallel_for(kWinoXi, [&](int64_t b0, int64_t e0) {
    for (int64_t xi = b0; xi < e0; ++xi) {
      transform_weights_xi(g, w, static_cast<int>(xi), s.u.data() + xi * cc);
      pack_conv_weights_for_fwd(gp, s.u.data() + xi * cc, s.upack.data() + xi * ps);
    }
  }, 12 * cc);
  ensure(s.bias, size_t(gp.cout_pad()));
  std::fill_n(s.bias.data(), gp.cout_pad(), 0.f);
  if (b) std::copy_n(b, g.cout, s.bias.data());
  const float* upack = s.upack.data();
  const float* bias = s.bias.data();
  const int64_t T = tile_count(g);
  const int64_t ngroups = (T + kFwdGroup - 1) / kFwdGroup;
  const int64_t vs = xi_stride(int64_t(kFwdGroup) * g.cin), ms = xi_stride(int64_t(kFwdGroup) * g.cout);
  // The GEMMs start from zero (the bias is added after the output transform).
  ensure(s.zero, size_t(gp.cout_pad()));
  std::fill_n(s.zero.data(), gp.cout_pad(), 0.f);
  const float* gemm_bias = s.zero.data();
  parallel_for(ngroups, [&](int64_t gb, int64_t ge) {
    GroupScratch& gs = group_scratch(vs, ms);
    float* v = gs.v.data();
    float* m = gs.m.data();
    for (int64_t grp = gb; grp < ge; ++grp) {
      const int64_t t0 = grp * kFwdGroup;
      const int nt = static_cast<int>(std::min<int64_t>(kFwdGroup, T - t0));
      K.wino4x3_input_tiles(g.h, g.w, g.cin, x, t0, nt, v, vs);
      const ConvGeom gg = gemm_geom(nt, g.cin, g.cout);
      for (int xi = 0; xi < kWinoXi; ++xi) K.conv_fwd_row(gg, v + xi * vs, 0, upack + xi * ps, gemm_bias, m + xi * ms, false);
      K.wino4x3_output_tiles(g.h, g.w, g.cout, m, ms, t0, nt, bias, relu, y);
    }
  }, int64_t(kFwdGroup) * kWinoXi * cc);
}

void winograd_conv2d_backward_data(const F32Kernels& K, const ConvGeom& g, const float* gy, const float* w, float* gx) {
  check_geom(g, "winograd_conv2d_backward_data");
  // w'[ky][kx][co][ci] = w[2-ky][2-kx][ci][co]: a forward conv of gy (cout channels) to cin channels.
  ConvGeom t = g;
  t.cin = g.cout;
  t.cout = g.cin;
  Scratch& s = scratch();
  const int64_t cc = int64_t(g.cin) * g.cout;
  ensure(s.wt, size_t(9 * cc));
  float* wt = s.wt.data();
  for (int ky = 0; ky < 3; ++ky)
    for (int kx = 0; kx < 3; ++kx) {
      const float* src = w + ((2 - ky) * 3 + (2 - kx)) * cc;
      float* dst = wt + (ky * 3 + kx) * cc;
      for (int ci = 0; ci < g.cin; ++ci)
        for (int co = 0; co < g.cout; ++co) dst[int64_t(co) * g.cin + ci] = src[int64_t(ci) * g.cout + co];
    }
  winograd_conv2d_forward(K, t, gy, wt, nullptr, gx, false);
}

void winograd_conv2d_backward_weights(const F32Kernels& K, const ConvGeom& g, const float* x, const float* gy, float* gw,
                                      float* gb) {
  check_geom(g, "winograd_conv2d_backward_weights");
  Scratch& s = scratch();
  const int64_t T = tile_count(g);
  // The tiles are cut into a fixed number of slices (a function of the tile count only,
  // never of the thread count); each slice sums its tiles in order into its own partial
  // dU, and the partials are added in slice order. The result is therefore the same for
  // any thread count, and each thread runs its slices from transform to GEMM without
  // waiting for the others.
  const int64_t nslice = std::clamp<int64_t>(T / kBwdwSliceTiles, 1, kBwdwMaxSlices);
  // Tiles per chunk within a slice: its transformed input and output gradient stay in
  // L2 between the transforms and the 36 GEMMs.
  const int chunk = static_cast<int>(std::clamp<int64_t>(
      kBwdwChunkBytes / (int64_t(kWinoXi) * (g.cin + g.cout) * int64_t(sizeof(float))) / 16 * 16, 16, 256));
  const ConvGeom gc = gemm_geom(chunk, g.cin, g.cout);
  const int64_t ldw = gc.cout_pad();
  const int64_t vs = xi_stride(int64_t(chunk) * g.cin), ms = xi_stride(int64_t(chunk) * g.cout);
  const int64_t us = int64_t(g.cin) * ldw;  // one xi of a partial dU
  ensure(s.du, size_t(nslice * kWinoXi * us));
  float* du = s.du.data();
  std::vector<int64_t> roff(size_t(g.cin));
  for (int ci = 0; ci < g.cin; ++ci) roff[size_t(ci)] = ci;
  // Register tiles of conv_bwdw_tiles per xi: (cout block, 6-row block of cin).
  const int64_t ntl = ((g.cin + kConvMR - 1) / kConvMR) * int64_t(gc.ncb());
  parallel_for(nslice, [&](int64_t sb, int64_t se) {
    GroupScratch& gs = group_scratch(vs, ms);
    float* v = gs.v.data();
    float* m = gs.m.data();
    for (int64_t sl = sb; sl < se; ++sl) {
      float* dus = du + sl * kWinoXi * us;
      std::fill_n(dus, kWinoXi * us, 0.f);
      const int64_t ta = sl * T / nslice, tb = (sl + 1) * T / nslice;
      for (int64_t t0 = ta; t0 < tb; t0 += chunk) {
        const int nt = static_cast<int>(std::min<int64_t>(chunk, tb - t0));
        K.wino4x3_input_tiles(g.h, g.w, g.cin, x, t0, nt, v, vs);
        K.wino4x3_grad_tiles(g.h, g.w, g.cout, gy, t0, nt, m, ms);
        const ConvGeom gn = gemm_geom(nt, g.cin, g.cout);
        for (int xi = 0; xi < kWinoXi; ++xi)
          K.conv_bwdw_tiles(gn, v + xi * vs, roff.data(), m + xi * ms, g.cout, nt, 0, ntl, dus + xi * us);
      }
    }
  }, (T / nslice) * kWinoXi * int64_t(g.cin) * g.cout);
  // gw[ky][kx] = sum_{a,b} G[a][ky] dU[a][b] G[b][kx] with dU the sum of the partials in
  // slice order, in double.
  const int64_t cc = int64_t(g.cin) * g.cout;
  parallel_for(g.cin, [&](int64_t b, int64_t e) {
    for (int64_t ci = b; ci < e; ++ci) {
      // The partials of row ci, added into slice 0's in slice order.
      for (int xi = 0; xi < kWinoXi; ++xi) {
        float* d0 = du + xi * us + ci * ldw;
        for (int64_t sl = 1; sl < nslice; ++sl) {
          const float* ds = d0 + sl * kWinoXi * us;
          for (int co = 0; co < g.cout; ++co) d0[co] += ds[co];
        }
      }
      for (int co = 0; co < g.cout; ++co) {
        double d[kWinoAlpha][kWinoAlpha], t[3][kWinoAlpha];
        for (int a = 0; a < kWinoAlpha; ++a)
          for (int b2 = 0; b2 < kWinoAlpha; ++b2) d[a][b2] = du[(a * kWinoAlpha + b2) * us + ci * ldw + co];
        for (int ky = 0; ky < 3; ++ky)
          for (int b2 = 0; b2 < kWinoAlpha; ++b2) {
            double acc = 0;
            for (int a = 0; a < kWinoAlpha; ++a) acc += kG[a][ky] * d[a][b2];
            t[ky][b2] = acc;
          }
        for (int ky = 0; ky < 3; ++ky)
          for (int kx = 0; kx < 3; ++kx) {
            double acc = 0;
            for (int b2 = 0; b2 < kWinoAlpha; ++b2) acc += t[ky][b2] * kG[b2][kx];
            gw[(ky * 3 + kx) * cc + ci * g.cout + co] = static_cast<float>(acc);
          }
      }
    }
  }, int64_t(g.cout) * (400 + kWinoXi * nslice));
  if (gb) {
    // Fixed blocks of pixels (never a function of the thread count): each block's per-channel
    // float sums (vectorised over channels), then the blocks added in order in double.
    const int64_t npix = int64_t(g.n) * g.h * g.w;
    constexpr int64_t kBlock = 1024;
    const int64_t nb = (npix + kBlock - 1) / kBlock;
    std::vector<float> part(size_t(nb * g.cout));
    parallel_for(nb, [&](int64_t b, int64_t e) {
      for (int64_t blk = b; blk < e; ++blk) {
        float* acc = part.data() + blk * g.cout;
        std::fill_n(acc, g.cout, 0.f);
        const int64_t p1 = std::min(npix, (blk + 1) * kBlock);
        for (int64_t i = blk * kBlock; i < p1; ++i) {
          const float* p = gy + i * g.cout;
          for (int co = 0; co < g.cout; ++co) acc[co] += p[co];
        }
      }
    }, kBlock * g.cout);
    for (int co = 0; co < g.cout; ++co) {
      double sum = 0;
      for (int64_t blk = 0; blk < nb; ++blk) sum += part[size_t(blk * g.cout + co)];
      gb[co] = static_cast<float>(sum);
    }
  }
}

}  // namespace qsr
