#include "models/image/color.h"

#include <array>
#include <cmath>

namespace qsr {

namespace {

using Table = std::array<int32_t, 256>;

// (int)((i - offset) * c * 64 + 0.5), evaluated in double like Pillow's tables.
Table make_table(double c, int offset) {
  Table t{};
  for (int i = 0; i < 256; ++i) t[i] = static_cast<int32_t>(double(i - offset) * c * 64.0 + 0.5);
  return t;
}

struct YccTables {
  Table y_r = make_table(0.299, 0), y_g = make_table(0.587, 0), y_b = make_table(0.114, 0);
  Table cb_r = make_table(-0.16874, 0), cb_g = make_table(-0.33126, 0), cb_b = make_table(0.5, 0);
  Table cr_g = make_table(-0.41869, 0), cr_b = make_table(-0.08131, 0);  // cr_r == cb_b
  Table r_cr = make_table(1.402, 128), g_cb = make_table(-0.34414, 128), g_cr = make_table(-0.71414, 128);
  Table b_cb = make_table(1.772, 128);
};

const YccTables& tables() {
  static const YccTables t;
  return t;
}

uint8_t clamp_u8(int v) { return static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v); }

uint8_t round_u8(double v) {
  if (!(v > 0.0)) return 0;
  if (v >= 255.0) return 255;
  return static_cast<uint8_t>(v + 0.5);
}

void check_colour(const Image& im, const char* who) {
  QSR_CHECK(im.channels == 1 || im.channels == 3, std::string(who) + ": need a grey or RGB image");
}

}  // namespace

void pillow_rgb_to_ycbcr(const uint8_t* in, uint8_t* out, size_t pixels) {
  const YccTables& t = tables();
  for (size_t i = 0; i < pixels; ++i, in += 3, out += 3) {
    const int r = in[0], g = in[1], b = in[2];
    const int y = (t.y_r[r] + t.y_g[g] + t.y_b[b]) >> 6;
    const int cb = ((t.cb_r[r] + t.cb_g[g] + t.cb_b[b]) >> 6) + 128;
    const int cr = ((t.cb_b[r] + t.cr_g[g] + t.cr_b[b]) >> 6) + 128;
    out[0] = static_cast<uint8_t>(y);
    out[1] = static_cast<uint8_t>(cb);
    out[2] = static_cast<uint8_t>(cr);
  }
}

void pillow_ycbcr_to_rgb(const uint8_t* in, uint8_t* out, size_t pixels) {
  const YccTables& t = tables();
  for (size_t i = 0; i < pixels; ++i, in += 3, out += 3) {
    const int y = in[0], cb = in[1], cr = in[2];
    const int r = y + (t.r_cr[cr] >> 6);
    const int g = y + ((t.g_cb[cb] + t.g_cr[cr]) >> 6);
    const int b = y + (t.b_cb[cb] >> 6);
    out[0] = clamp_u8(r);
    out[1] = clamp_u8(g);
    out[2] = clamp_u8(b);
  }
}

Image pillow_rgb_to_ycbcr(const Image& im) {
  check_colour(im, "pillow_rgb_to_ycbcr");
  Image rgb = to_rgb(im);
  Image out(rgb.width, rgb.height, 3);
  pillow_rgb_to_ycbcr(rgb.data.data(), out.data.data(), size_t(rgb.width) * rgb.height);
  return out;
}

Image pillow_ycbcr_to_rgb(const Image& ycc) {
  QSR_CHECK(ycc.channels == 3, "pillow_ycbcr_to_rgb: need a 3-channel Y, Cb, Cr image");
  Image out(ycc.width, ycc.height, 3);
  pillow_ycbcr_to_rgb(ycc.data.data(), out.data.data(), size_t(ycc.width) * ycc.height);
  return out;
}

void bt601_rgb_to_ycbcr(double r, double g, double b, double& y, double& cb, double& cr) {
  y = 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0;
  cb = 128.0 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255.0;
  cr = 128.0 + (112.0 * r - 93.786 * g - 18.214 * b) / 255.0;
}

void bt601_planes(const Image& im, Plane* y, Plane* cb, Plane* cr) {
  check_colour(im, "bt601_planes");
  const size_t n = size_t(im.width) * im.height;
  for (Plane* p : {y, cb, cr})
    if (p) *p = Plane(im.width, im.height);
  const int c = im.channels;
  for (size_t i = 0; i < n; ++i) {
    const double r = im.data[i * c], g = im.data[i * c + (c == 3 ? 1 : 0)], b = im.data[i * c + (c == 3 ? 2 : 0)];
    double vy, vcb, vcr;
    bt601_rgb_to_ycbcr(r, g, b, vy, vcb, vcr);
    if (y) y->data[i] = static_cast<float>(vy);
    if (cb) cb->data[i] = static_cast<float>(vcb);
    if (cr) cr->data[i] = static_cast<float>(vcr);
  }
}

Plane bt601_luma(const Image& im) {
  Plane y;
  bt601_planes(im, &y, nullptr, nullptr);
  return y;
}

Image bt601_luma_u8(const Image& im) {
  check_colour(im, "bt601_luma_u8");
  Image out(im.width, im.height, 1);
  const int c = im.channels;
  for (size_t i = 0; i < out.data.size(); ++i) {
    const double r = im.data[i * c], g = im.data[i * c + (c == 3 ? 1 : 0)], b = im.data[i * c + (c == 3 ? 2 : 0)];
    double y, cb, cr;
    bt601_rgb_to_ycbcr(r, g, b, y, cb, cr);
    out.data[i] = round_u8(y);
  }
  return out;
}

Image bt601_ycbcr_u8(const Image& im) {
  check_colour(im, "bt601_ycbcr_u8");
  Image out(im.width, im.height, 3);
  const int c = im.channels;
  for (size_t i = 0; i < size_t(im.width) * im.height; ++i) {
    const double r = im.data[i * c], g = im.data[i * c + (c == 3 ? 1 : 0)], b = im.data[i * c + (c == 3 ? 2 : 0)];
    double y, cb, cr;
    bt601_rgb_to_ycbcr(r, g, b, y, cb, cr);
    out.data[3 * i] = round_u8(y);
    out.data[3 * i + 1] = round_u8(cb);
    out.data[3 * i + 2] = round_u8(cr);
  }
  return out;
}

}  // namespace qsr
