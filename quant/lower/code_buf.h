// The engine's code buffers between convs (int_engine.h; layout: int_kernels.h).
#pragma once
#include <algorithm>
#include <cstdint>
#include <memory>

#include "engine/kernels/int/int_kernels.h"

namespace qsr::quant {

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

}  // namespace qsr::quant
