#include "models/metrics.h"

#include "engine/parallel.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

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

namespace {

// ssim_index.m on two w x h double planes.
double ssim_impl(const std::vector<double>& a, const std::vector<double>& b, int w, int h, double peak) {
  constexpr int kWin = 11;
  QSR_CHECK(w >= kWin && h >= kWin, "ssim: image (after the border shave) smaller than the 11x11 window (" +
                                        std::to_string(w) + "x" + std::to_string(h) + ")");
  // fspecial('gaussian', 11, 1.5) is separable: the outer product of this normalised 1-D kernel.
  double g[kWin], gs = 0;
  for (int i = 0; i < kWin; ++i) gs += g[i] = std::exp(-double((i - 5) * (i - 5)) / (2 * 1.5 * 1.5));
  for (double& v : g) v /= gs;
  const double c1 = (0.01 * peak) * (0.01 * peak), c2 = (0.03 * peak) * (0.03 * peak);
  const int ow = w - kWin + 1, oh = h - kWin + 1;
  // Horizontal 'valid' pass of the five maps, then vertical; rows in parallel, each row's sum
  // kept apart and the rows added in order (the same result with any thread count).
  const size_t n = size_t(ow) * h;
  std::vector<double> hs[5];
  for (auto& v : hs) v.assign(n, 0.0);
  parallel_for(h, [&](int64_t y0, int64_t y1) {
    for (int64_t y = y0; y < y1; ++y)
      for (int x = 0; x < ow; ++x) {
        double s[5] = {0, 0, 0, 0, 0};
        for (int k = 0; k < kWin; ++k) {
          const double p = a[size_t(y) * w + x + k], q = b[size_t(y) * w + x + k];
          s[0] += g[k] * p;
          s[1] += g[k] * q;
          s[2] += g[k] * p * p;
          s[3] += g[k] * q * q;
          s[4] += g[k] * p * q;
        }
        for (int m = 0; m < 5; ++m) hs[m][size_t(y) * ow + x] = s[m];
      }
  }, int64_t(ow) * kWin * 5);
  std::vector<double> rows(size_t(oh), 0.0);
  parallel_for(oh, [&](int64_t y0, int64_t y1) {
    for (int64_t y = y0; y < y1; ++y) {
      double row = 0;
      for (int x = 0; x < ow; ++x) {
        double s[5] = {0, 0, 0, 0, 0};
        for (int k = 0; k < kWin; ++k)
          for (int m = 0; m < 5; ++m) s[m] += g[k] * hs[m][size_t(y + k) * ow + x];
        const double mu1 = s[0], mu2 = s[1];
        const double s11 = s[2] - mu1 * mu1, s22 = s[3] - mu2 * mu2, s12 = s[4] - mu1 * mu2;
        row += ((2 * mu1 * mu2 + c1) * (2 * s12 + c2)) / ((mu1 * mu1 + mu2 * mu2 + c1) * (s11 + s22 + c2));
      }
      rows[size_t(y)] = row;
    }
  }, int64_t(ow) * kWin * 5);
  double total = 0;
  for (double r : rows) total += r;
  return total / (double(ow) * oh);
}

template <class Get>
std::vector<double> shaved(int w, int h, int shave, Get get) {
  std::vector<double> v;
  v.reserve(size_t(w - 2 * shave) * size_t(h - 2 * shave));
  for (int y = shave; y < h - shave; ++y)
    for (int x = shave; x < w - shave; ++x) v.push_back(get(x, y));
  return v;
}

}  // namespace

double ssim(const Plane& a, const Plane& b, int shave, double peak) {
  check_same(a.width, a.height, 1, b.width, b.height, 1, shave, "ssim");
  auto pa = shaved(a.width, a.height, shave, [&](int x, int y) { return double(a.at(x, y)); });
  auto pb = shaved(a.width, a.height, shave, [&](int x, int y) { return double(b.at(x, y)); });
  return ssim_impl(pa, pb, a.width - 2 * shave, a.height - 2 * shave, peak);
}

double ssim(const Image& a, const Image& b, int shave, double peak) {
  check_same(a.width, a.height, a.channels, b.width, b.height, b.channels, shave, "ssim");
  double sum = 0;
  for (int c = 0; c < a.channels; ++c) {
    auto pa = shaved(a.width, a.height, shave, [&](int x, int y) { return double(a.at(x, y, c)); });
    auto pb = shaved(a.width, a.height, shave, [&](int x, int y) { return double(b.at(x, y, c)); });
    sum += ssim_impl(pa, pb, a.width - 2 * shave, a.height - 2 * shave, peak);
  }
  return sum / a.channels;
}
double psnr(const Plane& a, const Plane& b, int shave, double peak) { return to_psnr(mse(a, b, shave), peak); }

double psnr(const Tensor& a, const Tensor& b, double peak) {
  QSR_CHECK(a.shape() == b.shape(), "psnr: shapes differ (" + shape_str(a.shape()) + " vs " + shape_str(b.shape()) + ")");
  double sum = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double d = double(a.f32()[i]) - double(b.f32()[i]);
    sum += d * d;
  }
  return to_psnr(sum / double(a.numel()), peak);
}

}  // namespace qsr
