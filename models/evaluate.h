// Evaluation protocols, independent of the model code: the model is an
// upscaler callback taking the low-res luma [1, h, w, 1] in [0, 1] and
// returning [1, h*r, w*r, 1] (any other shape is a qsr::Error).
//
//  keras  The Keras ESPCN example's evaluation, step by step (Pillow 9.4):
//         files = sorted images of the test folder, [50:60] (the ten files
//         157032.jpg ... 163004.jpg of BSDS500) or all of them;
//         LR = Pillow BICUBIC of the RGB image to floor(w/r) x floor(h/r);
//         reference = Pillow BICUBIC of the original to r*that;
//         bicubic = Pillow BICUBIC of the LR RGB up to r*that;
//         model: Pillow convert("YCbCr") of the LR, Y/255 -> upscaler ->
//         out * 255 (float32), clip(0, 255), np.uint8() (truncation toward
//         zero); Cb, Cr = Pillow BICUBIC of the LR's Cb, Cr; merged and
//         converted to RGB with Pillow's YCbCr -> RGB;
//         PSNR over all RGB values, peak 255, no shave. SSIM (the example has
//         none): the mean of the per-channel RGB SSIMs, no shave.
//         Bicubic mean on BSDS500 test[50:60], x3: 26.7357 dB.
//
//  y      The standard SR protocol: image cropped to a multiple of r; Y =
//         MATLAB rgb2ycbcr luma rounded to 8 bits (grey: R = G = B);
//         LR = MATLAB imresize bicubic of that Y (as double) by 1/r, NOT
//         rounded; the model sees LR / 255; bicubic = imresize of LR by r,
//         rounded to 8 bits; model output clipped to [0, 1], * 255, rounded
//         to 8 bits; PSNR and SSIM (metrics.h) on Y with r pixels shaved at
//         each border. Bicubic x3: Set5 30.3922 dB (SSIM 0.8682 published),
//         Set14 27.6347 dB. (Rounding the LR to 8 bits first gives a
//         different Set5 number; see docs/IMAGES.md.)
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "models/image/image.h"

namespace qsr {

// y_lr: [1, h, w, 1] in [0, 1]; returns [1, h*r, w*r, 1].
using Upscaler = std::function<Tensor(const Tensor& y_lr)>;

enum class EvalProtocol { keras, y };
EvalProtocol parse_eval_protocol(const std::string& name);  // "keras" / "y"; else qsr::Error
std::string to_string(EvalProtocol p);

struct EvalImage {
  std::string name;  // file name (no folder)
  double psnr_bicubic = 0;
  double psnr_model = 0;
  double ssim_bicubic = 0;
  double ssim_model = 0;
  double seconds = 0;  // time spent in the upscaler
};

struct EvalResult {
  std::string protocol;  // "keras" / "y"
  int scale = 0;
  std::vector<EvalImage> images;
  double mean_psnr_bicubic = 0;
  double mean_psnr_model = 0;
  double mean_ssim_bicubic = 0;
  double mean_ssim_model = 0;
  void compute_means();
};

struct EvalOptions {
  EvalProtocol protocol = EvalProtocol::y;
  int scale = 3;
  bool all = false;  // keras: every test image instead of sorted [50:60]
};

// One image under each protocol (exposed for tests and tools).
EvalImage evaluate_keras_image(const NamedImage& im, int scale, const Upscaler& up);
EvalImage evaluate_y_image(const NamedImage& im, int scale, const Upscaler& up);

// An image prepared for one protocol, once, so that many models can be scored on it: the
// model's input, what its output is compared with, and bicubic's scores.
struct EvalInput {
  std::string name, path;
  EvalProtocol protocol = EvalProtocol::y;
  int scale = 3;
  Tensor lr;     // [1, h, w, 1] in [0, 1]: the model's input
  Image ref;     // y: the high-res Y (8 bits); keras: the RGB reference
  Image chroma;  // keras: the LR's YCbCr resized up (its Y is replaced by the model's)
  double psnr_bicubic = 0, ssim_bicubic = 0;
};
EvalInput prepare_eval_input(const NamedImage& im, EvalProtocol protocol, int scale);
// Runs the upscaler on the input and scores it (evaluate_*_image = score(prepare(...))).
EvalImage score_eval_input(const EvalInput& in, const Upscaler& up);
EvalResult evaluate_prepared(const std::vector<EvalInput>& inputs, const Upscaler& up);

// Images already loaded, all evaluated.
EvalResult evaluate_images(const std::vector<NamedImage>& images, EvalProtocol protocol, int scale,
                           const Upscaler& up);

// The files a protocol evaluates in `dir`. keras: `dir` may be the BSDS500
// root (uses images/test), a folder with test/, or the test folder itself;
// sorted [50:60] unless opt.all (fewer than 60 images without all: error).
// y: every image of `dir` (sorted, not recursive).
std::vector<std::string> eval_files(const std::string& dir, const EvalOptions& opt);

// Loads eval_files(dir, opt) and evaluates them.
EvalResult evaluate(const std::string& dir, const EvalOptions& opt, const Upscaler& up);

// JSON: {"protocol", "scale", "images": [{"name", "psnr_bicubic", "psnr_model",
// "ssim_bicubic", "ssim_model", "seconds"}...], "mean_psnr_bicubic",
// "mean_psnr_model", "mean_ssim_bicubic", "mean_ssim_model"} (an infinite
// PSNR is written as null).
std::string eval_result_json(const EvalResult& r, int indent = 2);
// Writes eval_result_json atomically (temporary file + rename); qsr::Error on failure.
void save_eval_json(const EvalResult& r, const std::string& path);

}  // namespace qsr
