// `qsr export --format c` (export_c.h).
#include "quant/export/export_c.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "engine/random.h"
#include "quant/lower/int_engine.h"
#include "quant/ptq/output_stage.h"

namespace qsr::quant {

namespace {

// What the C code needs of one conv.
struct CLayer {
  int k = 0, cin = 0, cout = 0;
  std::vector<int32_t> w;  // [cout][k][k][cin]
  std::vector<int32_t> bias, m0, shift;
  int32_t zin = 0, zout = 0, lo = 0, hi = 0;
  bool half_away = false;
  std::string wtype, intype, outtype;  // C types
  int wsize = 0, insize = 0, outsize = 0;
  // Weights of at most 4 bits: two codes per byte (uint8_t), low nibble first, sign-extended
  // (signed formats) in the inner loop.
  bool nibbles = false, wsigned = true;
  int acc_bits = 0;
};

std::string ctype(const QFormat& f, int* size) {
  switch (storage_dtype(f)) {
    case DType::i8: *size = 1; return "int8_t";
    case DType::u8: *size = 1; return "uint8_t";
    case DType::i16: *size = 2; return "int16_t";
    default: *size = 2; return "uint16_t";  // u16 grids (stored as i32 by the engine)
  }
}

// Conv i as the C code needs it: weights [cout][k][k][cin], the output stage and the
// accumulator bound of its ConvOutputStage (quant/ptq/output_stage.h), the C types.
CLayer c_layer(const QuantModel& q, size_t i, bool pack4) {
  const std::string conv = fmt::format("conv{}", i + 1);
  QSR_CHECK(q.integer_layer(int(i)), fmt::format("export: {} does not run the integer path (mode {}); the C export needs every conv's "
                                                 "weights integer and its input and output statically quantised (int8, int16x8, wNaM, qM.N)",
                                                 conv, q.mode));
  QSR_CHECK(conv_activation(q.cfg, i) != Activation::tanh, "export: " + conv + " has a tanh activation; the integer C forward has ReLU or none");
  const ConvOutputStage st = conv_output_stage(q, int(i));
  CLayer c;
  c.k = st.k;
  c.cin = st.cin;
  c.cout = st.cout;
  const WeightQuant& wq = q.weights[i];
  const std::vector<int32_t> wk = codes_to_int32(wq.codes);
  c.w.resize(wk.size());
  for (int co = 0; co < c.cout; ++co)
    for (int ky = 0; ky < c.k; ++ky)
      for (int kx = 0; kx < c.k; ++kx)
        for (int ci = 0; ci < c.cin; ++ci)
          c.w[size_t(((co * c.k + ky) * c.k + kx) * c.cin + ci)] = wk[size_t(((ky * c.k + kx) * c.cin + ci) * c.cout + co)];
  c.wtype = ctype(wq.fmt, &c.wsize);
  c.nibbles = pack4 && wq.fmt.bits <= 4;
  c.wsigned = wq.fmt.is_signed;
  c.intype = ctype(q.acts[i].fmt, &c.insize);
  c.outtype = ctype(q.acts[i + 1].fmt, &c.outsize);
  // Exactly the reference's output stage (QuantModel::forward_layer).
  for (const Multiplier& m : st.mult) c.m0.push_back(m.m0), c.shift.push_back(m.shift);
  c.bias = st.bias;
  c.zin = st.zin;
  // The accumulator bound (ConvOutputStage::acc_bits), per output channel from the actual codes:
  // |bias| + span * sum |w|, span = max |x - z_in| over the input's codes. The C forward sums
  // bias + sum (x - z_in) w, so every partial sum lies within it too.
  c.acc_bits = st.acc_bits;
  QSR_CHECK(c.acc_bits <= 32, fmt::format("export: {} needs {}-bit accumulators; the C forward accumulates in int32 (use shorter words)",
                                          conv, c.acc_bits));
  c.zout = st.zo;
  c.lo = st.lo;
  c.hi = st.hi;
  c.half_away = st.half_away();
  return c;
}

std::vector<CLayer> c_layers(const QuantModel& q, bool pack4) {
  std::vector<CLayer> out;
  for (size_t i = 0; i < q.kernels.size(); ++i) out.push_back(c_layer(q, i, pack4));
  return out;
}

// Bytes of activation a_j's ring (j = 1..L-1: k of conv j+1 rows), rounded up to 4.
int64_t ring_bytes(const std::vector<CLayer>& ls, size_t j, int width) {
  const CLayer& consumer = ls[j];
  return (int64_t(width) * consumer.k * consumer.cin * consumer.insize + 3) / 4 * 4;
}

template <class T>
std::string array_body(const std::vector<T>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) {
    s += fmt::format("{}{}", i % 24 == 0 ? (i ? ",\n  " : "  ") : ", ", int64_t(v[i]));
  }
  return s;
}

std::string upper(std::string s) {
  for (char& ch : s) ch = char(std::toupper(static_cast<unsigned char>(ch)));
  return s;
}

// NAME.h: the grids, the arena size and the forward's prototype.
std::string c_header(const QuantModel& q, const std::vector<CLayer>& ls, const std::string& name) {
  const size_t L = ls.size();
  const int r = q.cfg.scale, cimg = q.cfg.channels;
  const std::string N = upper(name);
  std::ostringstream h;
  h << "/* " << name << ".h: ESPCN x" << r << " (" << q.cfg.describe() << "), mode " << q.mode
    << ", exported by qsr. Integer-only C99 forward; see docs/EMBEDDED.md. */\n"
    << "#ifndef " << N << "_H\n#define " << N << "_H\n#include <stddef.h>\n#include <stdint.h>\n\n"
    << "#define " << N << "_SCALE " << r << "\n#define " << N << "_CHANNELS " << cimg << "\n"
    << "/* Input codes on a0's grid: code = clamp(round(x / scale) + zero_point) for x in [0, 1] (scale "
    << fmt::format("{:.9g}", q.acts[0].params.scale[0]) << ", zero point " << q.acts[0].params.zero_point[0] << "). */\n"
    << "typedef " << ls[0].intype << " " << name << "_in_t;\n#define " << N << "_IN_ZERO_POINT (" << ls[0].zin << ")\n"
    << "/* Output codes on aL's grid: x = (code - zero_point) * scale (scale "
    << fmt::format("{:.9g}", q.acts[L].params.scale[0]) << ", zero point " << q.acts[L].params.zero_point[0] << "). */\n"
    << "typedef " << ls[L - 1].outtype << " " << name << "_out_t;\n#define " << N << "_OUT_ZERO_POINT (" << ls[L - 1].zout << ")\n"
    << "/* The arena NAME_forward needs for rows of `width` low-res pixels (any height): line buffers. */\n"
    << "#define " << N << "_ARENA_BYTES(width) ((size_t)0";
  for (size_t j = 1; j < L; ++j)
    h << " + (((size_t)(width) * " << ls[j].k * ls[j].cin * ls[j].insize << "u + 3u) / 4u * 4u)";
  h << ")\n\n/* in: height x width x " << cimg << " codes (rows top to bottom, channels interleaved); out: (height*" << r
    << ") x (width*" << r << ") x " << cimg << " codes; arena: " << N
    << "_ARENA_BYTES(width) bytes, aligned for int32_t.\n   Returns 0, or -1 if a size is not positive or the arena is too small. */\n"
    << "int " << name << "_forward(const " << name << "_in_t *in, int width, int height, " << name << "_out_t *out, void *arena, size_t arena_bytes);\n\n#endif\n";
  return h.str();
}

// Conv i's constant arrays: weights, biases, multipliers, shifts. Adds their bytes to *bytes.
void c_arrays(std::ostringstream& s, const CLayer& c, size_t i, const std::string& name, int64_t* bytes) {
  s << fmt::format("/* conv{}: {}x{} {}->{}, weights [cout][ky][kx][cin] */\n", i + 1, c.k, c.k, c.cin, c.cout);
  if (c.nibbles) {
    std::vector<int32_t> packed((c.w.size() + 1) / 2, 0);
    for (size_t j = 0; j < c.w.size(); ++j) packed[j / 2] |= (c.w[j] & 15) << (4 * (j % 2));
    s << "/* two 4-bit codes per byte, low nibble first */\n";
    s << "static const uint8_t " << name << "_w" << i + 1 << "[" << packed.size() << "] = {\n" << array_body(packed) << "};\n";
  } else {
    s << "static const " << c.wtype << " " << name << "_w" << i + 1 << "[" << c.w.size() << "] = {\n" << array_body(c.w) << "};\n";
  }
  s << "static const int32_t " << name << "_b" << i + 1 << "[" << c.cout << "] = {\n" << array_body(c.bias) << "};\n";
  s << "static const int32_t " << name << "_m" << i + 1 << "[" << c.cout << "] = {\n" << array_body(c.m0) << "};\n";
  s << "static const uint8_t " << name << "_s" << i + 1 << "[" << c.cout << "] = {\n" << array_body(c.shift) << "};\n\n";
  *bytes += (c.nibbles ? int64_t(c.w.size() + 1) / 2 : int64_t(c.w.size()) * c.wsize) + int64_t(c.cout) * 9;
}

// The spec's requantisation in C.
void c_requant(std::ostringstream& s, const std::string& name) {
  s << "/* round(acc * m0 / 2^shift) with the format's rule, + zero point, clamped: the spec's requantisation.\n"
       "   |acc| < 2^31 and m0 < 2^31, so the product fits 62 bits; floor is computed without shifting negatives. */\n"
    << "static int32_t " << name << "_requant(int32_t acc, int32_t m0, int shift, int32_t zp, int32_t lo, int32_t hi, int half_away) {\n"
       "  int64_t y = 0;\n"
       "  if (m0 != 0 && shift <= 62) {\n"
       "    const int64_t p = (int64_t)acc * m0;\n"
       "    const int64_t q = p >= 0 ? p / ((int64_t)1 << shift) : -((-p - 1) / ((int64_t)1 << shift)) - 1;\n"
       "    const int64_t rem = p - q * ((int64_t)1 << shift), half = (int64_t)1 << (shift - 1);\n"
       "    y = q;\n"
       "    if (rem > half) y = q + 1;\n"
       "    else if (rem == half) y = half_away ? (p > 0 ? q + 1 : q) : ((q % 2 != 0) ? q + 1 : q);\n"
       "  }\n"
       "  y += zp;\n"
       "  return (int32_t)(y < lo ? lo : y > hi ? hi : y);\n}\n\n";
}

// The inner loop over input channels: acc += (x - z_in) * w, unpacking nibbles when packed.
void c_channel_loop(std::ostringstream& s, const CLayer& c, size_t i, const std::string& name) {
  const std::string widx = fmt::format("((co * {0} + ky) * {0} + kx) * {1}", c.k, c.cin);
  // Sign extension of a 4-bit two's complement nibble (signed weight formats).
  const std::string sext0 = c.wsigned ? "            w0 -= (w0 & 8) << 1;\n" : "";
  const std::string sext1 = c.wsigned ? "            w1 -= (w1 & 8) << 1;\n" : "";
  if (c.nibbles && c.cin % 2 == 0)  // whole bytes per (co, ky, kx): both nibbles at once
    s << "          wi = (size_t)" << widx << " / 2;\n"
      << "          for (ci = 0; ci < " << c.cin << "; ci += 2, ++wi) {\n"
      << "            const int32_t b = " << name << "_w" << i + 1 << "[wi];\n"
      << "            int32_t w0 = b & 15, w1 = b >> 4;\n" << sext0 << sext1
      << "            acc += ((int32_t)px[ci] - (" << c.zin << ")) * w0 + ((int32_t)px[ci + 1] - (" << c.zin << ")) * w1;\n"
      << "          }\n";
  else if (c.nibbles)
    s << "          wi = (size_t)" << widx << ";\n"
      << "          for (ci = 0; ci < " << c.cin << "; ++ci, ++wi) {\n"
      << "            int32_t w0 = (" << name << "_w" << i + 1 << "[wi >> 1] >> (4 * (wi & 1))) & 15;\n" << sext0
      << "            acc += ((int32_t)px[ci] - (" << c.zin << ")) * w0;\n          }\n";
  else
    s << "          wp = " << name << "_w" << i + 1 << " + " << widx << ";\n"
      << "          for (ci = 0; ci < " << c.cin << "; ++ci) acc += ((int32_t)px[ci] - (" << c.zin << ")) * (int32_t)wp[ci];\n";
}

// One function per conv: an output row from the k input rows (null outside the image).
void c_conv(std::ostringstream& s, const QuantModel& q, const CLayer& c, size_t i, bool last, const std::string& name) {
  const int r = q.cfg.scale, cimg = q.cfg.channels;
  s << "static void " << name << "_conv" << i + 1 << "(const " << c.intype << " *const *rows, int width, "
    << (last ? name + "_out_t *out, int y" : c.outtype + " *dst") << ") {\n"
    << "  int x, co, ky, kx, ci;\n  for (x = 0; x < width; ++x) {\n    for (co = 0; co < " << c.cout << "; ++co) {\n"
    << "      int32_t acc = " << name << "_b" << i + 1 << "[co];\n"
    << "      for (ky = 0; ky < " << c.k << "; ++ky) {\n        const " << c.intype << " *row = rows[ky];\n"
    << "        if (!row) continue;\n        for (kx = 0; kx < " << c.k << "; ++kx) {\n"
    << "          const int xx = x + kx - " << c.k / 2 << ";\n          const " << c.intype << " *px;\n"
    << (c.nibbles ? "          size_t wi;\n" : "          const " + c.wtype + " *wp;\n")
    << "          if (xx < 0 || xx >= width) continue;\n"
    << "          px = row + (size_t)xx * " << c.cin << ";\n";
  c_channel_loop(s, c, i, name);
  s
    << "        }\n      }\n      {\n        const int32_t v = " << name << "_requant(acc, " << name << "_m" << i + 1 << "[co], "
    << name << "_s" << i + 1 << "[co], " << c.zout << ", " << c.lo << ", " << c.hi << ", " << (c.half_away ? 1 : 0) << ");\n";
  if (last) {
    // Depth-to-space: channel co = (dy r + dx) C + ch.
    s << "        const int ch = co % " << cimg << ", d = co / " << cimg << ", dy = d / " << r << ", dx = d % " << r << ";\n"
      << "        out[(((size_t)y * " << r << " + dy) * ((size_t)width * " << r << ") + (size_t)x * " << r << " + dx) * "
      << cimg << " + ch] = (" << c.outtype << ")v;\n";
  } else {
    s << "        dst[(size_t)x * " << c.cout << " + co] = (" << c.outtype << ")v;\n";
  }
  s << "      }\n    }\n  }\n}\n\n";
}

// The row scheduler: rows of a_j (j = 1..L-1) are made on demand into rings of k_{j+1} rows.
void c_scheduler(std::ostringstream& s, const std::vector<CLayer>& ls, const std::string& name) {
  const size_t L = ls.size();
  s << "struct " << name << "_state {\n  const " << name << "_in_t *in;\n  int width, height;\n";
  for (size_t j = 1; j < L; ++j) s << "  " << ls[j].intype << " *ring" << j << ";\n  int done" << j << ";\n";
  s << "};\n\n";
  for (size_t j = 1; j < L; ++j) {
    const CLayer& prod = ls[j - 1];  // conv j makes a_j from a_{j-1}
    const int p = prod.k / 2;
    s << "/* Rows of a" << j << " up to `target`, made by conv" << j << ". */\n"
      << "static void " << name << "_make" << j << "(struct " << name << "_state *s, int target) {\n"
      << "  while (s->done" << j << " <= target) {\n    const int y = s->done" << j << ";\n    const " << prod.intype << " *rows["
      << prod.k << "];\n    int t;\n";
    if (j >= 2) s << "    " << name << "_make" << j - 1 << "(s, y + " << p << " < s->height - 1 ? y + " << p << " : s->height - 1);\n";
    s << "    for (t = 0; t < " << prod.k << "; ++t) {\n      const int yy = y + t - " << p << ";\n"
      << "      rows[t] = yy < 0 || yy >= s->height ? 0 : ";
    if (j == 1) s << "s->in + (size_t)yy * s->width * " << prod.cin << ";\n";
    else s << "s->ring" << j - 1 << " + (size_t)(yy % " << ls[j - 1].k << ") * s->width * " << prod.cin << ";\n";
    s << "    }\n    " << name << "_conv" << j << "(rows, s->width, s->ring" << j << " + (size_t)(y % " << ls[j].k
      << ") * s->width * " << prod.cout << ");\n    s->done" << j << " = y + 1;\n  }\n}\n\n";
  }
}

// NAME_forward: the arena carved into the rings, then the last conv row by row.
void c_forward(std::ostringstream& s, const std::vector<CLayer>& ls, const std::string& name) {
  const size_t L = ls.size();
  const std::string N = upper(name);
  s << "int " << name << "_forward(const " << name << "_in_t *in, int width, int height, " << name
    << "_out_t *out, void *arena, size_t arena_bytes) {\n  struct " << name << "_state s;\n  unsigned char *a = (unsigned char *)arena;\n  int y;\n"
    << "  if (width < 1 || height < 1 || !in || !out || arena_bytes < " << N << "_ARENA_BYTES(width)) return -1;\n"
    << "  s.in = in;\n  s.width = width;\n  s.height = height;\n";
  for (size_t j = 1; j < L; ++j)
    s << "  s.ring" << j << " = (" << ls[j].intype << " *)(void *)a;\n  s.done" << j << " = 0;\n  a += ((size_t)width * "
      << ls[j].k * ls[j].cin * ls[j].insize << "u + 3u) / 4u * 4u;\n";
  const CLayer& c = ls[L - 1];
  const int p = c.k / 2;
  s << "  for (y = 0; y < height; ++y) {\n    const " << c.intype << " *rows[" << c.k << "];\n    int t;\n";
  if (L >= 2) s << "    " << name << "_make" << L - 1 << "(&s, y + " << p << " < height - 1 ? y + " << p << " : height - 1);\n";
  s << "    for (t = 0; t < " << c.k << "; ++t) {\n      const int yy = y + t - " << p << ";\n      rows[t] = yy < 0 || yy >= height ? 0 : ";
  if (L == 1) s << "in + (size_t)yy * width * " << c.cin << ";\n";
  else s << "s.ring" << L - 1 << " + (size_t)(yy % " << c.k << ") * width * " << c.cin << ";\n";
  s << "    }\n    " << name << "_conv" << L << "(rows, width, out, y);\n  }\n  return 0;\n}\n";
}

// NAME.c; the constant data's bytes into e.weight_bytes.
std::string c_source(const QuantModel& q, const std::vector<CLayer>& ls, const std::string& name, CExport& e) {
  const size_t L = ls.size();
  std::ostringstream s;
  s << "/* " << name << ".c: generated by qsr export --format c; mode " << q.mode << ". */\n#include \"" << name << ".h\"\n\n";
  for (size_t i = 0; i < L; ++i) c_arrays(s, ls[i], i, name, &e.weight_bytes);
  c_requant(s, name);
  for (size_t i = 0; i < L; ++i) c_conv(s, q, ls[i], i, i + 1 == L, name);
  c_scheduler(s, ls, name);
  c_forward(s, ls, name);
  return s.str();
}

// Golden vectors from the integer engine: random low-res input codes, the engine's output
// codes (NAME_golden.h), and NAME_check.c comparing the forward with them.
void c_golden(const QuantModel& q, const std::string& name, int gw, int gh, uint64_t seed, CExport& e) {
  const size_t L = q.kernels.size();
  const std::string N = upper(name);
  Rng rng(seed);
  Tensor x({1, gh, gw, q.cfg.channels});
  for (int64_t i = 0; i < x.numel(); ++i) x.f32()[i] = rng.uniform(0.f, 1.f);
  const Tensor xin = quantize(x, q.acts[0].fmt, q.acts[0].params);
  const Tensor y = IntEngine(q).forward(dequantize(xin, q.acts[0].params));
  const Tensor yout = quantize(y, q.acts[L].fmt, q.acts[L].params);
  const std::vector<int32_t> gi = codes_to_int32(xin), go = codes_to_int32(yout);
  std::ostringstream g;
  g << "/* " << name << "_golden.h: a " << gw << "x" << gh << " low-res input and the integer engine's output, as codes. */\n"
    << "#define " << N << "_GOLDEN_W " << gw << "\n#define " << N << "_GOLDEN_H " << gh << "\n"
    << "static const " << name << "_in_t " << name << "_golden_in[" << gi.size() << "] = {\n" << array_body(gi) << "};\n"
    << "static const " << name << "_out_t " << name << "_golden_out[" << go.size() << "] = {\n" << array_body(go) << "};\n";
  e.golden = g.str();
  std::ostringstream ck;
  ck << "/* " << name << "_check.c: runs " << name << "_forward on the golden input; exit status 0 when every output code\n"
     << "   equals the integer engine's. */\n#include <stdio.h>\n#include \"" << name << ".h\"\n#include \"" << name << "_golden.h\"\n\n"
     << "static int32_t arena[(" << N << "_ARENA_BYTES(" << N << "_GOLDEN_W) + 3) / 4 + 1];\nstatic " << name << "_out_t out["
     << go.size() << "];\n\nint main(void) {\n  size_t i, bad = 0;\n"
     << "  if (" << name << "_forward(" << name << "_golden_in, " << N << "_GOLDEN_W, " << N << "_GOLDEN_H, out, arena, sizeof arena) != 0) {\n"
     << "    printf(\"" << name << "_forward refused the golden sizes\\n\");\n    return 2;\n  }\n"
     << "  for (i = 0; i < " << go.size() << "u; ++i) bad += out[i] != " << name << "_golden_out[i];\n"
     << "  printf(\"" << name << ": %lu of %lu output codes differ from the engine's\\n\", (unsigned long)bad, (unsigned long)" << go.size()
     << "u);\n  return bad != 0;\n}\n";
  e.check = ck.str();
}

// NAME.json: per tensor formats, per conv accumulator widths and requantisation, sizes.
nlohmann::json c_sidecar(const QuantModel& q, const std::vector<CLayer>& ls, const CExport& e, int width) {
  const size_t L = ls.size();
  const int r = q.cfg.scale;
  nlohmann::json tensors = nlohmann::json::array();
  for (size_t j = 0; j <= L; ++j) {
    const ActQuant& a = q.acts[j];
    tensors.push_back({{"tensor", fmt::format("a{}", j)},
                       {"role", j == 0 ? "input" : j == L ? "output (conv" + std::to_string(j) + ", then depth-to-space)" : "conv" + std::to_string(j) + " output"},
                       {"format", format_json(a.fmt)},
                       {"qmin", a.fmt.qmin()},
                       {"qmax", a.fmt.qmax()},
                       {"scale", a.params.scale[0]},
                       {"zero_point", a.params.zero_point[0]},
                       {"rounding", rounding_name(a.fmt.rounding)},
                       {"saturation", "clamp to [qmin, qmax]"}});
  }
  nlohmann::json convs = nlohmann::json::array();
  for (size_t i = 0; i < L; ++i) {
    const CLayer& c = ls[i];
    const WeightQuant& wq = q.weights[i];
    std::vector<float> ws(wq.params.scale.begin(), wq.params.scale.end());
    convs.push_back({{"conv", i + 1},
                     {"kernel", c.k},
                     {"in_channels", c.cin},
                     {"out_channels", c.cout},
                     {"activation", conv_activation(q.cfg, i) == Activation::relu ? "relu (clamp at the output zero point)" : "none"},
                     {"weights", {{"format", format_json(wq.fmt)}, {"qmin", wq.fmt.qmin()}, {"qmax", wq.fmt.qmax()}, {"scale", ws}, {"c_type", c.nibbles ? "uint8_t, two codes per byte (low nibble first)" : c.wtype}}},
                     {"input", fmt::format("a{}", i)},
                     {"output", fmt::format("a{}", i + 1)},
                     {"bias", {{"bits", 32}, {"scale", "input scale x weight scale (per output channel)"}}},
                     {"accumulator_bits", c.acc_bits},
                     {"accumulator_bound", "max over output channels of |bias| + max|x - z_in| * sum |w| (this model's codes): no partial sum of any input overflows"},
                     {"requantisation", {{"multiplier_bits", 31},
                                          {"m0", c.m0},
                                          {"shift", c.shift},
                                          {"rule", "round(acc * m0 / 2^shift), ties " + std::string(c.half_away ? "away from zero" : "to even") + ", + zero point, clamp to [lo, hi]"},
                                          {"product_bits", c.acc_bits + 31},
                                          {"lo", c.lo},
                                          {"hi", c.hi}}}});
  }
  return {{"model", q.cfg.describe()}, {"mode", q.mode},     {"scale", r},
          {"tensors", tensors},       {"convs", convs},      {"weight_bytes", e.weight_bytes},
          {"arena_bytes", e.arena_bytes}, {"arena_width", width},
          {"line_buffers", "activation a_j (j = 1..L-1) keeps k_{j+1} rows of width x channels codes"}};
}

}  // namespace

CExport export_c(const QuantModel& q, const std::string& name, int width, int gw, int gh, uint64_t seed, bool pack4) {
  QSR_CHECK(!name.empty() && (std::isalpha(static_cast<unsigned char>(name[0])) || name[0] == '_') &&
                std::all_of(name.begin(), name.end(), [](char ch) { return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_'; }),
            "export: --name '" + name + "' is not a C identifier");
  QSR_CHECK(width >= 1 && gw >= 1 && gh >= 1, "export: sizes must be positive");
  QSR_CHECK(!q.needs_calibration(), "export: the model's activations are not calibrated");
  const std::vector<CLayer> ls = c_layers(q, pack4);
  CExport e;
  e.width = width;
  e.header = c_header(q, ls, name);
  e.source = c_source(q, ls, name, e);
  for (size_t j = 1; j < ls.size(); ++j) e.arena_bytes += ring_bytes(ls, j, width);
  c_golden(q, name, gw, gh, seed, e);
  e.sidecar = c_sidecar(q, ls, e, width);
  return e;
}

}  // namespace qsr::quant
