// Whole-image inference: tiles with halos (so memory stays bounded and the
// output is identical to whole-image inference), and RGB/grey image upscaling.
#pragma once
#include <functional>

#include "engine/tensor.h"
#include "models/espcn.h"
#include "models/image/image.h"

namespace qsr {

// Low-res pixels each side that an output pixel depends on: sum of k/2 over the convs.
int receptive_radius(const EspcnConfig& cfg);

// Anything that maps low-res [n, h, w, c] to [n, h*r, w*r, c]: a float or a
// quantised model. tile_invariant: the output of a pixel depends only on its
// receptive field (false for dynamic-range models, which quantise each input
// from its own range; they are always run on whole images).
struct Network {
  EspcnConfig cfg;
  std::function<Tensor(const Tensor&)> forward;
  bool tile_invariant = true;
};
Network network_of(Espcn& model);  // the float model (no gradients); `model` must outlive it

// x: [1, h, w, c] -> [1, h*r, w*r, c]. tile > 0: process tile x tile low-res
// pieces, each with a halo of receptive_radius() pixels, and keep only the
// tile's own pixels (the result equals tile = 0 bit for bit). No gradients.
Tensor upscale_tensor(const Network& net, const Tensor& x, int tile = 0);
Tensor upscale_tensor(Espcn& model, const Tensor& x, int tile = 0);

// An 8-bit grey or RGB image: grey runs the model on the image; RGB runs it on
// Pillow's YCbCr luma and upscales Cb and Cr with Pillow's bicubic, as the
// Keras example does; the result is rounded to 8 bits.
Image upscale_image(const Network& net, const Image& im, int tile = 256);
Image upscale_image(Espcn& model, const Image& im, int tile = 256);

}  // namespace qsr
