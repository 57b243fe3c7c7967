#include "models/upscale.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/autograd.h"
#include "models/image/color.h"
#include "models/image/resize.h"

namespace qsr {

int receptive_radius(const EspcnConfig& cfg) {
  int r = 0;
  for (int k : cfg.kernels) r += k / 2;
  return r;
}

Network network_of(Espcn& model) {
  Network n;
  n.cfg = model.config();
  n.forward = [&model](const Tensor& x) {
    NoGradGuard ng;
    return model.forward(Var(x)).value();
  };
  return n;
}

Tensor upscale_tensor(Espcn& model, const Tensor& x, int tile) { return upscale_tensor(network_of(model), x, tile); }

Image upscale_image(Espcn& model, const Image& im, int tile) { return upscale_image(network_of(model), im, tile); }

Tensor upscale_tensor(const Network& net, const Tensor& x, int tile) {
  QSR_CHECK(x.ndim() == 4 && x.dim(0) == 1, "upscale: input must be [1, h, w, c], got " + shape_str(x.shape()));
  QSR_CHECK(tile >= 0, "upscale: the tile size must not be negative");
  NoGradGuard ng;
  const int h = int(x.dim(1)), w = int(x.dim(2)), c = int(x.dim(3)), r = net.cfg.scale;
  if (tile == 0 || !net.tile_invariant || (h <= tile && w <= tile)) return net.forward(x);
  const int halo = receptive_radius(net.cfg);
  Tensor out = Tensor::empty({1, int64_t(h) * r, int64_t(w) * r, c});
  const float* src = x.f32();
  float* dst = out.f32();
  for (int ty = 0; ty < h; ty += tile)
    for (int tx = 0; tx < w; tx += tile) {
      const int th = std::min(tile, h - ty), tw = std::min(tile, w - tx);
      const int y0 = std::max(0, ty - halo), y1 = std::min(h, ty + th + halo);
      const int x0 = std::max(0, tx - halo), x1 = std::min(w, tx + tw + halo);
      Tensor piece = Tensor::empty({1, y1 - y0, x1 - x0, c});
      for (int y = y0; y < y1; ++y)
        std::memcpy(piece.f32() + int64_t(y - y0) * (x1 - x0) * c, src + (int64_t(y) * w + x0) * c,
                    sizeof(float) * (x1 - x0) * c);
      Tensor up = net.forward(piece);
      const int pw = (x1 - x0) * r;
      for (int y = 0; y < th * r; ++y)
        std::memcpy(dst + ((int64_t(ty) * r + y) * w * r + int64_t(tx) * r) * c,
                    up.f32() + ((int64_t(ty - y0) * r + y) * pw + int64_t(tx - x0) * r) * c, sizeof(float) * tw * r * c);
    }
  return out;
}

namespace {
uint8_t to_u8(float v) { return static_cast<uint8_t>(std::lround(std::clamp(v, 0.f, 1.f) * 255.f)); }
}  // namespace

Image upscale_image(const Network& net, const Image& im, int tile) {
  QSR_CHECK(net.cfg.channels == 1, "upscale: only single-channel (luma) models are supported");
  QSR_CHECK(im.channels == 1 || im.channels == 3, "upscale: the image must be grey or RGB");
  const int r = net.cfg.scale;
  if (im.channels == 1) {
    Tensor y = upscale_tensor(net, image_to_tensor(im), tile);
    Image o(im.width * r, im.height * r, 1);
    for (size_t i = 0; i < o.data.size(); ++i) o.data[i] = to_u8(y.f32()[i]);
    return o;
  }
  Image ycc = pillow_rgb_to_ycbcr(im);
  Plane luma = channel_plane(ycc, 0);
  Tensor y = upscale_tensor(net, plane_to_tensor(luma), tile);
  Image up_ycc = resize_pillow_bicubic(ycc, im.width * r, im.height * r);
  for (size_t i = 0; i < size_t(up_ycc.width) * up_ycc.height; ++i) up_ycc.data[i * 3] = to_u8(y.f32()[i]);
  return pillow_ycbcr_to_rgb(up_ycc);
}

}  // namespace qsr
