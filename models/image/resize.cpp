#include "models/image/resize.h"

#include <algorithm>
#include <cmath>

namespace qsr {

namespace {

void check_size(int w, int h, const char* who) {
  QSR_CHECK(w > 0 && h > 0 && w <= (1 << 16) && h <= (1 << 16),
            std::string(who) + ": bad output size " + std::to_string(w) + "x" + std::to_string(h));
}

uint8_t round_u8(double v) {
  if (!(v > 0.0)) return 0;
  if (v >= 255.0) return 255;
  return static_cast<uint8_t>(v + 0.5);
}

// ---- Pillow ------------------------------------------------------------------

constexpr int kPrecisionBits = 32 - 8 - 2;

double pillow_cubic(double x) {
  const double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

struct FixedTaps {
  std::vector<int> first, count;  // per output index
  int ksize = 0;
  std::vector<int32_t> k;         // out * ksize
};

FixedTaps pillow_coeffs(int in_size, int out_size) {
  const float in0 = 0.f, in1 = static_cast<float>(in_size);
  const double scale = static_cast<double>(in1 - in0) / out_size;
  const double filterscale = std::max(scale, 1.0);
  const double support = 2.0 * filterscale;
  FixedTaps t;
  t.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  t.first.resize(out_size);
  t.count.resize(out_size);
  t.k.assign(size_t(out_size) * t.ksize, 0);
  std::vector<double> w(t.ksize);
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = in0 + (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    xmax = std::min(xmax, t.ksize);
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      w[x] = pillow_cubic((x + xmin - center + 0.5) * ss);
      ww += w[x];
    }
    for (int x = 0; x < xmax; ++x) {
      const double v = ww != 0.0 ? w[x] / ww : w[x];
      t.k[size_t(xx) * t.ksize + x] =
          v < 0 ? static_cast<int32_t>(-0.5 + v * (1 << kPrecisionBits)) : static_cast<int32_t>(0.5 + v * (1 << kPrecisionBits));
    }
    t.first[xx] = xmin;
    t.count[xx] = std::max(xmax, 0);
  }
  return t;
}

uint8_t pillow_clip8(int64_t acc) {
  const int64_t v = acc >> kPrecisionBits;
  return static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
}

// ---- MATLAB ------------------------------------------------------------------

double matlab_cubic(double x) {
  const double ax = std::fabs(x), ax2 = ax * ax, ax3 = ax2 * ax;
  return (1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1 ? 1.0 : 0.0) +
         (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((1 < ax && ax <= 2) ? 1.0 : 0.0);
}

struct Taps {
  int out = 0, p = 0;
  std::vector<int> idx;     // out * p, 0-based, after symmetric padding
  std::vector<double> w;    // out * p
};

// MATLAB imresize's contributions() for the cubic kernel.
Taps matlab_contributions(int in_len, int out_len, double scale) {
  const bool aa = scale < 1.0;
  const double kw = aa ? 4.0 / scale : 4.0;
  Taps t;
  t.out = out_len;
  t.p = static_cast<int>(std::ceil(kw)) + 2;
  t.idx.resize(size_t(out_len) * t.p);
  t.w.resize(size_t(out_len) * t.p);
  const int64_t period = 2 * int64_t(in_len);
  for (int i = 0; i < out_len; ++i) {
    const double x = i + 1;
    const double u = x / scale + 0.5 * (1 - 1 / scale);
    const double left = std::floor(u - kw / 2);
    double sum = 0;
    for (int j = 0; j < t.p; ++j) {
      const double ind = left + j;
      const double d = u - ind;
      const double w = aa ? scale * matlab_cubic(scale * d) : matlab_cubic(d);
      t.w[size_t(i) * t.p + j] = w;
      sum += w;
      int64_t m = (static_cast<int64_t>(ind) - 1) % period;
      if (m < 0) m += period;
      t.idx[size_t(i) * t.p + j] = static_cast<int>(m < in_len ? m : period - 1 - m);
    }
    for (int j = 0; j < t.p; ++j) t.w[size_t(i) * t.p + j] /= sum;
  }
  return t;
}

// One MATLAB pass over a double buffer [h][w]: along rows (vertical) or columns.
std::vector<double> matlab_pass(const std::vector<double>& in, int w, int h, bool vertical, const Taps& t,
                                bool round8) {
  const int ow = vertical ? w : t.out, oh = vertical ? t.out : h;
  std::vector<double> out(size_t(ow) * oh);
  for (int y = 0; y < oh; ++y)
    for (int x = 0; x < ow; ++x) {
      const int o = vertical ? y : x;
      double acc = 0;
      for (int j = 0; j < t.p; ++j) {
        const double wt = t.w[size_t(o) * t.p + j];
        const int s = t.idx[size_t(o) * t.p + j];
        acc += wt * (vertical ? in[size_t(s) * w + x] : in[size_t(y) * w + s]);
      }
      out[size_t(y) * ow + x] = round8 ? round_u8(acc) : acc;
    }
  return out;
}

std::vector<double> matlab_resize(std::vector<double> buf, int w, int h, int ow, int oh, double sx, double sy,
                                  bool round8) {
  const Taps tv = matlab_contributions(h, oh, sy), th = matlab_contributions(w, ow, sx);
  // Smallest scale first; rows (dimension 1) first on ties.
  if (sy <= sx) {
    buf = matlab_pass(buf, w, h, true, tv, round8);
    buf = matlab_pass(buf, w, oh, false, th, round8);
  } else {
    buf = matlab_pass(buf, w, h, false, th, round8);
    buf = matlab_pass(buf, ow, h, true, tv, round8);
  }
  return buf;
}

int matlab_out_size(int in, double scale) {
  // ceil(scale * in), guarding against 1/3 * 3 = 1.0000000000000002 style noise.
  const double v = scale * in;
  const double r = std::round(v);
  return static_cast<int>(std::fabs(v - r) < 1e-9 * std::max(1.0, v) ? r : std::ceil(v));
}

}  // namespace

Image resize_pillow_bicubic(const Image& im, int w, int h) {
  check_size(w, h, "resize_pillow_bicubic");
  QSR_CHECK(im.width > 0 && im.height > 0 && (im.channels == 1 || im.channels == 3),
            "resize_pillow_bicubic: empty or bad image");
  const int c = im.channels;
  const bool need_h = w != im.width, need_v = h != im.height;
  const FixedTaps tv = pillow_coeffs(im.height, h);
  // Rows the vertical pass reads.
  const int y_first = need_v ? tv.first[0] : 0;
  const int y_last = need_v ? tv.first[h - 1] + tv.count[h - 1] : im.height;
  Image tmp;
  const Image* src = &im;
  int src_row0 = 0;
  if (need_h) {
    const FixedTaps th = pillow_coeffs(im.width, w);
    tmp = Image(w, y_last - y_first, c);
    for (int yy = 0; yy < tmp.height; ++yy)
      for (int xx = 0; xx < w; ++xx) {
        const int32_t* k = &th.k[size_t(xx) * th.ksize];
        const int xmin = th.first[xx];
        for (int ch = 0; ch < c; ++ch) {
          int64_t acc = int64_t(1) << (kPrecisionBits - 1);
          for (int x = 0; x < th.count[xx]; ++x) acc += int64_t(im.at(x + xmin, yy + y_first, ch)) * k[x];
          tmp.at(xx, yy, ch) = pillow_clip8(acc);
        }
      }
    src = &tmp;
    src_row0 = y_first;
  }
  if (!need_v) return need_h ? tmp : im;
  Image out(w, h, c);
  for (int yy = 0; yy < h; ++yy) {
    const int32_t* k = &tv.k[size_t(yy) * tv.ksize];
    const int ymin = tv.first[yy] - src_row0;
    for (int xx = 0; xx < w; ++xx)
      for (int ch = 0; ch < c; ++ch) {
        int64_t acc = int64_t(1) << (kPrecisionBits - 1);
        for (int y = 0; y < tv.count[yy]; ++y) acc += int64_t(src->at(xx, y + ymin, ch)) * k[y];
        out.at(xx, yy, ch) = pillow_clip8(acc);
      }
  }
  return out;
}

Plane resize_tf_area(const Plane& p, int w, int h) {
  check_size(w, h, "resize_tf_area");
  QSR_CHECK(p.width > 0 && p.height > 0, "resize_tf_area: empty plane");
  const float sy = static_cast<float>(p.height) / h, sx = static_cast<float>(p.width) / w;
  // Per output index: the input cells and their overlap with [i*s, (i+1)*s).
  auto cells = [](int out, int in, float s, std::vector<std::vector<std::pair<int, double>>>& c) {
    c.assign(out, {});
    for (int i = 0; i < out; ++i) {
      const float a = i * s, b = (i + 1) * s;
      const int64_t start = static_cast<int64_t>(std::floor(a)), end = static_cast<int64_t>(std::ceil(b));
      for (int64_t j = start; j < end; ++j) {
        const float lo = std::max(a, static_cast<float>(j)), hi = std::min(b, static_cast<float>(j + 1));
        c[i].push_back({static_cast<int>(std::min<int64_t>(j, in - 1)), double(hi - lo)});
      }
    }
  };
  std::vector<std::vector<std::pair<int, double>>> cy, cx;
  cells(h, p.height, sy, cy);
  cells(w, p.width, sx, cx);
  const double inv = 1.0 / (double(sy) * double(sx));
  Plane out(w, h);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      double acc = 0;
      for (const auto& [iy, wy] : cy[y]) {
        double row = 0;
        for (const auto& [ix, wx] : cx[x]) row += wx * p.at(ix, iy);
        acc += wy * row;
      }
      out.at(x, y) = static_cast<float>(acc * inv);
    }
  return out;
}

Plane resize_tf_bilinear(const Plane& p, int w, int h) {
  check_size(w, h, "resize_tf_bilinear");
  QSR_CHECK(p.width > 0 && p.height > 0, "resize_tf_bilinear: empty plane");
  struct Lerp { int lo, hi; double t; };
  auto weights = [](int out, int in) {
    const float s = static_cast<float>(in) / out;
    std::vector<Lerp> r(out);
    for (int i = 0; i < out; ++i) {
      const float src = (static_cast<float>(i) + 0.5f) * s - 0.5f;
      const float f = std::floor(src);
      r[i].lo = std::max(static_cast<int>(f), 0);
      r[i].hi = std::min(static_cast<int>(std::ceil(src)), in - 1);
      r[i].t = src - f;
    }
    return r;
  };
  const std::vector<Lerp> ly = weights(h, p.height), lx = weights(w, p.width);
  Plane out(w, h);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const double tl = p.at(lx[x].lo, ly[y].lo), tr = p.at(lx[x].hi, ly[y].lo);
      const double bl = p.at(lx[x].lo, ly[y].hi), br = p.at(lx[x].hi, ly[y].hi);
      const double top = tl + (tr - tl) * lx[x].t, bottom = bl + (br - bl) * lx[x].t;
      out.at(x, y) = static_cast<float>(top + (bottom - top) * ly[y].t);
    }
  return out;
}

Plane imresize_bicubic(const Plane& p, double scale) {
  QSR_CHECK(scale > 0 && std::isfinite(scale), "imresize_bicubic: scale must be positive");
  QSR_CHECK(p.width > 0 && p.height > 0, "imresize_bicubic: empty plane");
  const int ow = matlab_out_size(p.width, scale), oh = matlab_out_size(p.height, scale);
  check_size(ow, oh, "imresize_bicubic");
  std::vector<double> buf(p.data.begin(), p.data.end());
  buf = matlab_resize(std::move(buf), p.width, p.height, ow, oh, scale, scale, false);
  Plane out(ow, oh);
  for (size_t i = 0; i < buf.size(); ++i) out.data[i] = static_cast<float>(buf[i]);
  return out;
}

Plane imresize_bicubic(const Plane& p, int w, int h) {
  check_size(w, h, "imresize_bicubic");
  QSR_CHECK(p.width > 0 && p.height > 0, "imresize_bicubic: empty plane");
  std::vector<double> buf(p.data.begin(), p.data.end());
  buf = matlab_resize(std::move(buf), p.width, p.height, w, h, double(w) / p.width, double(h) / p.height, false);
  Plane out(w, h);
  for (size_t i = 0; i < buf.size(); ++i) out.data[i] = static_cast<float>(buf[i]);
  return out;
}

Image imresize_bicubic_u8(const Image& im, double scale) {
  QSR_CHECK(scale > 0 && std::isfinite(scale), "imresize_bicubic_u8: scale must be positive");
  QSR_CHECK(im.width > 0 && im.height > 0 && (im.channels == 1 || im.channels == 3),
            "imresize_bicubic_u8: empty or bad image");
  const int ow = matlab_out_size(im.width, scale), oh = matlab_out_size(im.height, scale);
  check_size(ow, oh, "imresize_bicubic_u8");
  Image out(ow, oh, im.channels);
  for (int c = 0; c < im.channels; ++c) {
    std::vector<double> buf(size_t(im.width) * im.height);
    for (size_t i = 0; i < buf.size(); ++i) buf[i] = im.data[i * im.channels + c];
    buf = matlab_resize(std::move(buf), im.width, im.height, ow, oh, scale, scale, true);
    for (size_t i = 0; i < buf.size(); ++i) out.data[i * im.channels + c] = static_cast<uint8_t>(buf[i]);
  }
  return out;
}

Tensor area_downscale(const Tensor& hr, int r) {
  const int n = int(hr.dim(0)), h = int(hr.dim(1)) / r, w = int(hr.dim(2)) / r;
  Tensor lr({n, h, w, 1});
  const float* s = hr.f32();
  float* d = lr.f32();
  for (int b = 0; b < n; ++b)
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) {
        double acc = 0;
        for (int i = 0; i < r; ++i)
          for (int j = 0; j < r; ++j) acc += s[(int64_t(b) * hr.dim(1) + y * r + i) * hr.dim(2) + x * r + j];
        d[(int64_t(b) * h + y) * w + x] = static_cast<float>(acc / (r * r));
      }
  return lr;
}

Tensor nearest_upscale(const Tensor& lr, int r) {
  const int n = int(lr.dim(0)), h = int(lr.dim(1)), w = int(lr.dim(2));
  Tensor up({n, int64_t(h) * r, int64_t(w) * r, 1});
  for (int b = 0; b < n; ++b)
    for (int y = 0; y < h * r; ++y)
      for (int x = 0; x < w * r; ++x)
        up.f32()[(int64_t(b) * h * r + y) * w * r + x] = lr.f32()[(int64_t(b) * h + y / r) * w + x / r];
  return up;
}

}  // namespace qsr
