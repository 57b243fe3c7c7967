// The fake-quantisation kernels' per-channel constants (fq_kernels.h).
#include <cmath>

#include "engine/tensor.h"
#include "engine/kernels/fq/fq_kernels.h"

namespace qsr::quant {

namespace {

// The smallest float >= v and the largest float <= v (|v| < 2^53, so double(v) is exact).
float float_at_least(int64_t v) {
  float f = static_cast<float>(v);
  if (double(f) < double(v)) f = std::nextafter(f, INFINITY);
  return f;
}
float float_at_most(int64_t v) {
  float f = static_cast<float>(v);
  if (double(f) > double(v)) f = std::nextafter(f, -INFINITY);
  return f;
}

// float(a - b) of two int32 as the scalar code computes it (int32 arithmetic; wraps
// instead of overflowing, a case no valid zero point reaches).
float int32_diff(int32_t a, int32_t b) {
  return static_cast<float>(static_cast<int32_t>(static_cast<uint32_t>(a) - static_cast<uint32_t>(b)));
}

}  // namespace

FqPrepared fq_prepare(const float* scale, const int32_t* zero_point, int64_t c, int32_t qmin, int32_t qmax,
                      Rounding rounding) {
  QSR_CHECK(c >= 1, "fake quant: no channels");
  FqPrepared r;
  const size_t len = size_t(c) + kFqMaxWidth;
  r.buf.resize(7 * len);
  float* a[7];
  for (int t = 0; t < 7; ++t) a[t] = r.buf.data() + t * len;
  for (size_t j = 0; j < len; ++j) {
    const size_t k = j % size_t(c);
    const float s = scale[k];
    const int32_t z = zero_point[k];
    // Rounded v is an integer float r with |r| <= 2^30; the code r + z is inside [qmin, qmax]
    // iff qmin - z <= r <= qmax - z, and for a float r, r >= n iff r >= the smallest float >= n.
    const float dlo = int32_diff(qmin, z), dhi = int32_diff(qmax, z);
    a[0][j] = s;
    a[1][j] = float_at_least(int64_t(qmin) - z);
    a[2][j] = float_at_most(int64_t(qmax) - z);
    a[3][j] = dlo * s;  // dequantize_value(qmin, s, z)
    a[4][j] = dhi * s;
    a[5][j] = dlo;
    a[6][j] = dhi;
  }
  r.p.c = c;
  r.p.away = rounding == Rounding::half_away;
  r.p.s = a[0];
  r.p.lo = a[1];
  r.p.hi = a[2];
  r.p.ylo = a[3];
  r.p.yhi = a[4];
  r.p.dlo = a[5];
  r.p.dhi = a[6];
  return r;
}

}  // namespace qsr::quant
