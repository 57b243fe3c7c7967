// Image quality metrics.
#pragma once
#include "models/image/image.h"

namespace qsr {

// Mean squared error over all channels with `shave` pixels dropped at each border.
double mse(const Image& a, const Image& b, int shave = 0);
double mse(const Plane& a, const Plane& b, int shave = 0);
// PSNR = 10 log10(peak^2 / mse) in dB (infinity for identical inputs).
double psnr(const Image& a, const Image& b, int shave = 0, double peak = 255.0);
double psnr(const Plane& a, const Plane& b, int shave = 0, double peak = 255.0);
// ... of two f32 tensors of the same shape, every value in one sum (peak 1: values in [0, 1]).
double psnr(const Tensor& a, const Tensor& b, double peak = 1.0);

// SSIM (Wang, Bovik, Sheikh, Simoncelli 2004) as in their MATLAB ssim_index.m,
// the code SR papers evaluate with: 11x11 Gaussian window, sigma 1.5
// (fspecial, normalised), K1 = 0.01, K2 = 0.03, L = peak (255), filter2
// 'valid' (no padding), mean of the SSIM map; no downsampling. Computed in
// double on the plane with `shave` pixels dropped at each border. Images: the
// mean over channels. The shaved size must be at least 11x11 (qsr::Error).
double ssim(const Plane& a, const Plane& b, int shave = 0, double peak = 255.0);
double ssim(const Image& a, const Image& b, int shave = 0, double peak = 255.0);

}  // namespace qsr
