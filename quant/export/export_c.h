// `qsr export --format c`: a quantised model as self-contained C99 for a small CPU, and a JSON
// sidecar for hardware designers (docs/EMBEDDED.md).
//
// The C forward is integer only (no float, no malloc, no libc beyond <stdint.h>/<stddef.h>)
// and computes exactly the reference execution's codes (QuantModel::forward, which the integer
// engine equals bit for bit): per conv, acc = bias + sum (x - z_in) w over the taps inside the
// image (padding is the input's zero point, so outside taps add nothing), then the spec's
// requantisation round(acc m0 / 2^shift) (the format's rounding rule) + z_out, clamped to
// [lo, hi] (lo = max(qmin, z_out) under ReLU). It streams rows: activation a_j (j = 1..L-1)
// lives in a ring of k_{j+1} rows of width x channels codes, refilled on demand, so the arena
// depends on the width, not the height. The input and the output (after depth-to-space) are
// the caller's buffers of codes on the grids of a0 and aL.
//
// Exportable: every conv on the integer path (integer weights, static quantised input and
// output), ReLU or no activation, accumulators that provably fit 32 bits (int8, int16x8,
// wNaM with small enough N + M, fixed point); anything else is a qsr::Error naming why.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "quant/ptq/qmodel.h"

namespace qsr::quant {

struct CExport {
  std::string header, source;           // NAME.h, NAME.c
  std::string golden;                    // NAME_golden.h: input and output codes from the integer engine
  std::string check;                     // NAME_check.c: a main() comparing the forward with the golden vectors
  nlohmann::json sidecar;                // NAME.json: per tensor formats, per conv accumulator widths, sizes
  int64_t weight_bytes = 0;              // const data: weights, biases, multipliers, shifts
  int64_t arena_bytes = 0;               // for `width`
  int width = 0;
};

// Exports `q` under the C identifier prefix `name` (letters, digits, '_'), the arena sized
// for `width`-pixel-wide low-res rows, golden vectors of gw x gh low-res pixels (seed `seed`).
// pack4: weights of at most 4 bits two per byte (half the flash; the inner loop unpacks
// them), else one per int8_t.
CExport export_c(const QuantModel& q, const std::string& name, int width, int gw, int gh, uint64_t seed, bool pack4 = true);

}  // namespace qsr::quant
