#include "models/synthetic.h"

#include <algorithm>
#include <cmath>

namespace qsr {

Tensor synthetic_images(int n, int h, int w, Rng& rng) {
  Tensor t({n, h, w, 1});
  float* p = t.f32();
  for (int b = 0; b < n; ++b) {
    double gx = rng.uniform() - 0.5, gy = rng.uniform() - 0.5, base = 0.3 + 0.4 * rng.uniform();
    double fx = 0.05 + 0.5 * rng.uniform(), fy = 0.05 + 0.5 * rng.uniform(), amp = 0.1 + 0.2 * rng.uniform();
    double cx = w * rng.uniform(), cy = h * rng.uniform(), rad = 0.1 * w + 0.3 * w * rng.uniform();
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) {
        double v = base + gx * x / w + gy * y / h + amp * std::sin(fx * x + fy * y);
        double d = std::hypot(x - cx, y - cy);
        v += 0.25 / (1.0 + std::exp((d - rad) * 0.8));
        p[(int64_t(b) * h + y) * w + x] = static_cast<float>(std::clamp(v, 0.0, 1.0));
      }
  }
  return t;
}

Tensor random_test_image(uint64_t seed, int h, int w, int c) {
  Rng r(seed);
  Tensor t({1, h, w, c});
  const float fa = r.uniform(0.05f, 0.5f), fb = r.uniform(0.05f, 0.5f);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int ch = 0; ch < c; ++ch)
        t.f32()[(int64_t(y) * w + x) * c + ch] =
            std::clamp(0.5f + 0.35f * std::sin(fa * x + fb * y + ch) + r.uniform(-0.1f, 0.1f), 0.f, 1.f);
  return t;
}

}  // namespace qsr
