#include "engine/kernels/f32/reference.h"

namespace qsr::ref {

void conv2d_forward(const ConvGeom& g, const float* x, const float* w, const float* b, float* y, bool relu) {
  const int p = g.pad();
  for (int n = 0; n < g.n; ++n)
    for (int oy = 0; oy < g.h; ++oy)
      for (int ox = 0; ox < g.w; ++ox)
        for (int co = 0; co < g.cout; ++co) {
          double s = b ? b[co] : 0.0;
          for (int ky = 0; ky < g.k; ++ky) {
            int iy = oy + ky - p;
            if (iy < 0 || iy >= g.h) continue;
            for (int kx = 0; kx < g.k; ++kx) {
              int ix = ox + kx - p;
              if (ix < 0 || ix >= g.w) continue;
              const float* xp = x + ((int64_t(n) * g.h + iy) * g.w + ix) * g.cin;
              const float* wp = w + (int64_t(ky) * g.k + kx) * g.cin * g.cout + co;
              for (int ci = 0; ci < g.cin; ++ci) s += double(xp[ci]) * wp[int64_t(ci) * g.cout];
            }
          }
          float v = static_cast<float>(s);
          if (relu && v < 0.f) v = 0.f;
          y[((int64_t(n) * g.h + oy) * g.w + ox) * g.cout + co] = v;
        }
}

void conv2d_backward_data(const ConvGeom& g, const float* gy, const float* w, float* gx) {
  const int p = g.pad();
  for (int n = 0; n < g.n; ++n)
    for (int iy = 0; iy < g.h; ++iy)
      for (int ix = 0; ix < g.w; ++ix)
        for (int ci = 0; ci < g.cin; ++ci) {
          double s = 0;
          for (int ky = 0; ky < g.k; ++ky) {
            int oy = iy - ky + p;
            if (oy < 0 || oy >= g.h) continue;
            for (int kx = 0; kx < g.k; ++kx) {
              int ox = ix - kx + p;
              if (ox < 0 || ox >= g.w) continue;
              const float* gp = gy + ((int64_t(n) * g.h + oy) * g.w + ox) * g.cout;
              const float* wp = w + ((int64_t(ky) * g.k + kx) * g.cin + ci) * g.cout;
              for (int co = 0; co < g.cout; ++co) s += double(gp[co]) * wp[co];
            }
          }
          gx[((int64_t(n) * g.h + iy) * g.w + ix) * g.cin + ci] = static_cast<float>(s);
        }
}

void conv2d_backward_weights(const ConvGeom& g, const float* x, const float* gy, float* gw, float* gb) {
  const int p = g.pad();
  for (int ky = 0; ky < g.k; ++ky)
    for (int kx = 0; kx < g.k; ++kx)
      for (int ci = 0; ci < g.cin; ++ci)
        for (int co = 0; co < g.cout; ++co) {
          double s = 0;
          for (int n = 0; n < g.n; ++n)
            for (int oy = 0; oy < g.h; ++oy) {
              int iy = oy + ky - p;
              if (iy < 0 || iy >= g.h) continue;
              for (int ox = 0; ox < g.w; ++ox) {
                int ix = ox + kx - p;
                if (ix < 0 || ix >= g.w) continue;
                s += double(x[((int64_t(n) * g.h + iy) * g.w + ix) * g.cin + ci]) *
                     gy[((int64_t(n) * g.h + oy) * g.w + ox) * g.cout + co];
              }
            }
          gw[((int64_t(ky) * g.k + kx) * g.cin + ci) * g.cout + co] = static_cast<float>(s);
        }
  if (gb) {
    for (int co = 0; co < g.cout; ++co) {
      double s = 0;
      for (int64_t i = 0; i < int64_t(g.n) * g.h * g.w; ++i) s += gy[i * g.cout + co];
      gb[co] = static_cast<float>(s);
    }
  }
}

void depth_to_space(int n, int h, int w, int c, int r, const float* in, float* out) {
  const int64_t cin = int64_t(r) * r * c;
  for (int b = 0; b < n; ++b)
    for (int y = 0; y < h * r; ++y)
      for (int x = 0; x < w * r; ++x)
        for (int ch = 0; ch < c; ++ch) {
          int64_t src = ((int64_t(b) * h + y / r) * w + x / r) * cin + ((y % r) * r + (x % r)) * c + ch;
          out[((int64_t(b) * h * r + y) * w * r + x) * c + ch] = in[src];
        }
}

void space_to_depth(int n, int h, int w, int c, int r, const float* in, float* out) {
  const int64_t cout = int64_t(r) * r * c;
  for (int b = 0; b < n; ++b)
    for (int y = 0; y < h * r; ++y)
      for (int x = 0; x < w * r; ++x)
        for (int ch = 0; ch < c; ++ch) {
          int64_t dst = ((int64_t(b) * h + y / r) * w + x / r) * cout + ((y % r) * r + (x % r)) * c + ch;
          out[dst] = in[((int64_t(b) * h * r + y) * w * r + x) * c + ch];
        }
}

void relu_fwd(int64_t n, const float* x, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0.f ? x[i] : 0.f;
}

void relu_bwd(int64_t n, const float* y, const float* gy, float* gx) {
  for (int64_t i = 0; i < n; ++i) gx[i] = y[i] > 0.f ? gy[i] : 0.f;
}

}  // namespace qsr::ref
