// The run of a lowered model (IntEngine::forward, int_engine.h): the input quantised once onto
// a0's grid, each conv on its path with codes passed in padded buffers (code_buf.h), the last
// conv's codes moved by depth-to-space and dequantised in one pass.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "engine/autograd.h"
#include "engine/f32_drivers.h"
#include "engine/ops.h"
#include "engine/parallel.h"
#include "layers/fake_quant.h"
#include "quant/lower/engine_impl.h"
#include "quant/observer.h"

namespace qsr::quant {

namespace {

using Clock = std::chrono::steady_clock;

// quant::fake_quantize (the reference) through the kernel set's SIMD fake-quant kernels, which
// are bit for bit the same for the deterministic roundings (layers/fake_quant.h); the reference
// otherwise.
Tensor fake_quantize_fast(const Tensor& x, const QFormat& f, const QParams& p, const FqKernels& k) {
  if (f.rounding != Rounding::half_even && f.rounding != Rounding::half_away) return fake_quantize(x, f, p);
  NoGradGuard ng;
  return fake_quant(Var(x), f, p, nullptr, &k).value();
}

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

// The arguments every row of a conv shares: its geometry and packed weights (int_kernels.h).
IntConvArgs conv_args(const LoweredConv& Ly, int h, int w) {
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
  return c;
}

// Conv `c` over the n images of `in` into `out` (codes) or `outf` (floats), rows in parallel.
void run_conv(const IntKernels& K, const IntConvArgs& c, const LoweredConv& Ly, CodeBuf& in, CodeBuf* out,
              Tensor& outf, int n) {
  const int h = c.h, w = c.w;
  for (int b = 0; b < n; ++b) {
    IntConvArgs cb = c;
    if (Ly.u8) cb.in8 = in.image8(b);
    else cb.in = in.image(b);
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
}

// One call of IntEngine::forward: the activation between convs and the two code buffers it
// alternates between (the engine's, under its lock).
class ForwardPass {
 public:
  ForwardPass(const IntEngineState& I, const Tensor& x)
      : I_(I), q_(I.q), K_(*I.K), layers_(I.layers), n_(int(x.dim(0))), h_(int(x.dim(1))), w_(int(x.dim(2))) {}
  Tensor run(const Tensor& x, std::vector<double>* layer_seconds);

 private:
  const IntEngineState& I_;
  const QuantModel& q_;
  const IntKernels& K_;
  const std::vector<LoweredConv>& layers_;
  const int n_, h_, w_;
  int next_buf_ = 0;
  bool shuffled_ = false;  // the output already moved by depth-to-space
  Act a_;

  bool next_int(size_t i) const { return i + 1 < layers_.size() && layers_[i + 1].path == LayerPath::integer; }
  Act quantize_for(const Tensor& f, const QFormat& fmt, const QParams& p, const LoweredConv& reader);
  void input(const Tensor& x);
  Tensor dynamic_stage(size_t i, IntConvArgs& c, std::vector<int32_t>& beff, std::vector<double>& fscale);
  CodeBuf* integer_stage(size_t i, IntConvArgs& c);
  void integer_conv(size_t i);
  void float_conv(size_t i);
};

// An f32 tensor onto a grid (format, per-tensor scale and zero point), in a buffer laid out
// for the integer conv that reads it.
Act ForwardPass::quantize_for(const Tensor& f, const QFormat& fmt, const QParams& p, const LoweredConv& reader) {
  CodeBuf& b = I_.bufs[next_buf_];
  next_buf_ ^= 1;
  b.shape(n_, h_, w_, int(f.dim(3)), reader.pad, reader.u8, fmt.qmin());
  b.fill_border(p.zero_point[0]);
  quantize_into(K_, f, fmt, p.scale[0], p.zero_point[0], b);
  Act r;
  r.codes = true;
  r.buf = &b;
  r.scale = p.scale[0];
  r.zp = p.zero_point[0];
  return r;
}

void ForwardPass::input(const Tensor& x) {
  a_.f = x;
  const ActQuant& a0 = q_.acts[0];
  if (!a0.on || a0.dynamic) return;
  if (layers_[0].path == LayerPath::integer) a_ = quantize_for(x, a0.fmt, a0.params, layers_[0]);
  else a_.f = fake_quantize_fast(x, a0.fmt, a0.params, *I_.S->fq);
}

// A dynamic-range conv: the input's own range, per tensor (the reference's dynamic
// quantisation), and a float output stage. Returns the conv's f32 output buffer.
Tensor ForwardPass::dynamic_stage(size_t i, IntConvArgs& c, std::vector<int32_t>& beff, std::vector<double>& fscale) {
  const LoweredConv& Ly = layers_[i];
  QSR_CHECK(!a_.codes, "integer engine: a dynamic-range conv after an integer one");
  std::vector<float> lo, hi;
  tensor_min_max(a_.f, 1, lo, hi);
  const QParams p = params_from_ranges(q_.acts[i].fmt, lo, hi);
  a_ = quantize_for(a_.f, q_.acts[i].fmt, p, Ly);  // (dynamic convs are never on the u8 path)
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
  I_.fbufs.resize(layers_.size());
  Tensor& fb = I_.fbufs[i];
  if (!fb.defined() || fb.shape() != Shape{n_, h_, w_, Ly.cout}) fb = Tensor::empty({n_, h_, w_, Ly.cout});
  return fb;  // read by the next conv only, never returned
}

// An integer conv: the lowered output stage, codes written into the buffer the next conv reads.
CodeBuf* ForwardPass::integer_stage(size_t i, IntConvArgs& c) {
  const LoweredConv& Ly = layers_[i];
  const ActQuant& ao = q_.acts[i + 1];
  QSR_CHECK(a_.codes, "integer engine: an integer conv without integer input");
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
  CodeBuf* out = &I_.bufs[next_buf_];
  next_buf_ ^= 1;
  const bool next8 = next_int(i) && layers_[i + 1].u8;
  out->shape(n_, h_, w_, Ly.cout, next_int(i) ? layers_[i + 1].pad : 0, next8, ao.fmt.qmin());
  out->fill_border(Ly.zo);
  c.out_off = out->off;
  c.out_row = out->row;
  c.out_cs = out->cs;
  return out;
}

void ForwardPass::integer_conv(size_t i) {
  const LoweredConv& Ly = layers_[i];
  IntConvArgs c = conv_args(Ly, h_, w_);
  std::vector<int32_t> beff;
  std::vector<double> fscale;
  Tensor outf;
  CodeBuf* out = nullptr;
  if (Ly.path == LayerPath::dynamic) outf = dynamic_stage(i, c, beff, fscale);
  else out = integer_stage(i, c);
  c.in_row = a_.buf->row;
  run_conv(K_, c, Ly, *a_.buf, out, outf, n_);
  if (Ly.path == LayerPath::dynamic) {
    if (Ly.act == Activation::tanh) outf = qsr::tanh(Var(outf)).value();
    a_ = Act{};
    a_.f = outf;
    return;
  }
  const ActQuant& ao = q_.acts[i + 1];
  a_.buf = out;
  a_.scale = ao.params.scale[0];
  a_.zp = ao.params.zero_point[0];
  if (!next_int(i)) {
    // The last conv: depth-to-space on the codes, dequantised as they move.
    const bool last = i + 1 == layers_.size();
    a_.f = dequantize_buf(*out, ao.fmt, a_.scale, a_.zp, last ? q_.cfg.scale : 1);
    shuffled_ = last;
    a_.codes = false;
  }
}

// A float16 or f32 conv (the reference's float path), then the output onto its grid.
void ForwardPass::float_conv(size_t i) {
  const LoweredConv& Ly = layers_[i];
  const ActQuant& ao = q_.acts[i + 1];
  QSR_CHECK(!a_.codes, "integer engine: codes reached a float conv");
  Tensor y;
  if (Ly.path == LayerPath::float16) {
    const ConvGeom g{n_, h_, w_, Ly.cin, Ly.cout, Ly.k};
    y = Tensor::empty({n_, h_, w_, Ly.cout});
    conv2d_forward_f16w(*I_.S->f32, g, a_.f.f32(), Ly.wf16.data(), Ly.bias.f32(), y.f32(), Ly.act == Activation::relu);
    if (Ly.act == Activation::tanh) y = qsr::tanh(Var(y)).value();
  } else {
    // The reference's float conv (quant::float_conv) on the set's f32 table.
    y = quant::float_conv(a_.f, Ly.kernel, Ly.bias, Ly.act, FloatPath{I_.opt.conv_algo, I_.S->f32});
  }
  a_ = Act{};
  if (ao.on && !ao.dynamic) {
    if (next_int(i)) a_ = quantize_for(y, ao.fmt, ao.params, layers_[i + 1]);
    else y = fake_quantize_fast(y, ao.fmt, ao.params, *I_.S->fq);
  }
  a_.f = y;
}

Tensor ForwardPass::run(const Tensor& x, std::vector<double>* layer_seconds) {
  const size_t L = layers_.size();
  if (layer_seconds) layer_seconds->assign(L, 0.0);
  auto t0 = Clock::now();
  input(x);
  for (size_t i = 0; i < L; ++i) {
    const LayerPath path = layers_[i].path;
    if (path == LayerPath::integer || path == LayerPath::dynamic) integer_conv(i);
    else float_conv(i);
    if (i + 1 == L && !shuffled_) a_.f = pixel_shuffle(Var(a_.f), q_.cfg.scale).value();
    if (layer_seconds) {
      const auto t1 = Clock::now();
      (*layer_seconds)[i] = std::chrono::duration<double>(t1 - t0).count();
      t0 = t1;
    }
  }
  return a_.f;
}

}  // namespace

Tensor IntEngine::forward(const Tensor& x, std::vector<double>* layer_seconds) const {
  const EspcnConfig& cfg = impl_->q.cfg;
  QSR_CHECK(x.ndim() == 4 && x.dim(3) == cfg.channels && x.dtype() == DType::f32,
            fmt::format("quantised model: input must be f32 [n, h, w, {}], got {}", cfg.channels, shape_str(x.shape())));
  NoGradGuard ng;
  std::lock_guard<std::mutex> lock(impl_->mu);  // the buffers are the engine's
  return ForwardPass(*impl_, x).run(x, layer_seconds);
}

}  // namespace qsr::quant
