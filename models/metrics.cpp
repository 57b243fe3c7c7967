#include "models/metrics.h"

#include <cmath>
#include <limits>

namespace qsr {

namespace {

void check_same(int aw, int ah, int ac, int bw, int bh, int bc, int shave, const char* who) {
  QSR_CHECK(aw == bw && ah == bh && ac == bc,
            std::string(who) + ": sizes differ (" + std::to_string(aw) + "x" + std::to_string(ah) + "x" +
                std::to_string(ac) + " vs " + std::to_string(bw) + "x" + std::to_string(bh) + "x" +
                std::to_string(bc) + ")");
  QSR_CHECK(shave >= 0 && 2 * shave < aw && 2 * shave < ah, std::string(who) + ": border shave too large");
}

template <class Get>
double mse_impl(int w, int h, int c, int shave, Get get) {
  double sum = 0;
  for (int y = shave; y < h - shave; ++y)
    for (int x = shave; x < w - shave; ++x)
      for (int k = 0; k < c; ++k) {
        const double d = get(x, y, k);
        sum += d * d;
      }
  return sum / (double(w - 2 * shave) * (h - 2 * shave) * c);
}

double to_psnr(double m, double peak) {
  return m == 0 ? std::numeric_limits<double>::infinity() : 10.0 * std::log10(peak * peak / m);
}

}  // namespace

double mse(const Image& a, const Image& b, int shave) {
  check_same(a.width, a.height, a.channels, b.width, b.height, b.channels, shave, "mse");
  return mse_impl(a.width, a.height, a.channels, shave,
                  [&](int x, int y, int k) { return double(a.at(x, y, k)) - double(b.at(x, y, k)); });
}

double mse(const Plane& a, const Plane& b, int shave) {
  check_same(a.width, a.height, 1, b.width, b.height, 1, shave, "mse");
  return mse_impl(a.width, a.height, 1, shave,
                  [&](int x, int y, int) { return double(a.at(x, y)) - double(b.at(x, y)); });
}

double psnr(const Image& a, const Image& b, int shave, double peak) { return to_psnr(mse(a, b, shave), peak); }
double psnr(const Plane& a, const Plane& b, int shave, double peak) { return to_psnr(mse(a, b, shave), peak); }

}  // namespace qsr
