// The inference-only library (qsr_infer.h): a lowered model (infer_format.h) opened in place,
// and its forward as a row pipeline over the integer kernels (engine/kernels/int/int_kernels.h).
//
// Memory. Conv j's input lives in a window of band + k_j rows of its padded buffer (the
// integer engine's layout: int16 codes, or bytes on the u8 path, a border of the conv's
// padding holding the zero point). Conv j computes at most `band` output rows at a time,
// from rows [y0, y0 + n + k_j - 1) of its window; before it does, the window slides so that
// row y0 is its first (the k_j - 1 rows still needed move up, a memmove), and the rows it
// lacks are made on demand: the input rows quantised from the caller's rows, or the previous
// conv's output rows (recursively), or border rows of zero points. The last conv writes its
// codes into a band of rows, which leave as high-res rows (depth-to-space, dequantised) one
// by one. Nothing depends on the image height; nothing is allocated.
//
// Exactness. Every row is computed by the same kernels, on the same codes and borders, as in
// the integer engine's whole-image buffers: the kernels read a row's window relative to the
// pointers they are given (a call for rows [0, n) of the band), and a Winograd call's tile
// rows start at its first row; so the output is the engine's, bit for bit (tests/test_infer).
#include "quant/infer/qsr_infer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <cstdlib>
#include <new>

#include "quant/infer/infer_format.h"
#include "engine/cpu_detect.h"
#include "engine/kernels/int/int_kernels.h"

namespace qsr::infer {
namespace {

using quant::IntConvArgs;
using quant::IntKernels;
using quant::IntQuantArgs;

// The table that runs a model lowered for `lanes`-wide layouts (8: avx2, 16: avx512), through the
// program's one detection and QSR_ISA resolution (engine/cpu_detect.h). QSR_ISA may name scalar
// (the twin runs every layout) or the model's own ISA; any other value, or one this CPU or build
// cannot run, is QSR_INFER_E_ISA. Without it: the model's ISA where it runs, else the scalar twin.
// QSR_INFER_FORCE_SCALAR takes the twin whatever the layout (a bad QSR_ISA is still an error).
int pick_kernels(uint32_t lanes, unsigned flags, const IntKernels** out) {
  const Isa layout = lanes == 16 ? Isa::avx512 : Isa::avx2;
  const CpuFlags cpu = cpu_detect();
  const char* env = std::getenv("QSR_ISA");
  Isa isa = Isa::scalar;
  if (isa_resolve(env, cpu, &isa) != IsaStatus::ok) return QSR_INFER_E_ISA;
  const bool requested = env && *env;
  if (flags & QSR_INFER_FORCE_SCALAR) isa = Isa::scalar;
  else if (requested && isa != Isa::scalar && isa != layout) return QSR_INFER_E_ISA;
  else if (!requested) isa = isa_built(layout) && isa_runnable(layout, cpu) ? layout : Isa::scalar;
  *out = quant::int_table(isa);
  return *out ? QSR_INFER_OK : QSR_INFER_E_ISA;
}

struct Conv {
  const ConvRecord* r = nullptr;
  const int16_t *wpack = nullptr, *wdot = nullptr, *wino_u = nullptr;
  const int8_t *wpack8 = nullptr, *wdot8 = nullptr, *xw = nullptr, *wdot8x = nullptr;
  const int32_t *xbeg = nullptr, *xky = nullptr, *xt = nullptr, *beff = nullptr, *m0_32 = nullptr;
  const int64_t *beff64 = nullptr, *m0 = nullptr, *shift = nullptr, *bshift = nullptr, *half = nullptr;
  const double* mscale = nullptr;
};

constexpr uint32_t kOpen = 0x51534f50;  // marks an opened model

struct Model {
  uint32_t open = 0;
  const unsigned char* base = nullptr;
  size_t bytes = 0;
  const Header* h = nullptr;
  int n = 0;
  const IntKernels* K = nullptr;
  Conv conv[kMaxConvs];
};
static_assert(sizeof(Model) <= sizeof(qsr_infer_model::opaque), "qsr_infer_model is too small");

const Model* model_of(const qsr_infer_model* m) {
  if (!m) return nullptr;
  const Model* M = std::launder(reinterpret_cast<const Model*>(m->opaque.bytes));
  return M->open == kOpen ? M : nullptr;
}

bool in_range(int64_t v, int64_t lo, int64_t hi) { return v >= lo && v <= hi; }

// Points `p` at array `a` of T when it has exactly `want` elements inside the file (want 0:
// absent); false otherwise.
template <class T>
bool bind(const Model& M, const ArrayRef& a, int64_t want, const T*& p) {
  p = nullptr;
  if (want < 0 || a.count != uint64_t(want)) return false;
  if (want == 0) return true;
  if (a.offset % kAlign || a.offset > M.bytes || a.count > (M.bytes - a.offset) / sizeof(T)) return false;
  p = reinterpret_cast<const T*>(M.base + a.offset);
  return true;
}

// Checks one conv record and binds its arrays; false when anything is inconsistent.
bool bind_conv(const Model& M, const ConvRecord& R, uint32_t lanes, Conv& C) {
  C.r = &R;
  if (!in_range(R.k, 1, 15) || R.k % 2 == 0 || !in_range(R.cin, 1, 1024) || !in_range(R.cout, 1, 1024)) return false;
  if (R.cs != quant::int_channel_stride(R.cin, false) || R.T != (R.k * R.cs + 1) / 2) return false;
  const quant::IntBlocks blocks = quant::int_blocks(R.cout);
  const int nvec = blocks.nvec, tail = blocks.tail, ndot = blocks.ndot;
  if (R.nvec != nvec || R.tail != tail || R.ndot != ndot) return false;
  const int64_t lanes_total = int64_t(nvec) * 16 + tail, k = R.k;
  if (R.dotlen != (R.k * R.cs + 15) / 16 * 16) return false;
  if (!in_range(R.rq, 0, 2) || !in_range(R.lo, -32768, 32767) || !in_range(R.hi, R.lo, 32767) || !in_range(R.zo, -32768, 32767))
    return false;
  if (R.wide && R.chunk < 1) return false;
  const int64_t cpad = quant::int_channel_pad(R.cout);
  if (R.u8) {
    if (R.cs8 != quant::int_channel_stride(R.cin, true) || R.T4 != (R.k * R.cs8 + 3) / 4 || R.dotlen8 != (R.k * R.cs8 + 31) / 32 * 32 ||
        R.kacc < 1 || R.wino || R.wide || !in_range(int64_t(R.in_zp) - R.in_off, 0, 255))
      return false;
    if (!bind(M, R.wpack8, lanes_total * k * R.T4 * 4, C.wpack8) || !bind(M, R.wdot8, int64_t(ndot) * k * R.dotlen8, C.wdot8))
      return false;
    if (!bind(M, R.wdot8x, R.wdot8x.count ? int64_t(ndot) * k * R.dotlen8 : 0, C.wdot8x)) return false;
    const int64_t nhalf = 2 * int64_t(nvec) + (tail ? 1 : 0);
    if (R.xbeg.count) {
      if (lanes == 16 || !bind(M, R.xbeg, nhalf + 1, C.xbeg) || C.xbeg[0] != 0) return false;
      for (int64_t i = 0; i < nhalf; ++i)
        if (C.xbeg[i + 1] < C.xbeg[i]) return false;
      const int64_t nx = C.xbeg[nhalf];
      if (!bind(M, R.xky, nx, C.xky) || !bind(M, R.xt, nx, C.xt) || !bind(M, R.xw, nx * quant::kIntHalf * 4, C.xw)) return false;
      for (int64_t e = 0; e < nx; ++e)
        if (!in_range(C.xky[e], 0, R.k - 1) || !in_range(C.xt[e], 0, R.T4 - 1)) return false;
    } else if (R.xky.count || R.xt.count || R.xw.count) {
      return false;
    }
    if (R.wpack.count || R.wdot.count || R.wino_u.count) return false;
  } else {
    if (!bind(M, R.wpack, lanes_total * k * R.T * 2, C.wpack) || !bind(M, R.wdot, int64_t(ndot) * k * R.dotlen, C.wdot)) return false;
    if (R.wpack8.count || R.wdot8.count || R.xbeg.count || R.xw.count || R.wdot8x.count) return false;
    if (R.wino) {
      if (lanes != 8 || R.k != 3 || R.cin % 16 || R.cout % 16 || R.wide ||
          !bind(M, R.wino_u, int64_t(16) * nvec * (R.cs / 2) * 32, C.wino_u))
        return false;
    } else if (R.wino_u.count) {
      return false;
    }
  }
  if (!in_range(R.in_zp, -32768, 32767) || !bind(M, R.beff, cpad, C.beff) || !bind(M, R.m0_32, cpad, C.m0_32) ||
      !bind(M, R.beff64, R.wide ? cpad : 0, C.beff64) || !bind(M, R.m0, cpad, C.m0) || !bind(M, R.shift, cpad, C.shift))
    return false;
  // Wide convs requantise by the specification's 128-bit step (shifts up to 100); the others
  // in 64-bit lanes (shifts up to 62) with their tables.
  const int64_t lanes64 = R.wide ? 0 : cpad;
  if (!bind(M, R.bshift, lanes64, C.bshift) || !bind(M, R.half, lanes64, C.half) || !bind(M, R.mscale, lanes64, C.mscale))
    return false;
  for (int64_t c = 0; c < cpad; ++c)
    if (!in_range(C.shift[c], 1, R.wide ? 100 : 62) || !in_range(C.m0[c], 0, 2147483647) || C.m0[c] != C.m0_32[c] ||
        (!R.wide && (C.bshift[c] != (int64_t(1) << 62) >> C.shift[c] || C.half[c] != int64_t(1) << (C.shift[c] - 1))))
      return false;
  return true;
}

// ---- the row pipeline ----------------------------------------------------------------------

constexpr size_t align64(size_t v) { return (v + 63) / 64 * 64; }

// Conv j's input window, or (j == n) the last conv's band of output codes.
struct Win {
  bool bytes = false;
  int cs = 1, pad = 0, k = 1, cap = 0;
  int64_t row = 0;    // elements per row
  int64_t elems = 0;  // rows and the kernels' read slack
  int32_t fill = 0;   // the stored border value
  size_t off = 0;     // in the arena
};

struct Plan {
  Win win[kMaxConvs + 1];
  size_t scratch_off = 0, in_row_off = 0, out_row_off = 0, bytes = 0;
};

// The arena layout for `w`-wide images, `band` rows at a time; false when too large.
bool plan(const Model& M, int w, int band, Plan& P) {
  if (w < 1 || w > 65536 || band < 1 || band > 4096) return false;
  size_t at = 0;
  int64_t scratch = 0;
  for (int j = 0; j <= M.n; ++j) {
    Win& W = P.win[j];
    if (j < M.n) {
      const ConvRecord& R = *M.conv[j].r;
      W.bytes = R.u8;
      W.cs = R.u8 ? R.cs8 : R.cs;
      W.k = R.k;
      W.pad = R.k / 2;
      W.cap = band + R.k;  // band + k - 1 rows, and the one a Winograd call of an odd row count reads past them
      W.fill = R.u8 ? R.in_zp - R.in_off : R.in_zp;
      if (R.wino) scratch = std::max(scratch, quant::int_wino_scratch_bytes(R.cs, R.cout));
    } else {
      const ConvRecord& R = *M.conv[M.n - 1].r;
      W.cs = quant::int_channel_stride(R.cout, false);
      W.cap = band;
      W.fill = R.zo;
    }
    W.row = quant::int_buffer_row(w, W.pad, W.cs, W.bytes);
    W.elems = int64_t(W.cap) * W.row + quant::int_read_slack(W.cs, W.row);
    W.off = at;
    at = align64(at + size_t(W.elems) * (W.bytes ? 1 : 2));
  }
  P.scratch_off = at;
  at = align64(at + size_t(scratch));
  const int ch = int(M.h->channels), r = int(M.h->scale);
  P.in_row_off = at;
  at = align64(at + sizeof(float) * size_t(w) * ch);
  P.out_row_off = at;
  at = align64(at + sizeof(float) * size_t(w) * r * ch);
  P.bytes = at;
  return true;
}

struct Run {
  const Model& M;
  const Plan& P;
  int w, h, band;
  char* arena;
  qsr_infer_read_row read_row;
  qsr_infer_write_row write_row;
  void* ctx;
  int lo[kMaxConvs] = {}, have[kMaxConvs] = {};  // per window: its first row, rows made so far (padded rows)
  int status = QSR_INFER_OK;

  char* slot(int j, int p) const {
    const Win& W = P.win[j];
    return arena + W.off + size_t(int64_t(p - lo[j]) * W.row) * (W.bytes ? 1 : 2);
  }
  void fill(int j, char* d, int64_t elems) const {
    const Win& W = P.win[j];
    if (W.bytes) {
      std::memset(d, static_cast<uint8_t>(W.fill), size_t(elems));
    } else {
      int16_t* s = reinterpret_cast<int16_t*>(d);
      std::fill(s, s + elems, static_cast<int16_t>(W.fill));
    }
  }

  // Window j holds padded rows [lo, upto).
  bool produce(int j, int upto) {
    const Win& W = P.win[j];
    while (have[j] < upto) {
      const int p = have[j], y = p - W.pad;
      if (y < 0 || y >= h) {  // a border row
        fill(j, slot(j, p), W.row);
        ++have[j];
      } else if (j == 0) {  // an input row, quantised
        float* x = reinterpret_cast<float*>(arena + P.in_row_off);
        if (read_row(ctx, y, x) != 0) {
          status = QSR_INFER_E_CALLBACK;
          return false;
        }
        const Header& H = *M.h;
        IntQuantArgs a;
        a.x = x;
        a.w = w;
        a.c = int(H.channels);
        a.scale = H.in_scale;
        a.zp = H.in_zp, a.qmin = H.in_qmin, a.qmax = H.in_qmax;
        a.away = H.in_away != 0;
        char* d = slot(0, p) + size_t(W.pad) * W.cs * (W.bytes ? 1 : 2);
        if (W.bytes) a.out8 = reinterpret_cast<uint8_t*>(d), a.off = M.conv[0].r->in_off;
        else a.out = reinterpret_cast<int16_t*>(d);
        a.out_row = W.row;
        a.out_cs = W.cs;
        M.K->quantize_rows(a, 0, 1);
        ++have[j];
      } else {  // the previous conv's rows
        const int n = std::min({band, upto - p, h - y});
        if (!conv(j - 1, y, n)) return false;
        have[j] += n;
      }
    }
    return true;
  }

  // Conv j's output rows [y0, y0 + n), n <= band, into window j + 1 (or the output band).
  bool conv(int j, int y0, int n) {
    const Win& W = P.win[j];
    if (y0 > lo[j]) {  // slide: row y0 becomes the first
      const int keep = have[j] - y0;
      if (keep > 0) std::memmove(arena + W.off, slot(j, y0), size_t(int64_t(keep) * W.row) * (W.bytes ? 1 : 2));
      lo[j] = y0;
    }
    if (!produce(j, y0 + n + W.k - 1)) return false;
    const Conv& C = M.conv[j];
    const ConvRecord& R = *C.r;
    IntConvArgs a;
    a.h = n, a.w = w, a.k = R.k, a.cs = R.cs, a.T = R.T;
    a.in_row = W.row;
    a.cout = R.cout;
    a.nvec_blocks = R.nvec, a.tail_vec = R.tail, a.ndot = R.ndot;
    a.wpack = C.wpack, a.wdot = C.wdot, a.dotlen = R.dotlen;
    if (R.u8) {
      a.u8 = true;
      a.in8 = reinterpret_cast<const uint8_t*>(slot(j, y0));
      a.cs = R.cs8, a.T4 = R.T4, a.kacc = R.kacc;
      a.wpack8 = C.wpack8, a.wdot8 = C.wdot8, a.dotlen8 = R.dotlen8;
      a.xbeg = C.xbeg, a.xky = C.xky, a.xt = C.xt, a.xw = C.xw, a.wdot8x = C.wdot8x;
    } else {
      a.in = reinterpret_cast<const int16_t*>(slot(j, y0));
    }
    if (R.wino) a.wino = true, a.wino_u = C.wino_u, a.wino_scratch = arena + P.scratch_off;
    a.wide = R.wide != 0, a.chunk = R.chunk;
    a.beff = C.beff, a.beff64 = C.beff64;
    a.rq = R.rq;
    a.mscale = C.mscale, a.bshift = C.bshift, a.half = C.half, a.m0 = C.m0, a.shift = C.shift, a.m0_32 = C.m0_32;
    a.zo = R.zo, a.lo = R.lo, a.hi = R.hi, a.away = R.away != 0;
    const Win& O = P.win[j + 1];
    char* d = j + 1 < M.n ? slot(j + 1, y0 + O.pad) + size_t(O.pad) * O.cs * (O.bytes ? 1 : 2) : arena + O.off;
    if (O.bytes) a.out8 = reinterpret_cast<uint8_t*>(d), a.out_off = R.out_off;
    else a.out = reinterpret_cast<int16_t*>(d);
    a.out_row = O.row;
    a.out_cs = O.cs;
    M.K->conv_rows(a, 0, n);
    return true;
  }

  int run() {
    for (int j = 0; j <= M.n; ++j) fill(j, arena + P.win[j].off, P.win[j].elems);
    const Header& H = *M.h;
    const int r = int(H.scale), ch = int(H.channels), rc = r * ch;
    const Win& O = P.win[M.n];
    float* orow = reinterpret_cast<float*>(arena + P.out_row_off);
    for (int y0 = 0; y0 < h; y0 += band) {
      const int n = std::min(band, h - y0);
      if (!conv(M.n - 1, y0, n)) return status;
      // Depth-to-space, dequantised: high-res row (y*r + i), pixel x*r + jj, channel c is
      // code channel (i*r + jj)*ch + c of low-res pixel x (TensorFlow's order).
      for (int yy = 0; yy < n; ++yy)
        for (int i = 0; i < r; ++i) {
          const int16_t* src = reinterpret_cast<const int16_t*>(arena + O.off) + int64_t(yy) * O.row + int64_t(i) * rc;
          float* dr = orow;
          for (int x = 0; x < w; ++x, dr += rc)
            for (int e = 0; e < rc; ++e) dr[e] = float(int32_t(src[int64_t(x) * O.cs + e]) - H.out_zp) * H.out_scale;
          if (write_row(ctx, (y0 + yy) * r + i, orow) != 0) return QSR_INFER_E_CALLBACK;
        }
    }
    return QSR_INFER_OK;
  }
};

// Whole-image callbacks.
struct ImageIo {
  const float* inf = nullptr;
  float* outf = nullptr;
  const uint8_t* in8 = nullptr;
  uint8_t* out8 = nullptr;
  size_t in_stride = 0, out_stride = 0;  // floats or bytes
  int in_len = 0, out_len = 0;           // per row
};

// The row lengths of a whole-image run; false for an unopened model or a bad width.
bool image_rows(const qsr_infer_model* model, int width, ImageIo& io) {
  const Model* M = model_of(model);
  if (!M || width < 1 || width > 65536) return false;
  io.in_len = width * int(M->h->channels);
  io.out_len = io.in_len * int(M->h->scale);
  return true;
}

int read_f32(void* c, int y, float* row) {
  const ImageIo& io = *static_cast<const ImageIo*>(c);
  std::memcpy(row, io.inf + size_t(y) * io.in_stride, sizeof(float) * size_t(io.in_len));
  return 0;
}
int write_f32(void* c, int y, const float* row) {
  const ImageIo& io = *static_cast<const ImageIo*>(c);
  std::memcpy(io.outf + size_t(y) * io.out_stride, row, sizeof(float) * size_t(io.out_len));
  return 0;
}
int read_u8(void* c, int y, float* row) {
  const ImageIo& io = *static_cast<const ImageIo*>(c);
  const uint8_t* s = io.in8 + size_t(y) * io.in_stride;
  for (int i = 0; i < io.in_len; ++i) row[i] = float(s[i]) * (1.f / 255.f);  // as image_to_tensor
  return 0;
}
int write_u8(void* c, int y, const float* row) {
  const ImageIo& io = *static_cast<const ImageIo*>(c);
  uint8_t* d = io.out8 + size_t(y) * io.out_stride;
  for (int i = 0; i < io.out_len; ++i) d[i] = static_cast<uint8_t>(std::lround(std::clamp(row[i], 0.f, 1.f) * 255.f));
  return 0;
}

}  // namespace
}  // namespace qsr::infer

using namespace qsr::infer;

extern "C" {

const char* qsr_infer_strerror(int status) {
  switch (status) {
    case QSR_INFER_OK: return "ok";
    case QSR_INFER_E_ARG: return "invalid argument: a null pointer, or a width, height or band out of range";
    case QSR_INFER_E_MAGIC: return "not a qsr inference model (write one with qsr export --format engine)";
    case QSR_INFER_E_VERSION: return "the model's format version is not supported by this library";
    case QSR_INFER_E_SIZE: return "the model's size differs from the size recorded in it (truncated file?)";
    case QSR_INFER_E_CHECKSUM: return "the model's checksum does not match: the file is corrupt";
    case QSR_INFER_E_MODEL: return "the model's layer records are inconsistent";
    case QSR_INFER_E_ALIGN: return "the model bytes or the arena are not 16-byte aligned";
    case QSR_INFER_E_ARENA: return "the arena is smaller than qsr_infer_arena_bytes() for this width and band";
    case QSR_INFER_E_CALLBACK: return "a row callback reported an error";
    case QSR_INFER_E_ISA:
      return "QSR_ISA names an instruction set that this CPU or this library cannot run, or that the model was not lowered for";
    default: return "unknown qsr_infer status";
  }
}

int qsr_infer_open(qsr_infer_model* model, const void* data, size_t bytes, unsigned flags) {
  if (!model || !data) return QSR_INFER_E_ARG;
  Model* M = new (model->opaque.bytes) Model();
  if (reinterpret_cast<uintptr_t>(data) % 16) return QSR_INFER_E_ALIGN;
  const auto* base = static_cast<const unsigned char*>(data);
  if (bytes < sizeof kMagic || std::memcmp(base, kMagic, sizeof kMagic) != 0) return QSR_INFER_E_MAGIC;
  if (bytes < sizeof(Header)) return QSR_INFER_E_SIZE;
  const Header& H = *reinterpret_cast<const Header*>(base);
  if (H.version != kVersion) return QSR_INFER_E_VERSION;
  if (H.total_bytes != bytes) return QSR_INFER_E_SIZE;
  if (fnv1a(base + 32, bytes - 32) != H.checksum) return QSR_INFER_E_CHECKSUM;
  M->base = base;
  M->bytes = bytes;
  M->h = &H;
  if (H.header_bytes != sizeof(Header) || H.record_bytes != sizeof(ConvRecord) || H.records != sizeof(Header) ||
      !in_range(H.nconv, 1, kMaxConvs) || !in_range(H.scale, 1, 8) || !in_range(H.channels, 1, 4) ||
      (H.lanes != 8 && H.lanes != 16) || H.records + uint64_t(H.nconv) * sizeof(ConvRecord) > bytes)
    return QSR_INFER_E_MODEL;
  if (!(std::isfinite(H.in_scale) && H.in_scale > 0) || !(std::isfinite(H.out_scale) && H.out_scale > 0) ||
      !in_range(H.in_qmin, -32768, 32767) || !in_range(H.in_qmax, H.in_qmin, 32767) || !in_range(H.in_zp, H.in_qmin, H.in_qmax) ||
      std::memchr(H.mode, 0, sizeof H.mode) == nullptr || std::memchr(H.lowered, 0, sizeof H.lowered) == nullptr)
    return QSR_INFER_E_MODEL;
  M->n = int(H.nconv);
  const auto* recs = reinterpret_cast<const ConvRecord*>(base + H.records);
  for (int j = 0; j < M->n; ++j) {
    const ConvRecord& R = recs[j];
    const int cin_want = j == 0 ? int(H.channels) : recs[j - 1].cout;
    if (R.cin != cin_want || !bind_conv(*M, R, H.lanes, M->conv[j])) return QSR_INFER_E_MODEL;
    const bool next_u8 = j + 1 < M->n && recs[j + 1].u8;
    if (R.out_u8 != int32_t(next_u8) || (next_u8 && R.out_off != recs[j + 1].in_off) || (j + 1 < M->n && R.zo != recs[j + 1].in_zp))
      return QSR_INFER_E_MODEL;
  }
  if (recs[0].in_zp != H.in_zp || (recs[0].u8 && recs[0].in_off != H.in_qmin) ||
      recs[M->n - 1].cout != int32_t(H.channels * H.scale * H.scale) || recs[M->n - 1].zo != H.out_zp)
    return QSR_INFER_E_MODEL;
  if (const int st = pick_kernels(H.lanes, flags, &M->K); st != QSR_INFER_OK) return st;
  M->open = kOpen;
  return QSR_INFER_OK;
}

int qsr_infer_get_info(const qsr_infer_model* model, qsr_infer_info* info) {
  const Model* M = model_of(model);
  if (!M || !info) return QSR_INFER_E_ARG;
  info->convs = M->n;
  info->scale = int(M->h->scale);
  info->channels = int(M->h->channels);
  info->mode = M->h->mode;
  info->lowered = M->h->lowered;
  info->kernels = M->K->name;
  info->model_bytes = M->bytes;
  return QSR_INFER_OK;
}

size_t qsr_infer_arena_bytes(const qsr_infer_model* model, int width, int band) {
  const Model* M = model_of(model);
  Plan P;
  if (!M || !plan(*M, width, band == 0 ? QSR_INFER_DEFAULT_BAND : band, P)) return 0;
  return P.bytes;
}

int qsr_infer_run_rows(const qsr_infer_model* model, int width, int height, int band, qsr_infer_read_row read_row,
                       qsr_infer_write_row write_row, void* ctx, void* arena, size_t arena_bytes) {
  const Model* M = model_of(model);
  if (band == 0) band = QSR_INFER_DEFAULT_BAND;
  Plan P;
  if (!M || !read_row || !write_row || !arena || height < 1 || height > 65536 || !plan(*M, width, band, P))
    return QSR_INFER_E_ARG;
  if (reinterpret_cast<uintptr_t>(arena) % 16) return QSR_INFER_E_ALIGN;
  if (arena_bytes < P.bytes) return QSR_INFER_E_ARENA;
  Run R{*M, P, width, height, band, static_cast<char*>(arena), read_row, write_row, ctx};
  return R.run();
}

int qsr_infer_run_f32(const qsr_infer_model* model, const float* in, int width, int height, float* out, int band,
                      void* arena, size_t arena_bytes) {
  ImageIo io;
  if (!in || !out || !image_rows(model, width, io)) return QSR_INFER_E_ARG;
  io.inf = in, io.outf = out;
  io.in_stride = size_t(io.in_len), io.out_stride = size_t(io.out_len);
  return qsr_infer_run_rows(model, width, height, band, read_f32, write_f32, &io, arena, arena_bytes);
}

int qsr_infer_run_u8(const qsr_infer_model* model, const uint8_t* in, int width, int height, size_t in_stride,
                     uint8_t* out, size_t out_stride, int band, void* arena, size_t arena_bytes) {
  ImageIo io;
  if (!in || !out || !image_rows(model, width, io)) return QSR_INFER_E_ARG;
  io.in8 = in, io.out8 = out;
  io.in_stride = in_stride ? in_stride : size_t(io.in_len);
  io.out_stride = out_stride ? out_stride : size_t(io.out_len);
  if (io.in_stride < size_t(io.in_len) || io.out_stride < size_t(io.out_len)) return QSR_INFER_E_ARG;
  return qsr_infer_run_rows(model, width, height, band, read_u8, write_u8, &io, arena, arena_bytes);
}

}  // extern "C"
