// The f32 kernel table: one function pointer per kernel of f32_list.inc,
// filled once per instruction set. ops pick a table (normally the active one).
#pragma once
#include <cstdint>

#include "engine/cpu.h"

namespace qsr {

// Output-channel block of packed conv weights (one AVX-512 vector, two AVX2 vectors).
constexpr int kConvNR = 16;
// Pixels per forward tile and reduction rows per weight-gradient tile.
constexpr int kConvMR = 6;
// Pixels per step of conv_bwdw_tiles: its packed output-gradient block (64 x 16 floats)
// lives on the stack and in L1.
constexpr int kConvBwdwPix = 64;

// Winograd F(4x4, 3x3): 4x4 output pixels per tile from 6x6 input pixels, 36 products.
constexpr int kWinoOut = 4;
constexpr int kWinoAlpha = 6;
constexpr int kWinoXi = kWinoAlpha * kWinoAlpha;

// Geometry of one stride-1, 'same'-padded convolution over NHWC data.
struct ConvGeom {
  int n = 1, h = 1, w = 1, cin = 1, cout = 1, k = 1;
  int pad() const { return k / 2; }
  int hp() const { return h + 2 * pad(); }
  int wp() const { return w + 2 * pad(); }
  int ncb() const { return (cout + kConvNR - 1) / kConvNR; }
  int cout_pad() const { return ncb() * kConvNR; }
  int64_t rows() const { return int64_t(k) * k * cin; }  // reduction length
  int64_t macs() const { return int64_t(n) * h * w * rows() * cout; }
};

struct F32Kernels {
  Isa isa;
#define QSR_F32_KERNEL(name, params) void(*name) params;
#include "engine/kernels/f32/f32_list.inc"
#undef QSR_F32_KERNEL
};

// kernel_set(isa).f32 and kernel_set().f32 (engine/kernels/kernel_set.h): qsr::Error when the
// ISA is not compiled or not runnable.
const F32Kernels& f32_kernels(Isa isa);
const F32Kernels& f32_kernels();

// Per-ISA declarations.
namespace kern_scalar {
#define QSR_F32_KERNEL(name, params) void name params;
#include "engine/kernels/f32/f32_list.inc"
#undef QSR_F32_KERNEL
}  // namespace kern_scalar
namespace kern_avx2 {
#define QSR_F32_KERNEL(name, params) void name params;
#include "engine/kernels/f32/f32_list.inc"
#undef QSR_F32_KERNEL
}  // namespace kern_avx2
namespace kern_avx512 {
#define QSR_F32_KERNEL(name, params) void name params;
#include "engine/kernels/f32/f32_list.inc"
#undef QSR_F32_KERNEL
}  // namespace kern_avx512

}  // namespace qsr
