// Image quality metrics.
#pragma once
#include "models/image.h"

namespace qsr {

// Mean squared error over all channels with `shave` pixels dropped at each border.
double mse(const Image& a, const Image& b, int shave = 0);
double mse(const Plane& a, const Plane& b, int shave = 0);
// PSNR = 10 log10(peak^2 / mse) in dB (infinity for identical inputs).
double psnr(const Image& a, const Image& b, int shave = 0, double peak = 255.0);
double psnr(const Plane& a, const Plane& b, int shave = 0, double peak = 255.0);

}  // namespace qsr
