// Procedural images for demonstrations, timings and checks that need no image files.
#pragma once
#include <cstdint>

#include "engine/random.h"
#include "engine/tensor.h"

namespace qsr {

// n "natural-ish" luminance images [n, h, w, 1] in [0, 1]: smooth gradients, a soft-edged disc
// and an oriented grating, different for each draw of rng.
Tensor synthetic_images(int n, int h, int w, Rng& rng);

// One smooth random image [1, h, w, c] in [0, 1] with noise (what a photo's luma looks like to
// the kernels), the same for the same seed.
Tensor random_test_image(uint64_t seed, int h, int w, int c);

}  // namespace qsr
