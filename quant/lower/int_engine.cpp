// Lowering of a QuantModel to the integer kernels, and its execution (int_engine.h).
#include "quant/lower/int_engine.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <limits>
#include <atomic>
#include <mutex>
#include <new>

#include "engine/autograd.h"
#include "engine/f32_drivers.h"
#include "engine/ops.h"
#include "engine/parallel.h"
#include "layers/fake_quant.h"
#include "quant/infer/infer_format.h"
#include "quant/observer.h"

namespace qsr::quant {

namespace {

// quant::fake_quantize (the reference) through the kernel set's SIMD fake-quant kernels, which
// are bit for bit the same for the deterministic roundings (layers/fake_quant.h); the reference
// otherwise.
Tensor fake_quantize_fast(const Tensor& x, const QFormat& f, const QParams& p, const FqKernels& k) {
  if (f.rounding != Rounding::half_even && f.rounding != Rounding::half_away) return fake_quantize(x, f, p);
  NoGradGuard ng;
  return fake_quant(Var(x), f, p, nullptr, &k).value();
}

}  // namespace

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

namespace {

constexpr int64_t kI32Max = std::numeric_limits<int32_t>::max();

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

int bits_of(double bound) {
  int b = 1;
  while (std::ldexp(1.0, b - 1) - 1 < bound) ++b;
  return b;
}


// The weight that window-row element j of kernel row ky multiplies for channel c, for pixels
// `cs` elements apart (column j / cs, input channel j % cs; 0 past the kernel, cin or cout).
struct WindowWeights {
  const std::vector<int32_t>& w;  // HWIO codes
  int k, cin, cout, cs;
  int32_t operator()(int ky, int j, int c) const {
    const int kx = j / cs, ci = j % cs;
    if (kx >= k || ci >= cin || c >= cout) return 0;
    return w[((size_t(ky) * k + kx) * cin + ci) * cout + c];
  }
};

// Packs weights into one layout of int_kernels.h: E elements per step (2: int16 pairs, 4: u8
// quads), `steps` steps per kernel row, blocks [block][ky][step][lanes][E] of 16 channels
// (nvec of them) then one of 8 (tail); the last ndot channels as dot-product rows of dotlen
// (k*cs rounded up to dot_align) elements.
template <class T, class Window>
void pack_blocks(const Window& W, int E, int steps, int nvec, int tail, int ndot, PackVec<T>& pack,
                 int dot_align, PackVec<T>& dot, int& dotlen) {
  const int k = W.k;
  pack.assign(size_t(nvec) * k * steps * 16 * E + size_t(tail) * k * steps * E, 0);
  T* p = pack.data();
  auto block = [&](int c0, int lanes) {
    for (int ky = 0; ky < k; ++ky)
      for (int t = 0; t < steps; ++t)
        for (int l = 0; l < lanes; ++l)
          for (int e = 0; e < E; ++e) *p++ = static_cast<T>(c0 + l < W.cout - ndot ? W(ky, E * t + e, c0 + l) : 0);
  };
  for (int cb = 0; cb < nvec; ++cb) block(cb * 16, 16);
  if (tail) block(nvec * 16, 8);
  dotlen = (k * W.cs + dot_align - 1) / dot_align * dot_align;
  dot.assign(size_t(ndot) * k * dotlen, 0);
  for (int d = 0; d < ndot; ++d)
    for (int ky = 0; ky < k; ++ky)
      for (int j = 0; j < k * W.cs; ++j) dot[(size_t(d) * k + ky) * dotlen + j] = static_cast<T>(W(ky, j, W.cout - ndot + d));
}

// A code buffer of n images: int16 codes, or bytes u = code - off (the u8 path; int_kernels.h);
// rows of w + 2*pad + 3 pixels of cs elements, with a border of `pad` pixels (and the extra
// columns) and a tail that tiles may read past the end.
struct CodeBuf {
  int n = 0, h = 0, w = 0, c = 0, cs = 1, pad = 0;
  bool bytes = false;
  int32_t off = 0;  // bytes: the stored value is code - off
  int64_t row = 0, img = 0, size = 0, cap = 0;
  std::unique_ptr<int16_t[]> data;  // uninitialised: the producer writes the interior, fill_border the rest
  void shape(int n_, int h_, int w_, int c_, int pad_, bool bytes_ = false, int32_t off_ = 0) {
    n = n_, h = h_, w = w_, c = c_, pad = pad_, bytes = bytes_, off = off_;
    cs = int_channel_stride(c, bytes);
    row = int_buffer_row(w, pad, cs, bytes);
    img = int64_t(h + 2 * pad) * row;
    const int64_t slack = int_read_slack(cs, row);
    size = n * img + slack;  // elements
    const int64_t words = bytes ? (size + 1) / 2 : size;
    if (words > cap) {
      data.reset(new int16_t[size_t(words)]);
      cap = words;
    }
  }
  int16_t* image(int b) { return data.get() + b * img; }  // the padded image's corner
  uint8_t* image8(int b) { return reinterpret_cast<uint8_t*>(data.get()) + b * img; }
  int16_t* interior(int b) { return image(b) + pad * row + int64_t(pad) * cs; }
  uint8_t* interior8(int b) { return image8(b) + pad * row + int64_t(pad) * cs; }
  // The border, the padding channels and the tail hold the zero point.
  void fill_border(int32_t zp) {
    if (bytes) fill(reinterpret_cast<uint8_t*>(data.get()), static_cast<uint8_t>(zp - off));
    else fill(data.get(), static_cast<int16_t>(zp));
  }
  template <class T>
  void fill(T* d, T v) {
    if (cs != c) {
      std::fill(d, d + size, v);
      return;
    }
    for (int b = 0; b < n; ++b) {
      T* im = d + b * img;
      std::fill(im, im + pad * row, v);
      std::fill(im + (pad + h) * row, im + img, v);
      for (int y = pad; y < pad + h; ++y) {
        std::fill(im + y * row, im + y * row + int64_t(pad) * cs, v);
        std::fill(im + y * row + int64_t(pad + w) * cs, im + (y + 1) * row, v);
      }
    }
    std::fill(d + n * img, d + size, v);
  }
};

// Window weights of every channel as one array: [c][ky][j] for j < len (k*cs rounded up),
// the layout the u8 path's pairs (j, j + 1), j even, run over.
struct WindowArray {
  std::vector<int32_t> v;
  int k = 1, cout = 1, cs = 1, len = 0;
  WindowArray(const WindowWeights& W, int len_) : v(size_t(W.cout) * W.k * len_, 0), k(W.k), cout(W.cout), cs(W.cs), len(len_) {
    for (int c = 0; c < cout; ++c)
      for (int ky = 0; ky < k; ++ky)
        for (int j = 0; j < len; ++j) at(ky, j, c) = W(ky, j, c);
  }
  int32_t& at(int ky, int j, int c) { return v[(size_t(c) * k + ky) * len + j]; }
  int32_t operator()(int ky, int j, int c) const { return j < len ? v[(size_t(c) * k + ky) * len + j] : 0; }
};

// The largest value of one sign a vpmaddubsw pair (a, b) times u8 codes in [0, umax] can take.
int64_t pair_reach(int64_t umax, int32_t a, int32_t b) {
  return umax * std::max(std::max(a, 0) + std::max(b, 0), -(std::min(a, 0) + std::min(b, 0)));
}

// The order of a u8 conv's input channels in its buffer (order[p] = the channel at position
// p), chosen so that few of its vpmaddubsw pairs -- positions (2i, 2i + 1) -- could saturate
// and need splitting (int_kernels.h), and that the split ones share quads. w: HWIO codes;
// out_order: the order of its output channels (which 8-channel half-blocks they fall in).
// Greedy matching (the channel in most conflicts first, with its least conflicting
// partner), improved by exchanging partners between two pairs while that helps, then pairs
// joined into quads by the half-block steps their conflicts share. Deterministic.
std::vector<int> choose_pairing(const std::vector<int32_t>& w, int k, int cin, int cout, int64_t umax,
                                const std::vector<int>& out_order) {
  const int taps = k * k;
  auto W = [&](int t, int ci, int co) { return w[(size_t(t) * cin + ci) * cout + out_order[size_t(co)]]; };
  auto bad = [&](int t, int a, int b, int co) { return pair_reach(umax, W(t, a, co), W(t, b, co)) > 32767; };
  std::vector<int> conf(size_t(cin) * cin, 0), total(size_t(cin), 0);
  for (int a = 0; a < cin; ++a)
    for (int b = a + 1; b < cin; ++b) {
      int n = 0;
      for (int t = 0; t < taps; ++t)
        for (int co = 0; co < cout; ++co) n += bad(t, a, b, co);
      conf[size_t(a) * cin + b] = conf[size_t(b) * cin + a] = n;
      total[size_t(a)] += n, total[size_t(b)] += n;
    }
  std::vector<int> order(static_cast<size_t>(cin));
  for (int c = 0; c < cin; ++c) order[size_t(c)] = c;
  auto cost = [&](int a, int b) { return conf[size_t(a) * cin + b]; };
  int identity_cost = 0;
  for (int p = 0; p + 1 < cin; p += 2) identity_cost += cost(p, p + 1);
  if (identity_cost == 0) return order;
  // Greedy matching.
  std::vector<char> used(size_t(cin), 0);
  std::vector<std::pair<int, int>> pairs;
  for (int m = 0; m + 1 < cin; m += 2) {
    int a = -1;
    for (int c = 0; c < cin; ++c)
      if (!used[size_t(c)] && (a < 0 || total[size_t(c)] > total[size_t(a)])) a = c;
    used[size_t(a)] = 1;
    int b = -1;
    for (int c = 0; c < cin; ++c)
      if (!used[size_t(c)] && (b < 0 || cost(a, c) < cost(a, b) || (cost(a, c) == cost(a, b) && total[size_t(c)] > total[size_t(b)])))
        b = c;
    used[size_t(b)] = 1;
    pairs.push_back({a, b});
  }
  // Exchanges between two pairs.
  for (int pass = 0; pass < 20; ++pass) {
    bool better = false;
    for (size_t i = 0; i < pairs.size(); ++i)
      for (size_t j = i + 1; j < pairs.size(); ++j) {
        auto [a, b] = pairs[i];
        auto [c, d] = pairs[j];
        const int now = cost(a, b) + cost(c, d);
        if (cost(a, c) + cost(b, d) < now) pairs[i] = {a, c}, pairs[j] = {b, d}, better = true;
        else if (cost(a, d) + cost(b, c) < now) pairs[i] = {a, d}, pairs[j] = {b, c}, better = true;
      }
    if (!better) break;
  }
  // Quads: pairs joined by the (tap, half-block) steps in which both have a conflict.
  std::vector<std::vector<char>> cells(pairs.size(), std::vector<char>(size_t(taps) * ((cout + 7) / 8), 0));
  std::vector<int> ncell(pairs.size(), 0);
  for (size_t i = 0; i < pairs.size(); ++i)
    for (int t = 0; t < taps; ++t)
      for (int co = 0; co < cout; ++co)
        if (bad(t, pairs[i].first, pairs[i].second, co)) {
          char& c = cells[i][size_t(t) * ((cout + 7) / 8) + co / 8];
          ncell[i] += !c;
          c = 1;
        }
  std::vector<char> done(pairs.size(), 0);
  std::vector<int> out;
  for (size_t m = 0; m < pairs.size(); m += 2) {  // two pairs placed per pass
    size_t i = pairs.size();
    for (size_t c = 0; c < pairs.size(); ++c)
      if (!done[c] && (i == pairs.size() || ncell[c] > ncell[i])) i = c;
    done[i] = 1;
    out.push_back(pairs[i].first), out.push_back(pairs[i].second);
    size_t best = pairs.size();
    int shared_best = -1;
    for (size_t c = 0; c < pairs.size(); ++c) {
      if (done[c]) continue;
      int shared = 0;
      for (size_t x = 0; x < cells[i].size(); ++x) shared += cells[i][x] && cells[c][x];
      if (shared > shared_best || (shared == shared_best && ncell[c] > ncell[best])) best = c, shared_best = shared;
    }
    if (best == pairs.size()) break;
    done[best] = 1;
    out.push_back(pairs[best].first), out.push_back(pairs[best].second);
  }
  for (int c = 0; c < cin; ++c)
    if (!used[size_t(c)]) out.push_back(c);  // an odd count's last channel (paired with padding)
  int cost_new = 0;
  for (size_t p = 0; p + 1 < out.size(); p += 2) cost_new += cost(out[p], out[p + 1]);
  if (cost_new >= identity_cost) return order;
  return out;
}

}  // namespace

struct IntEngine::Impl {
  QuantModel q;
  const KernelSet* S = nullptr;
  const IntKernels* K = nullptr;  // S->ints
  LowerOptions opt;
  struct Layer {
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
    double u8_cost = 0;                  // the u8 path's instruction count (try_u8)
    bool wino = false;                   // Winograd F(2x2, 3x3) (int_kernels.h)
    PackVec<int16_t> wino_u;
    PackVec<int8_t> xw, wdot8x;
    std::vector<double> sw;      // weight scale per channel (dynamic)
    std::vector<float> fbias;    // float bias, padded (dynamic)
    bool wide = false;
    int chunk = 0;
    int32_t zo = 0, lo = 0, hi = 0;
    bool away = false;
    Tensor kernel, bias;         // float layers: the effective weights
    std::vector<uint16_t> wf16;  // float16 layers: packed halves
    IntLayerInfo info;
  };
  std::vector<Layer> layers;
  std::vector<IntLayerInfo> infos;
  // The workspace of forward(), kept between calls (no page faults on every frame); forward
  // holds the lock while it runs.
  mutable std::mutex mu;
  mutable CodeBuf bufs[2];
  mutable std::vector<Tensor> fbufs;  // per conv: a dynamic-range conv's f32 output

  void lower();
  void lower_integer(size_t i, Layer& L, const std::vector<int>& in_order, const std::vector<int>& out_order);
  static void pack(Layer& L, const std::vector<int32_t>& w);
  void try_u8(Layer& L, const std::vector<int32_t>& w, const QFormat& in, int64_t zin, const std::vector<int64_t>& bq) const;
  void try_wino(Layer& L, const std::vector<int32_t>& w, const QFormat& in) const;
  Tensor float_conv(const Tensor& x, const Layer& L) const;
};

// The reference's float conv (quant::float_conv) on the set's f32 table.
Tensor IntEngine::Impl::float_conv(const Tensor& x, const Layer& L) const {
  return quant::float_conv(x, L.kernel, L.bias, L.act, FloatPath{opt.conv_algo, S->f32});
}

namespace {

// Checks that codes of `f` fit the engine's int16 buffers.
void check_int16(const QFormat& f, const std::string& what) {
  QSR_CHECK(f.qmin() >= -32768 && f.qmax() <= 32767,
            fmt::format("the integer engine keeps codes in int16; {} ({}) does not fit (run it with --simulate)", what,
                        f.describe()));
}

}  // namespace

// Packs HWIO codes into the blocks of int_kernels.h.
void IntEngine::Impl::pack(Layer& L, const std::vector<int32_t>& w) {
  const int cout = L.cout;
  const IntBlocks b = int_blocks(cout);
  L.nvec = b.nvec, L.tail = b.tail, L.ndot = b.ndot;
  pack_blocks(WindowWeights{w, L.k, L.cin, cout, L.cs}, 2, L.T, L.nvec, L.tail, L.ndot, L.wpack, 16, L.wdot, L.dotlen);
  L.wsum.assign(size_t(cout), 0);
  for (size_t j = 0; j < w.size(); ++j) L.wsum[j % size_t(cout)] += w[j];
}

// The u8 path (int_kernels.h): input codes spanning at most 256 values and weights in int8.
// A pair (a, b) that could saturate vpmaddubsw's int16 (pair_reach > 32767; on AVX2 and
// scalar tables) is split into a main and a residual pair, each within reach (both weights
// have one sign there: the excess moves into the residual, the larger weight first).
void IntEngine::Impl::try_u8(Layer& L, const std::vector<int32_t>& w, const QFormat& in, int64_t zin,
                             const std::vector<int64_t>& bq) const {
  const int64_t umax = int64_t(in.qmax()) - in.qmin();
  if (umax > 255) return;
  for (int32_t v : w)
    if (v < -128 || v > 127) return;
  const int k = L.k, cout = L.cout;
  const int cs = int_channel_stride(L.cin, true);
  const int T4 = (k * cs + 3) / 4;
  const WindowWeights weight{w, k, L.cin, cout, cs};
  std::vector<int32_t> beff(L.beff.size(), 0);
  for (int c = 0; c < cout; ++c) {
    const int64_t b = bq[size_t(c)] + (int64_t(in.qmin()) - zin) * L.wsum[size_t(c)];
    if (std::abs(b) > kI32Max) return;
    beff[size_t(c)] = static_cast<int32_t>(b);
  }
  // vpdpbusd (the AVX512-VNNI table) adds u8 x s8 products without an int16 intermediate:
  // exact for any pairs when every step widens (kacc = 1, the tiles that use it).
  const bool vnni = K->isa == Isa::avx512;
  const int64_t lim = 32767 / std::max<int64_t>(umax, 1);  // the largest one-sign pair sum
  WindowArray main(weight, 4 * T4), resid = main;
  std::fill(resid.v.begin(), resid.v.end(), 0);
  int64_t pairmax = 0;
  int64_t nsplit = 0;
  for (int c = 0; c < cout; ++c)
    for (int ky = 0; ky < k; ++ky)
      for (int j = 0; j < 4 * T4; j += 2) {
        int32_t& a = main.at(ky, j, c);
        int32_t& b = main.at(ky, j + 1, c);
        if (!vnni && pair_reach(umax, a, b) > 32767) {
          // One sign (a pair of opposite signs reaches at most umax * 128 <= 32640).
          const int32_t sg = a + b > 0 ? 1 : -1;
          int32_t excess = std::abs(a + b) - int32_t(lim);  // <= 256 - lim <= lim
          int32_t& big = std::abs(a) >= std::abs(b) ? a : b;
          int32_t& small = &big == &a ? b : a;
          const int32_t from_big = std::min(excess, std::abs(big));
          big -= sg * from_big;
          small -= sg * (excess - from_big);
          resid.at(ky, j, c) = weight(ky, j, c) - a;
          resid.at(ky, j + 1, c) = weight(ky, j + 1, c) - b;
          ++nsplit;
        }
        pairmax = std::max(pairmax, pair_reach(umax, a, b));
      }
  // Steps summed in int16 before widening, counted over the whole window (k rows of T4).
  const int kacc =
      nsplit || pairmax > 32767 ? 1 : pairmax > 0 ? int(std::min<int64_t>(int64_t(k) * T4, 32767 / pairmax)) : k * T4;
  // The residual steps per half-block of 8 channels (then the leftover channels' residual rows).
  const int cmain = cout - L.ndot;
  const int nhalf = 2 * L.nvec + (L.tail ? 1 : 0);
  std::vector<int32_t> xbeg{0}, xky, xt;
  PackVec<int8_t> xw;
  for (int hb = 0; hb < nhalf && nsplit; ++hb) {
    for (int ky = 0; ky < k; ++ky)
      for (int t = 0; t < T4; ++t) {
        bool any = false;
        for (int l = 0; l < kIntHalf; ++l)
          for (int e = 0; e < 4; ++e) any |= hb * kIntHalf + l < cmain && resid(ky, 4 * t + e, hb * kIntHalf + l) != 0;
        if (!any) continue;
        xky.push_back(ky);
        xt.push_back(t);
        for (int l = 0; l < kIntHalf; ++l)
          for (int e = 0; e < 4; ++e) {
            const int c = hb * kIntHalf + l;
            xw.push_back(static_cast<int8_t>(c < cmain ? resid(ky, 4 * t + e, c) : 0));
          }
      }
    xbeg.push_back(int32_t(xky.size()));
  }
  // The u8 path only where it takes fewer vector instructions per 8 output channels and pixel
  // than the int16 one (measured alike on AVX2): a u8 step 3.5 (vpmaddubsw, vpmaddwd, vpaddd
  // and half a broadcast), a split step 4 (its own broadcast), a step summed in int16 2.5 and
  // 2 per widening; an int16 pair step 2.5 (vpmaddwd, vpaddd, half a broadcast). VNNI: always.
  double u8cost = 0;
  if (!vnni && !opt.force_u8) {
    const double steps = double(k) * T4;
    u8cost = kacc > 1 ? (2.5 + 2.0 / kacc) * steps : 3.5 * steps + (nhalf ? 4.0 * double(xky.size()) / nhalf : 0.0);
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
  pack_blocks(main, 4, T4, L.nvec, L.tail, L.ndot, L.wpack8, 32, L.wdot8, L.dotlen8);
  L.info.split_pairs = nsplit;
  L.info.split_steps = int64_t(xky.size());
  L.info.main_steps = int64_t(nhalf) * k * T4;
  L.xbeg.clear(), L.xky.clear(), L.xt.clear(), L.xw.clear(), L.wdot8x.clear();
  if (!xky.empty()) L.xbeg = std::move(xbeg), L.xky = std::move(xky), L.xt = std::move(xt), L.xw = std::move(xw);
  bool dot_resid = false;
  for (int d = 0; d < L.ndot; ++d)
    for (int ky = 0; ky < k; ++ky)
      for (int j = 0; j < 4 * T4; ++j) dot_resid |= resid(ky, j, cmain + d) != 0;
  if (dot_resid) {
    PackVec<int8_t> unused;
    int dl = 0;
    pack_blocks(resid, 4, T4, 0, 0, L.ndot, unused, 32, L.wdot8x, dl);
  }
}

// Winograd F(2x2, 3x3) on the AVX2 table (int_kernels.h) for a 3x3 integer or dynamic-range
// conv with cin and cout multiples of 16, when nothing leaves its integer type: |V| <= 4 max|code| and |U2| fit
// int16, and every output's 9 position sums, each at most 4 max|code| * sum over cin |U2|,
// fit int32 (the direct form's bounds hold for the result, which is the same integer). Taken
// where it counts fewer vector instructions per 8 output channels and pixel than the path
// chosen so far (try_u8's count): 16 positions x cin/2 pair steps of 2.5 per 4 outputs,
// measured 15% above that, plus the transforms; a u8 path summing many steps in int16 (w4a4)
// stays.
void IntEngine::Impl::try_wino(Layer& L, const std::vector<int32_t>& w, const QFormat& in) const {
  if (K->isa != Isa::avx2 || L.k != 3 || L.cin % 16 || L.cout % 16) return;
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

// in_order / out_order: the buffer order of the input / output channels (empty: as in the
// model; lower() chooses them for the u8 path's pairs).
void IntEngine::Impl::lower_integer(size_t i, Layer& L, const std::vector<int>& in_order,
                                    const std::vector<int>& out_order) {
  const WeightQuant& wq = q.weights[i];
  const ActQuant& ai = q.acts[i];
  const std::string name = fmt::format("conv{}", i + 1);
  check_int16(ai.fmt, fmt::format("the input of {}", name));
  std::vector<int32_t> w = codes_to_int32(wq.codes);
  auto oc = [&](int c) { return out_order.empty() ? c : out_order[size_t(c)]; };  // model channel at position c
  if (!in_order.empty() || !out_order.empty()) {
    const std::vector<int32_t> src = w;
    for (int t = 0; t < L.k * L.k; ++t)
      for (int ci = 0; ci < L.cin; ++ci)
        for (int co = 0; co < L.cout; ++co)
          w[(size_t(t) * L.cin + ci) * L.cout + co] =
              src[(size_t(t) * L.cin + (in_order.empty() ? ci : in_order[size_t(ci)])) * L.cout + oc(co)];
  }
  int64_t wabs = 0;
  for (int32_t v : w) {
    QSR_CHECK(v > -32768 && v <= 32767,
              fmt::format("the integer engine needs {}'s weight codes in [-32767, 32767] (run it with --simulate)", name));
    wabs = std::max<int64_t>(wabs, std::abs(int64_t(v)));
  }
  pack(L, w);
  const size_t cpad = size_t(int_channel_pad(L.cout));
  auto s_w = [&](int c) { return wq.params.scale[wq.params.size() == 1 ? 0 : size_t(oc(c))]; };
  std::vector<int64_t> l1(size_t(L.cout), 0);
  for (size_t j = 0; j < w.size(); ++j) l1[j % size_t(L.cout)] += std::abs(int64_t(w[j]));
  const int64_t xabs = std::max(std::abs(int64_t(ai.fmt.qmin())), std::abs(int64_t(ai.fmt.qmax())));
  L.beff.assign(cpad, 0);
  L.beff64.assign(cpad, 0);
  L.m0.assign(cpad, 0);
  L.m0_32.assign(cpad, 0);
  L.shift.assign(cpad, 62);
  L.sw.assign(cpad, 0);
  L.fbias.assign(cpad, 0);
  const float* bias = q.biases[i].f32();
  double worst = 0, ybound = 0;
  bool fits = true;
  if (L.path == LayerPath::dynamic) {
    // s8 affine input of any zero point in [qmin, qmax]: |code| <= xabs, |code - zp| <= qmax - qmin.
    const int64_t span = int64_t(ai.fmt.qmax()) - ai.fmt.qmin();
    for (int c = 0; c < L.cout; ++c) {
      L.sw[size_t(c)] = double(s_w(c));
      L.fbias[size_t(c)] = bias[oc(c)];
      worst = std::max(worst, double(span) * double(l1[size_t(c)]));
      fits = fits && xabs * l1[size_t(c)] <= kI32Max && span * l1[size_t(c)] <= kI32Max &&
             xabs * std::abs(L.wsum[size_t(c)]) <= kI32Max;
    }
    if (fits && opt.allow_winograd) try_wino(L, w, ai.fmt);
  } else {
    const ActQuant& ao = q.acts[i + 1];
    check_int16(ao.fmt, fmt::format("the output of {}", name));
    const float s_in = ai.params.scale[0], s_out = ao.params.scale[0];
    const int64_t zin = ai.params.zero_point[0];
    const int64_t span = std::max<int64_t>(ai.fmt.qmax() - zin, zin - ai.fmt.qmin());
    std::vector<int64_t> bqs(size_t(L.cout));
    for (int c = 0; c < L.cout; ++c) {
      const double s_acc = double(s_in) * double(s_w(c));
      const Multiplier m = quantize_multiplier(s_acc / double(s_out));
      const int64_t bq = quantize_bias(bias[oc(c)], s_acc);
      bqs[size_t(c)] = bq;
      const int64_t beff = bq - zin * L.wsum[size_t(c)];
      const double tb = double(span) * double(l1[size_t(c)]) + double(std::abs(bq));
      worst = std::max(worst, tb);
      fits = fits && xabs * l1[size_t(c)] <= kI32Max && tb <= double(kI32Max) && std::abs(beff) <= kI32Max;
      L.beff64[size_t(c)] = beff;
      L.beff[size_t(c)] = static_cast<int32_t>(std::clamp<int64_t>(beff, INT32_MIN, INT32_MAX));
      L.m0_32[size_t(c)] = m.m0;
      L.m0[size_t(c)] = m.m0;
      L.shift[size_t(c)] = m.m0 == 0 ? 62 : m.shift;
      ybound = std::max(ybound, tb * multiplier_value(m) + 1);
    }
    if (fits && opt.allow_u8) try_u8(L, w, ai.fmt, zin, bqs);
    if (fits && opt.allow_winograd) try_wino(L, w, ai.fmt);
    L.zo = ao.params.zero_point[0];
    L.lo = L.act == Activation::relu ? std::max(ao.fmt.qmin(), L.zo) : ao.fmt.qmin();
    L.hi = ao.fmt.qmax();
    L.away = ao.fmt.rounding == Rounding::half_away;
  }
  L.wide = !fits;
  if (L.wide) {
    QSR_CHECK(L.path == LayerPath::integer, fmt::format("{}: dynamic-range accumulators beyond int32", name));
    // Exact int64 beff (the clamp above only bounds the int32 copy), one int32 chunk per
    // `chunk` pair steps: 2 * chunk * xabs * wabs < 2^31.
    L.chunk = int(std::max<int64_t>(1, kI32Max / std::max<int64_t>(1, 2 * xabs * wabs)));
  } else {
    // |acc| < 2^31: a shift above 62 rounds every product to 0 (int_kernels.h).
    for (size_t c = 0; c < cpad; ++c)
      if (L.shift[c] > 62) L.m0[c] = L.m0_32[c] = 0, L.shift[c] = 62;
    // The requantisation arithmetic (int_kernels.h): double when that gives the exact result,
    // int32 clamping when the result provably fits (|y| + |zo| < 2^31). double is exact when
    // the product acc * m0 * 2^-shift is (|acc| < 2^22), and also when every channel's shift
    // keeps its one rounding from deciding anything: the exact y = acc * m0 / 2^shift is a
    // multiple of 2^-shift, so a y that is not a tie lies at least 2^-shift from one, while
    // the rounding moves it by at most |y| * 2^-53; that is less for |y| < 2^(53 - shift). A
    // tie is representable and stays exact. Larger |y| (both exact and rounded) are beyond
    // every code the clamp keeps when 2^(53 - shift) >= reach + 2, and clamp alike.
    if (L.path == LayerPath::integer && ybound < std::ldexp(1.0, 30)) {
      const int64_t reach = std::max<int64_t>(int64_t(L.hi) - L.zo, int64_t(L.zo) - L.lo);
      bool near = true;
      for (int c = 0; c < L.cout; ++c)
        near = near && (L.m0[size_t(c)] == 0 || std::ldexp(1.0, 53 - int(L.shift[size_t(c)])) >= double(reach + 2));
      L.rq = worst < std::ldexp(1.0, 22) || near ? 0 : 1;
    }
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
  L.info.wide = L.wide;
  L.info.u8 = L.u8;
  L.info.winograd = L.wino;
  L.info.kacc = L.kacc;
  L.info.requant = L.path == LayerPath::dynamic ? "float" : L.wide ? "int64 (spec)" : L.rq == 0 ? "double" : L.rq == 1 ? "int64 lanes, int32 clamp" : "int64 lanes";
  L.info.acc_bits = bits_of(worst);
}

void IntEngine::Impl::lower() {
  QSR_CHECK(!q.needs_calibration(), "quantised model: activations are not calibrated");
  const size_t n = q.kernels.size();
  layers.resize(n);
  // The u8 path's channel pairing (choose_pairing) of every integer conv fed by an integer
  // conv, from the last back (a conv's choice looks at its output order); the producer
  // writes its output channels in that order. Not for the VNNI table, which never splits.
  std::vector<std::vector<int>> order(n + 1);
  for (size_t i = n; i-- > 1;) {
    if (!opt.allow_pairing || !opt.allow_u8 || K->isa == Isa::avx512 || !q.integer_layer(int(i)) ||
        !q.integer_layer(int(i - 1)))
      continue;
    const int64_t umax = int64_t(q.acts[i].fmt.qmax()) - q.acts[i].fmt.qmin();
    const std::vector<int32_t> w = codes_to_int32(q.weights[i].codes);
    if (umax > 255 || std::any_of(w.begin(), w.end(), [](int32_t v) { return v < -128 || v > 127; })) continue;
    const Tensor& kt = q.kernels[i];
    const int cout = int(kt.dim(3));
    std::vector<int> out_order = order[i + 1];
    if (out_order.empty())
      for (int c = 0; c < cout; ++c) out_order.push_back(c);
    std::vector<int> o = choose_pairing(w, int(kt.dim(0)), int(kt.dim(2)), cout, umax, out_order);
    bool identity = true;
    for (size_t c = 0; c < o.size(); ++c) identity &= o[c] == int(c);
    if (!identity) order[i] = std::move(o);
  }
  for (size_t i = 0; i < n; ++i) {
    Layer& L = layers[i];
    const Tensor& kt = q.kernels[i];
    L.k = int(kt.dim(0));
    L.cin = int(kt.dim(2));
    L.cout = int(kt.dim(3));
    L.pad = L.k / 2;
    L.cs = int_channel_stride(L.cin, false);
    L.T = (L.k * L.cs + 1) / 2;
    L.act = conv_activation(q.cfg, i);
    L.path = q.integer_layer(int(i))                           ? LayerPath::integer
             : q.dynamic_layer(int(i))                         ? LayerPath::dynamic
             : q.weights[i].kind == WeightKind::f16 ? LayerPath::float16
                                                               : LayerPath::f32;
    if (L.path == LayerPath::integer || L.path == LayerPath::dynamic) {
      lower_integer(i, L, order[i], order[i + 1]);
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

namespace {

using Clock = std::chrono::steady_clock;

// The state between convs: f32 NHWC, or codes in a buffer padded for the next conv.
struct Act {
  Tensor f;          // f32 [n, h, w, c] when !codes
  bool codes = false;
  CodeBuf* buf = nullptr;
  float scale = 1;   // codes: their grid
  int32_t zp = 0;
};

void quantize_into(const IntKernels& K, const Tensor& x, const QFormat& f, float scale, int32_t zp, CodeBuf& buf) {
  const int n = int(x.dim(0)), h = int(x.dim(1)), w = int(x.dim(2)), c = int(x.dim(3));
  for (int b = 0; b < n; ++b) {
    IntQuantArgs a;
    a.x = x.f32() + int64_t(b) * h * w * c;
    a.w = w;
    a.c = c;
    a.scale = scale;
    a.zp = zp;
    a.qmin = f.qmin();
    a.qmax = f.qmax();
    a.away = f.rounding == Rounding::half_away;
    if (buf.bytes) {
      a.out8 = buf.interior8(b);
      a.off = buf.off;
    } else {
      a.out = buf.interior(b);
    }
    a.out_row = buf.row;
    a.out_cs = buf.cs;
    parallel_for(h, [&](int64_t y0, int64_t y1) { K.quantize_rows(a, int(y0), int(y1)); }, int64_t(w) * c * 4);
  }
}

// Codes to f32, (q - zp) * scale. r > 1: the last conv's codes, moved by depth-to-space on
// the way (TensorFlow order: out[y*r + i][x*r + j][ch] = in[y][x][(i*r + j)*C + ch]).
Tensor dequantize_buf(CodeBuf& buf, const QFormat& f, float scale, int32_t zp, int r = 1) {
  const int C = buf.c / (r * r);
  const int rc = r * C;                          // channels that land in one output row, per pixel
  const int64_t orow = int64_t(buf.w) * r * C;  // floats per output row
  Tensor t = Tensor::empty({buf.n, int64_t(buf.h) * r, int64_t(buf.w) * r, C});
  float* o = t.f32();
  // dequantize_value as a table over the format's codes (the same float for the same code).
  std::vector<float> lut(size_t(int64_t(f.qmax()) - f.qmin() + 1));
  for (int64_t q = f.qmin(); q <= f.qmax(); ++q) lut[size_t(q - f.qmin())] = dequantize_value(int32_t(q), scale, zp);
  const float* lu = lut.data() - f.qmin();
  for (int b = 0; b < buf.n; ++b) {
    const int16_t* src = buf.interior(b);
    float* ob = o + int64_t(b) * buf.h * buf.w * buf.c;
    parallel_for(
        buf.h,
        [&](int64_t y0, int64_t y1) {
          // Output row y*r + i holds, per pixel x, channels [i*rc, (i+1)*rc) at (x*r + j)*C + ch: written in order.
          for (int64_t y = y0; y < y1; ++y)
            for (int i = 0; i < r; ++i) {
              const int16_t* sr = src + y * buf.row + int64_t(i) * rc;
              float* dr = ob + (y * r + i) * orow;
              for (int x = 0; x < buf.w; ++x, dr += rc)
                for (int k = 0; k < rc; ++k) dr[k] = lu[sr[int64_t(x) * buf.cs + k]];
            }
        },
        int64_t(buf.w) * buf.c);
  }
  return t;
}


}  // namespace

Tensor IntEngine::forward(const Tensor& x, std::vector<double>* layer_seconds) const {
  const QuantModel& q = impl_->q;
  const EspcnConfig& cfg = q.cfg;
  QSR_CHECK(x.ndim() == 4 && x.dim(3) == cfg.channels && x.dtype() == DType::f32,
            fmt::format("quantised model: input must be f32 [n, h, w, {}], got {}", cfg.channels, shape_str(x.shape())));
  NoGradGuard ng;
  const IntKernels& K = *impl_->K;
  const auto& layers = impl_->layers;
  const size_t L = layers.size();
  const int n = int(x.dim(0)), h = int(x.dim(1)), w = int(x.dim(2));
  if (layer_seconds) layer_seconds->assign(L, 0.0);
  // Two code buffers, alternating.
  std::lock_guard<std::mutex> lock(impl_->mu);
  CodeBuf* bufs = impl_->bufs;
  int next_buf = 0;
  auto t0 = Clock::now();
  bool shuffled = false;  // the output already moved by depth-to-space
  // An f32 tensor onto a grid (format, per-tensor scale and zero point), in a buffer laid
  // out for the integer conv that reads it.
  auto quantize_for = [&](const Tensor& f, const QFormat& fmt, const QParams& p, const auto& reader) {
    CodeBuf& b = bufs[next_buf];
    next_buf ^= 1;
    b.shape(n, h, w, int(f.dim(3)), reader.pad, reader.u8, fmt.qmin());
    b.fill_border(p.zero_point[0]);
    quantize_into(K, f, fmt, p.scale[0], p.zero_point[0], b);
    Act r;
    r.codes = true;
    r.buf = &b;
    r.scale = p.scale[0];
    r.zp = p.zero_point[0];
    return r;
  };
  Act a;
  a.f = x;
  const ActQuant& a0 = q.acts[0];
  if (a0.on && !a0.dynamic) {
    if (layers[0].path == LayerPath::integer) {
      a = quantize_for(x, a0.fmt, a0.params, layers[0]);
    } else {
      a.f = fake_quantize_fast(x, a0.fmt, a0.params, *impl_->S->fq);
    }
  }
  for (size_t i = 0; i < L; ++i) {
    const auto& Ly = layers[i];
    const ActQuant& ao = q.acts[i + 1];
    const bool next_int = i + 1 < L && layers[i + 1].path == LayerPath::integer;
    if (Ly.path == LayerPath::integer || Ly.path == LayerPath::dynamic) {
      IntConvArgs c;
      c.h = h, c.w = w, c.k = Ly.k, c.cs = Ly.cs, c.T = Ly.T;
      c.cout = Ly.cout;
      c.nvec_blocks = Ly.nvec, c.tail_vec = Ly.tail, c.ndot = Ly.ndot;
      c.wpack = Ly.wpack.data();
      c.wdot = Ly.wdot.data();
      c.dotlen = Ly.dotlen;
      c.wide = Ly.wide;
      c.chunk = Ly.chunk;
      if (Ly.wino) c.wino = true, c.wino_u = Ly.wino_u.data();
      if (Ly.u8) {
        c.u8 = true;
        c.cs = Ly.cs8;
        c.T4 = Ly.T4;
        c.kacc = Ly.kacc;
        c.wpack8 = Ly.wpack8.data();
        c.wdot8 = Ly.wdot8.data();
        c.dotlen8 = Ly.dotlen8;
        if (!Ly.xbeg.empty()) {
          c.xbeg = Ly.xbeg.data();
          c.xky = Ly.xky.data();
          c.xt = Ly.xt.data();
          c.xw = Ly.xw.data();
        }
        if (!Ly.wdot8x.empty()) c.wdot8x = Ly.wdot8x.data();
      }
      std::vector<int32_t> beff;
      std::vector<double> fscale;
      Tensor outf;
      CodeBuf* out = nullptr;
      if (Ly.path == LayerPath::dynamic) {
        // The input's own range, per tensor (the reference's dynamic quantisation).
        QSR_CHECK(!a.codes, "integer engine: a dynamic-range conv after an integer one");
        std::vector<float> lo, hi;
        tensor_min_max(a.f, 1, lo, hi);
        const QParams p = params_from_ranges(q.acts[i].fmt, lo, hi);
        a = quantize_for(a.f, q.acts[i].fmt, p, Ly);  // (dynamic convs are never on the u8 path)
        const int64_t zin = p.zero_point[0];
        beff.assign(Ly.beff.size(), 0);
        fscale.assign(Ly.beff.size(), 0);
        for (int ch = 0; ch < Ly.cout; ++ch) {
          beff[size_t(ch)] = static_cast<int32_t>(-zin * Ly.wsum[size_t(ch)]);
          fscale[size_t(ch)] = double(p.scale[0]) * Ly.sw[size_t(ch)];
        }
        c.beff = beff.data();
        c.float_out = true;
        c.fscale = fscale.data();
        c.fbias = Ly.fbias.data();
        c.relu = Ly.act == Activation::relu;
        impl_->fbufs.resize(L);
        Tensor& fb = impl_->fbufs[i];
        if (!fb.defined() || fb.shape() != Shape{n, h, w, Ly.cout}) fb = Tensor::empty({n, h, w, Ly.cout});
        outf = fb;  // read by the next conv only, never returned
      } else {
        QSR_CHECK(a.codes, "integer engine: an integer conv without integer input");
        c.beff = Ly.u8 ? Ly.beff8.data() : Ly.beff.data();
        c.beff64 = Ly.beff64.data();
        c.m0 = Ly.m0.data();
        c.m0_32 = Ly.m0_32.data();
        c.shift = Ly.shift.data();
        c.zo = Ly.zo, c.lo = Ly.lo, c.hi = Ly.hi, c.away = Ly.away;
        c.rq = Ly.rq;
        c.mscale = Ly.mscale.data();
        c.bshift = Ly.bshift.data();
        c.half = Ly.half.data();
        out = &bufs[next_buf];
        next_buf ^= 1;
        const bool next8 = next_int && layers[i + 1].u8;
        out->shape(n, h, w, Ly.cout, next_int ? layers[i + 1].pad : 0, next8, ao.fmt.qmin());
        out->fill_border(Ly.zo);
        c.out_off = out->off;
        c.out_row = out->row;
        c.out_cs = out->cs;
      }
      c.in_row = a.buf->row;
      for (int b = 0; b < n; ++b) {
        IntConvArgs cb = c;
        if (Ly.u8) cb.in8 = a.buf->image8(b);
        else cb.in = a.buf->image(b);
        if (out && out->bytes) cb.out8 = out->interior8(b);
        else if (out) cb.out = out->interior(b);
        if (cb.float_out) cb.outf = outf.f32() + int64_t(b) * h * w * Ly.cout;
        if (Ly.wino)  // whole tile rows (int_kernels.h), a scratch per thread
          parallel_for((h + 1) / 2, [&](int64_t t0, int64_t t1) {
                         thread_local std::vector<char> scratch;
                         scratch.resize(size_t(int_wino_scratch_bytes(cb.cs, cb.cout)));
                         IntConvArgs ct = cb;
                         ct.wino_scratch = scratch.data();
                         K.conv_rows(ct, int(2 * t0), int(std::min<int64_t>(h, 2 * t1)));
                       },
                       int64_t(w) * Ly.cout * Ly.cin * 8);
        else
          parallel_for(h, [&](int64_t y0, int64_t y1) { K.conv_rows(cb, int(y0), int(y1)); },
                       int64_t(w) * Ly.cout * Ly.k * Ly.k * Ly.cin);
      }
      if (Ly.path == LayerPath::dynamic) {
        if (Ly.act == Activation::tanh) outf = qsr::tanh(Var(outf)).value();
        a = Act{};
        a.f = outf;
      } else {
        a.buf = out;
        a.scale = ao.params.scale[0];
        a.zp = ao.params.zero_point[0];
        if (!next_int) {
          // The last conv: depth-to-space on the codes, dequantised as they move.
          a.f = dequantize_buf(*out, ao.fmt, a.scale, a.zp, i + 1 == L ? cfg.scale : 1);
          shuffled = i + 1 == L;
          a.codes = false;
        }
      }
    } else {
      QSR_CHECK(!a.codes, "integer engine: codes reached a float conv");
      Tensor y;
      if (Ly.path == LayerPath::float16) {
        const ConvGeom g{n, h, w, Ly.cin, Ly.cout, Ly.k};
        y = Tensor::empty({n, h, w, Ly.cout});
        conv2d_forward_f16w(*impl_->S->f32, g, a.f.f32(), Ly.wf16.data(), Ly.bias.f32(), y.f32(), Ly.act == Activation::relu);
        if (Ly.act == Activation::tanh) y = qsr::tanh(Var(y)).value();
      } else {
        y = impl_->float_conv(a.f, Ly);
      }
      a = Act{};
      if (ao.on && !ao.dynamic) {
        if (next_int) {
          a = quantize_for(y, ao.fmt, ao.params, layers[i + 1]);
        } else {
          y = fake_quantize_fast(y, ao.fmt, ao.params, *impl_->S->fq);
        }
      }
      a.f = y;
    }
    if (i + 1 == L && !shuffled) a.f = pixel_shuffle(Var(a.f), cfg.scale).value();
    if (layer_seconds) {
      const auto t1 = Clock::now();
      (*layer_seconds)[i] = std::chrono::duration<double>(t1 - t0).count();
      t0 = t1;
    }
  }
  return a.f;
}

std::vector<uint8_t> IntEngine::infer_model() const {
  const Impl& I = *impl_;
  const QuantModel& q = I.q;
  const size_t n = I.layers.size();
  QSR_CHECK(n >= 1 && n <= size_t(infer::kMaxConvs),
            fmt::format("the inference library runs 1 to {} convs; this model has {}", infer::kMaxConvs, n));
  for (size_t i = 0; i < n; ++i)
    QSR_CHECK(I.layers[i].path == LayerPath::integer,
              fmt::format("conv{} runs on the {} path; the inference library runs integer convs only (integer weights "
                          "and static activations: int8, int16x8, wNaM, fixed point)",
                          i + 1, layer_path_name(I.layers[i].path)));
  std::vector<uint8_t> out(sizeof(infer::Header) + n * sizeof(infer::ConvRecord), 0);
  auto align = [&] { out.resize((out.size() + infer::kAlign - 1) / infer::kAlign * infer::kAlign, 0); };
  auto add = [&](const auto& v) {
    infer::ArrayRef r;
    if (v.empty()) return r;
    align();
    r.offset = out.size();
    r.count = v.size();
    const size_t bytes = v.size() * sizeof(v[0]);
    out.resize(out.size() + bytes);
    std::memcpy(out.data() + r.offset, v.data(), bytes);
    return r;
  };
  std::vector<infer::ConvRecord> recs(n);
  for (size_t i = 0; i < n; ++i) {
    const Impl::Layer& L = I.layers[i];
    infer::ConvRecord& R = recs[i];
    R.k = L.k, R.cin = L.cin, R.cout = L.cout, R.cs = L.cs, R.T = L.T;
    R.nvec = L.nvec, R.tail = L.tail, R.ndot = L.ndot, R.dotlen = L.dotlen;
    R.u8 = L.u8, R.cs8 = L.cs8, R.T4 = L.T4, R.kacc = L.kacc, R.dotlen8 = L.dotlen8;
    R.wino = L.wino, R.wide = L.wide, R.chunk = L.chunk, R.rq = L.rq;
    R.zo = L.zo, R.lo = L.lo, R.hi = L.hi, R.away = L.away;
    R.in_zp = q.acts[i].params.zero_point[0];
    R.in_off = q.acts[i].fmt.qmin();
    R.out_u8 = i + 1 < n && I.layers[i + 1].u8;
    R.out_off = q.acts[i + 1].fmt.qmin();
    if (L.u8) {
      R.wpack8 = add(L.wpack8), R.wdot8 = add(L.wdot8), R.xw = add(L.xw), R.wdot8x = add(L.wdot8x);
      R.xbeg = add(L.xbeg), R.xky = add(L.xky), R.xt = add(L.xt);
      R.beff = add(L.beff8);
    } else {
      R.wpack = add(L.wpack), R.wdot = add(L.wdot);
      R.beff = add(L.beff);
    }
    if (L.wino) R.wino_u = add(L.wino_u);
    R.m0_32 = add(L.m0_32);
    if (L.wide) R.beff64 = add(L.beff64);
    R.m0 = add(L.m0), R.shift = add(L.shift), R.bshift = add(L.bshift), R.half = add(L.half), R.mscale = add(L.mscale);
  }
  align();
  infer::Header H{};
  std::memcpy(H.magic, infer::kMagic, sizeof H.magic);
  H.version = infer::kVersion;
  H.header_bytes = sizeof(infer::Header);
  H.total_bytes = out.size();
  H.lanes = I.K->isa == Isa::avx512 ? 16 : 8;
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
  std::snprintf(H.lowered, sizeof H.lowered, "%s", isa_name(I.K->isa) == "avx512" ? "avx512-vnni" : isa_name(I.K->isa).c_str());
  std::memcpy(out.data() + H.records, recs.data(), n * sizeof(infer::ConvRecord));
  std::memcpy(out.data(), &H, sizeof H);
  const uint32_t sum = infer::fnv1a(out.data() + 32, out.size() - 32);
  std::memcpy(out.data() + offsetof(infer::Header, checksum), &sum, sizeof sum);
  return out;
}

}  // namespace qsr::quant
