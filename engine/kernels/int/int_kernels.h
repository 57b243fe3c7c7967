// Integer inference kernels of the native engine (quant/lower/int_engine.h), one table per
// instruction set like the f32 and fake-quant kernels: int_impl.inc is compiled for
// AVX2 (int_avx2.cpp) and AVX-512 (int_avx512.cpp, vpdpwssd where the CPU has
// AVX512-VNNI); int_scalar.cpp is an independent plain C++ implementation, the twin
// every SIMD table is tested against bit for bit.
//
// Data. Activations live in int16 buffers of codes (every signed format up to 16
// bits and every unsigned one up to 15 fits), NHWC, with a border of the consuming
// conv's padding filled with the tensor's zero point (so a padded pixel contributes
// (zp - zp) * w = 0, as the specification's zero padding of (code - zp)). Pixels are
// `cs` int16 apart: the channel count rounded up to even, or 1 for a 1-channel tensor.
//
// Convolution as int16 pairs. A window row of a k x k conv is k*cs consecutive int16
// (k pixels), so it is T = ceil(k*cs/2) consecutive int32 words, each a pair of codes.
// Weights are packed per output-channel block of NR channels as
//   wpack[cb][ky][t][NR][2]   (int16; zero for channels past cout and the pad element)
// and one step multiplies the broadcast pair t of every pixel's window row with the
// block's NR weight pairs: vpmaddwd (AVX2, AVX-512BW) or vpdpwssd (AVX512-VNNI) adds
// x0*w0 + x1*w1 into an int32 lane per channel. The int16 x int16 products and their
// pair sums are exact (|x*w| <= 2^15 * (2^15 - 1), the pair sum < 2^31; weights are
// never -32768, which lowering checks), so there is no saturation to handle. Words up to
// 8 bits take the u8 path below instead where lowering counts fewer instructions for it (its
// pairs are made exact by splitting those that could saturate). For a
// 1-channel input (the first conv) the pairs run along the kernel row instead of the
// channels, so that layer is one pair-GEMM too. Leftover channels past the last full
// vector (the 9th of the last conv) are dot products over the window rows.
//
// Accumulators. int32 when lowering proved that no sum can leave int32 (the bound
// max|code| * sum|w| over a channel's window, for the raw sum of codes, and
// span * sum|w| + |bias| for the true accumulator); otherwise the conv runs `wide`:
// chunks of `chunk` steps are summed in int32 (each chunk proved to fit) and the chunks
// in int64, requantised with the specification's 128-bit rounding (quant/spec.h); every table
// runs these through the scalar twin (they arise only for wide words on both sides).
//
// Output stage per channel c: acc = raw + beff[c] (beff = bias code - zp_in * sum w),
// then one of
//   integer:  q = clamp(round(acc * m0 / 2^shift) + zo, lo, hi) (spec rounding rule),
//             stored as int16 into the next buffer;
//   float:    y = float(double(acc) * fscale[c]) + fbias[c], max(0, y) when relu
//             (dynamic-range layers: fscale = s_in * s_w[c] in double, as the reference).
// The rounding shift is exact in 64-bit lanes: acc * m0 is below 2^62 in magnitude
// (|acc| < 2^31, m0 < 2^31); with B = 2^62, floor(p / 2^s) = ((p + B) >> s) - (B >> s)
// as a logical shift of a non-negative number, and the remainder is (p + B) & (2^s - 1).
// Shifts above 62 give 0 for every such product: lowering stores m0 = 0, shift 62.
#pragma once
#include <cstdint>

#include "engine/isa.h"

namespace qsr::quant {

// Output channels per block (two AVX2 vectors, one AVX-512 vector of int32).
inline constexpr int kIntNR = 16;
// Pixels per register tile: 6 with 16-channel blocks (12 accumulators on AVX2), 12 with 8.
inline constexpr int kIntMR = 12;
// Most leftover channels computed as dot products.
inline constexpr int kIntDotMax = 2;

// The u8 path (word lengths up to 8 bits). Activations as bytes u = code - qmin of their
// format (0..255), pixels `cs` bytes apart (the channel count rounded up to a multiple of 4,
// or 1), window rows of T4 = ceil(k*cs/4) quads; weights as int8 quads
//   wpack8[cb][ky][t][NR][4]
// One step: vpmaddubsw of the broadcast quad and the block's quads gives per channel two int16
// pair sums u0*w0 + u1*w1, saturated to int16. A pair's sum stays within
// [umax * (sum of its negative weights), umax * (sum of its positive ones)], so it is exact
// when both ends fit int16 (always when the two weights differ in sign: umax * 128 <= 32640).
// `kacc` steps (counted over the whole k x k window) are summed in int16 (kacc * the largest
// pair reach <= 32767) before vpmaddwd with ones widens them into the int32 accumulators.
// AVX512-VNNI does each step with one vpdpbusd, whose products and sums are exact for any
// u8 x s8 values (no int16 intermediate): there the u8 path takes every 8-bit word.
//
// Split pairs (8-lane tables: AVX2 and scalar). A pair that could saturate -- both weights of
// one sign, umax * |w0 + w1| > 32767, e.g. 100 and 60 under 8-bit activations -- is split
// into a main pair, packed in wpack8 / wdot8, and a residual pair, both of one sign and each
// within reach (w = main + residual: the excess over 32767 / umax moves into the residual,
// from the larger weight first). The residuals are extra steps (kacc = 1): per half-block of 8
// channels (hb = 2*cb and 2*cb + 1 for 16-channel block cb, 2*nvec_blocks for the 8-channel
// tail), entries [xbeg[hb], xbeg[hb + 1]) each name a window quad (kernel row xky[e], quad
// xt[e]) and hold its 8 channels' residual quads xw[e][8][4]. A leftover channel's residuals
// are a second dot row, wdot8x (same layout as wdot8; null when none has any). Lowering picks
// which input channels pair (a permutation of the buffer's channels, written so by the
// producing conv) so that few pairs need it: about 7% extra steps on ESPCN's int8 conv2, 2%
// on conv3. The VNNI table never splits (vpdpbusd does not saturate).
inline constexpr int kIntHalf = 8;  // channels per half-block of split entries
struct IntConvArgs {
  int h = 0, w = 0, k = 1;  // output (= input) rows and columns of one image, kernel size
  int cs = 1;               // input channel stride (int16 per pixel)
  int T = 1;                // int32 pair words per window row
  int64_t in_row = 0;       // input buffer row stride (int16)
  const int16_t* in = nullptr;  // input buffer at the padded image's corner (row 0, column 0 of the border)
  int cout = 1;
  int nvec_blocks = 0;      // channels [0, nvec_blocks*16) in 16-channel blocks, then
  int tail_vec = 0;         // 0 or 8: channels [16*nvec_blocks, +8) as one 8-channel block
  int ndot = 0;             // the last ndot channels as dot products
  const int16_t* wpack = nullptr;  // blocks: 16-channel ones, then the 8-channel one
  const int16_t* wdot = nullptr;   // ndot x k x dotlen int16: channel, kernel row, window row (zero padded)
  int dotlen = 0;                  // window-row length of wdot, a multiple of 16

  // u8 input (see above): in8 replaces in, wpack8 / wdot8 replace wpack / wdot.
  bool u8 = false;
  const uint8_t* in8 = nullptr;
  int T4 = 1;
  int kacc = 1;
  const int8_t* wpack8 = nullptr;
  const int8_t* wdot8 = nullptr;  // ndot x k x dotlen8 (a multiple of 32)
  int dotlen8 = 0;
  // Split pairs (see above); xbeg null when the conv has none.
  const int32_t* xbeg = nullptr;
  const int32_t* xky = nullptr;
  const int32_t* xt = nullptr;
  const int8_t* xw = nullptr;
  const int8_t* wdot8x = nullptr;

  // Winograd F(2x2, 3x3) (the AVX2 table; the others, and the scalar twin, run the direct
  // form from wpack, which lowering packs too). 3x3 convs with cin and cout multiples of 16 on
  // int16 input: per tile of 2x2 outputs and input channel, the 4x4 input patch d becomes
  // V = B^T d B (int16: |V| <= 4 max|code|); for each of the 16 positions p a GEMM over the
  // input channels with wino_u = U2 = G2 g G2^T, G2 = 2G (int16, packed [p][cb][t][16][2] like
  // wpack), M[p] = sum V[p] * U2[p] in int32; Y = A^T M A is exactly 4 times the direct sum of
  // codes (B, G, A of Lavin and Gray's F(2, 3)), so Y >> 2 is it. Lowering proves that no
  // value leaves int16 / int32. 16 multiplies per 2x2 outputs and channel pair instead of 36.
  // conv_rows is called with y0 even (whole tile rows).
  bool wino = false;
  const int16_t* wino_u = nullptr;
  // The caller's scratch of int_wino_scratch_bytes(cs, cout) bytes (per concurrent call): the
  // kernels allocate nothing.
  void* wino_scratch = nullptr;

  // wide: int32 chunks of `chunk` steps summed in int64 (see above).
  bool wide = false;
  int chunk = 0;

  // Output stage (arrays of cout rounded up to 16, then kIntNR more, entries).
  const int32_t* beff = nullptr;
  const int64_t* beff64 = nullptr;  // wide: exact, as it may not fit int32
  bool float_out = false;
  // integer. rq picks the requantisation arithmetic (all exact, int_impl.inc):
  //   0: double: |acc| < 2^22, so acc * (m0 * 2^-shift) is exact in double; rounded there
  //   1: 64-bit lanes with the result known to fit int32 (|y| < 2^30): clamp in int32
  //   2: 64-bit lanes, clamp in 64 bits (any multiplier)
  int rq = 2;
  const double* mscale = nullptr;   // rq 0: m0 * 2^-shift
  const int64_t* bshift = nullptr;  // rq 1: 2^62 >> shift
  const int64_t* half = nullptr;    // rq 1: 2^(shift - 1)
  const int64_t* m0 = nullptr;
  const int64_t* shift = nullptr;   // <= 62
  const int32_t* m0_32 = nullptr;   // m0 as int32 (the wide path's spec call)
  int32_t zo = 0, lo = 0, hi = 0;
  bool away = false;                // half_away, else half_even
  int16_t* out = nullptr;           // output pixel (0, 0) of the image
  uint8_t* out8 = nullptr;          // instead of out: the next conv's u8 buffer, bytes q - out_off
  int32_t out_off = 0;
  int64_t out_row = 0;              // output row stride (int16)
  int out_cs = 1;                   // output pixel stride (int16)
  // float
  const double* fscale = nullptr;
  const float* fbias = nullptr;
  bool relu = false;
  float* outf = nullptr;            // output pixel (0, 0), cout floats per pixel, w*cout per row
};

// Winograd: tiles per chunk of a tile row, and tiles per register group (int_impl.inc).
inline constexpr int kIntWinoNT = 24, kIntWinoMR = 6;
// Bytes of IntConvArgs::wino_scratch: per position, the chunk's V (int16, cs per tile) and
// M (int32, cout per tile), with a group's worth past the chunk (a partial group reads on).
constexpr int64_t int_wino_scratch_bytes(int cs, int cout) {
  return int64_t(16) * (kIntWinoNT + kIntWinoMR) * (int64_t(cs) * 2 + int64_t(cout) * 4) + 64;
}

// The layouts every caller of the kernels shares (the integer engine's buffers, the inference
// library's row windows).
// Elements per pixel of a code buffer: the channel count rounded up to whole int16 pairs
// (int16 codes) or u8 quads (bytes), or 1 for a 1-channel tensor.
constexpr int int_channel_stride(int c, bool bytes) { return c == 1 ? 1 : bytes ? (c + 3) / 4 * 4 : (c + 1) / 2 * 2; }
// Elements per row of a buffer with a border of `pad` pixels: the extra columns hold the
// pairs / quads a window row reads past a 1-channel row.
constexpr int64_t int_buffer_row(int w, int pad, int cs, bool bytes) { return int64_t(w + 2 * pad + (bytes ? 3 : 1)) * cs; }
// Elements past a buffer's last row that tiles may read.
constexpr int64_t int_read_slack(int cs, int64_t row) { return int64_t(kIntMR + 8) * cs + 2 * row + 64; }
// Entries of the output stage's per-channel arrays: cout rounded up to 16, then kIntNR more.
constexpr int64_t int_channel_pad(int cout) { return int64_t(cout + 15) / 16 * 16 + kIntNR; }
// The output channels' blocks: nvec of 16, then tail (0 or 8) as one 8-channel block, then the
// last ndot as dot products.
struct IntBlocks {
  int nvec = 0, tail = 0, ndot = 0;
};
constexpr IntBlocks int_blocks(int cout) {
  const int rem = cout % 16;
  IntBlocks b{cout / 16, 0, 0};
  if (rem > 0 && rem <= kIntDotMax) b.ndot = rem;
  else if (rem > 0 && rem <= 8) b.tail = 8;
  else if (rem > 8 && rem <= 8 + kIntDotMax) b.tail = 8, b.ndot = rem - 8;
  else if (rem > 0) b.nvec += 1;
  return b;
}

struct IntQuantArgs {
  const float* x = nullptr;  // NHWC f32, c channels per pixel, w pixels per row
  int w = 0, c = 1;
  float scale = 1;
  int32_t zp = 0, qmin = 0, qmax = 0;
  bool away = false;
  int16_t* out = nullptr;    // pixel (0, 0) of the image's interior
  uint8_t* out8 = nullptr;   // instead of out: bytes q - off
  int32_t off = 0;
  int64_t out_row = 0;
  int out_cs = 1;
};

struct IntKernels {
  Isa isa;
  const char* name;  // "scalar", "avx2" or "avx512-vnni"
  // Output rows [y0, y1) of one image.
  void (*conv_rows)(const IntConvArgs& a, int y0, int y1);
  // Rows [y0, y1) of an f32 image quantised to codes (spec: x / scale in IEEE single
  // precision, round with the rule, + zp, clamp) into an int16 buffer.
  void (*quantize_rows)(const IntQuantArgs& a, int y0, int y1);
};

// Pixels per register tile of the 16-lane tables (AVX-512 and its emulation, int_w16.cpp,
// which must share them): 12 for every tile kind (32 zmm registers).
struct Tiles16 {
  static constexpr int MR16 = 12, MR8 = 12;    // int16 path
  static constexpr int MR16B = 12, MR8B = 12;  // u8 tiles widening every step
  static constexpr int MR16K = 12, MR8K = 12;  // u8 tiles summing kacc steps in int16
  static constexpr int MR16N = 12;             // u8 tiles summing the whole window in int16
};

// The table of an instruction set as built (plain data, no CPU check; null when this build has
// none): for quant/infer. The engine asks engine/kernels/kernel_set.h, which checks the CPU.
const IntKernels* int_table(Isa isa);
// A table that lowers for `isa`'s layouts (IntEngine's choices for it) on any CPU, and runs the
// scalar twin, which computes every layout exactly: for writing lowered models
// (IntEngine::infer_model) for another machine.
const IntKernels& int_lowering_table(Isa isa);
// kernel_set(isa).ints and kernel_set().ints (engine/kernels/kernel_set.h): qsr::Error when the
// ISA is not compiled or not runnable.
const IntKernels& int_kernels(Isa isa);
const IntKernels& int_kernels();

#define QSR_INT_DECLARE                                   \
  void conv_rows(const IntConvArgs& a, int y0, int y1); \
  void quantize_rows(const IntQuantArgs& a, int y0, int y1);
namespace int_scalar {
QSR_INT_DECLARE
}
namespace int_avx2 {
QSR_INT_DECLARE
}
namespace int_avx512 {
QSR_INT_DECLARE
}
namespace int_w16 {
QSR_INT_DECLARE
}
#undef QSR_INT_DECLARE

}  // namespace qsr::quant
