// The file format of a lowered model (`qsr export --format engine`, read by qsr_infer.h):
// the integer engine's lowering (quant/lower/, written by engine_format.cpp), so that the inference
// library runs the kernels of engine/kernels/int/int_kernels.h on it without lowering anything.
//
// Little-endian. A 256-byte header, `nconv` ConvRecords, then the arrays, each at an offset
// that is a multiple of 64 from the start. Every array a kernel reads is listed by offset
// and element count; the reader checks each count against the one the record's geometry
// implies, so that no kernel can read past an array. The checksum is FNV-1a (32 bits) of
// every byte after the first 32.
#pragma once
#include <cstdint>

namespace qsr::infer {

inline constexpr char kMagic[8] = {'Q', 'S', 'R', 'I', 'N', 'F', 'E', 'R'};
inline constexpr uint32_t kVersion = 1;
inline constexpr int kMaxConvs = 8;
inline constexpr uint64_t kAlign = 64;

struct ArrayRef {
  uint64_t offset = 0;  // bytes from the start of the file
  uint64_t count = 0;   // elements; 0: absent
};

struct Header {
  char magic[8];
  uint32_t version;
  uint32_t header_bytes;  // sizeof(Header)
  uint64_t total_bytes;
  uint32_t checksum;
  uint32_t lanes;  // 8: lowered for the 8-lane layouts (avx2, scalar); 16: avx512-vnni's (and scalar)
  // -- 32 bytes: the checksum covers everything from here
  uint32_t nconv, scale, channels, record_bytes;
  uint64_t records;  // offset of the ConvRecords
  // The input's grid (a0): x / scale rounded by the rule, + zp, clamped.
  float in_scale;
  int32_t in_zp, in_qmin, in_qmax, in_away;
  // The output's grid (aL): (q - zp) * scale.
  float out_scale;
  int32_t out_zp;
  char mode[64];
  char lowered[16];
  uint8_t reserved[256 - 32 - 24 - 20 - 8 - 64 - 16];
};
static_assert(sizeof(Header) == 256);

// One conv as the integer engine lowered it (engine/kernels/int/int_kernels.h names the fields).
struct ConvRecord {
  int32_t k, cin, cout, cs, T, nvec, tail, ndot, dotlen;
  int32_t u8, cs8, T4, kacc, dotlen8, wino, wide, chunk, rq;
  int32_t zo, lo, hi, away;
  int32_t in_zp;    // the zero point of its input (the border value)
  int32_t in_off;   // u8: bytes hold code - in_off
  int32_t out_u8;   // the next conv reads bytes: write code - out_off
  int32_t out_off;
  int32_t reserved[6];
  ArrayRef wpack, wdot;                          // int16
  ArrayRef wpack8, wdot8, xw, wdot8x;            // int8
  ArrayRef xbeg, xky, xt;                        // int32
  ArrayRef wino_u;                               // int16
  ArrayRef beff, m0_32;                          // int32
  ArrayRef beff64, m0, shift, bshift, half;      // int64
  ArrayRef mscale;                               // double
};
static_assert(sizeof(ConvRecord) == 32 * 4 + 18 * 16);

inline uint32_t fnv1a(const unsigned char* p, uint64_t n) {
  uint32_t h = 2166136261u;
  for (uint64_t i = 0; i < n; ++i) h = (h ^ p[i]) * 16777619u;
  return h;
}

}  // namespace qsr::infer
