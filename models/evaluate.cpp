#include "models/evaluate.h"

#include "engine/fileio.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "models/color.h"
#include "models/metrics.h"
#include "models/resize.h"

namespace qsr {

namespace fs = std::filesystem;

EvalProtocol parse_eval_protocol(const std::string& name) {
  if (name == "keras") return EvalProtocol::keras;
  if (name == "y") return EvalProtocol::y;
  throw Error("unknown evaluation protocol '" + name + "' (expected keras or y)");
}

std::string to_string(EvalProtocol p) { return p == EvalProtocol::keras ? "keras" : "y"; }

void EvalResult::compute_means() {
  mean_psnr_bicubic = mean_psnr_model = mean_ssim_bicubic = mean_ssim_model = 0;
  if (images.empty()) return;
  for (const EvalImage& e : images) {
    mean_psnr_bicubic += e.psnr_bicubic;
    mean_psnr_model += e.psnr_model;
    mean_ssim_bicubic += e.ssim_bicubic;
    mean_ssim_model += e.ssim_model;
  }
  const double n = double(images.size());
  mean_psnr_bicubic /= n;
  mean_psnr_model /= n;
  mean_ssim_bicubic /= n;
  mean_ssim_model /= n;
}

namespace {

std::string base_name(const std::string& path) { return fs::path(path).filename().string(); }

// Runs the upscaler on [1, h, w, 1], checks the result is [1, h*r, w*r, 1] f32.
Tensor run_upscaler(const Upscaler& up, const Tensor& in, int r, double* seconds) {
  const auto t0 = std::chrono::steady_clock::now();
  Tensor out = up(in);
  *seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const Shape want{1, in.dim(1) * r, in.dim(2) * r, 1};
  QSR_CHECK(out.defined() && out.dtype() == DType::f32 && out.shape() == want,
            "upscaler returned " + (out.defined() ? shape_str(out.shape()) : std::string("nothing")) +
                ", expected f32 " + shape_str(want));
  return out;
}

template <class F>
EvalImage with_name(const NamedImage& im, F f) {
  try {
    EvalImage e = f();
    e.name = base_name(im.path);
    return e;
  } catch (const Error& ex) {
    throw Error(im.path + ": " + ex.what());
  }
}

}  // namespace

EvalImage evaluate_keras_image(const NamedImage& im, int r, const Upscaler& up) {
  return with_name(im, [&] {
    QSR_CHECK(r >= 1, "scale must be at least 1");
    const Image rgb = to_rgb(im.image);  // keras load_img: convert("RGB")
    const int w = rgb.width / r, h = rgb.height / r;
    QSR_CHECK(w >= 1 && h >= 1, "image smaller than the scale");
    const Image lr = resize_pillow_bicubic(rgb, w, h);
    const Image ref = resize_pillow_bicubic(rgb, r * w, r * h);
    const Image bic = resize_pillow_bicubic(lr, r * w, r * h);
    // upscale_image(): YCbCr of the LR, Y / 255 to the model.
    const Image ycc = pillow_rgb_to_ycbcr(lr);
    EvalImage e;
    const Tensor out = run_upscaler(up, plane_to_tensor(channel_plane(ycc, 0)), r, &e.seconds);
    Image sr_ycc = resize_pillow_bicubic(ycc, r * w, r * h);  // Cb, Cr: Pillow BICUBIC (Y replaced below)
    const float* o = out.f32();
    for (size_t i = 0, n = size_t(r * w) * size_t(r * h); i < n; ++i) {
      float v = o[i] * 255.f;                          // out_img_y *= 255.0 (float32)
      v = std::isnan(v) ? 0.f : std::clamp(v, 0.f, 255.f);  // .clip(0, 255)
      sr_ycc.data[i * 3] = static_cast<uint8_t>(v);     // np.uint8(): truncation toward zero
    }
    const Image sr = pillow_ycbcr_to_rgb(sr_ycc);
    e.psnr_bicubic = psnr(bic, ref);
    e.psnr_model = psnr(sr, ref);
    e.ssim_bicubic = ssim(bic, ref);
    e.ssim_model = ssim(sr, ref);
    return e;
  });
}

EvalImage evaluate_y_image(const NamedImage& im, int r, const Upscaler& up) {
  return with_name(im, [&] {
    QSR_CHECK(r >= 1, "scale must be at least 1");
    const Image c = crop(im.image, im.image.width - im.image.width % r, im.image.height - im.image.height % r);
    QSR_CHECK(c.width >= r && c.height >= r, "image smaller than the scale");
    const Image hr = bt601_luma_u8(c);
    // The same call as the bsds training pipeline (models/dataset.cpp).
    const Plane lr = imresize_bicubic(channel_plane(hr, 0), 1.0 / r);
    const Image bic = planes_to_image({imresize_bicubic(lr, double(r))});
    EvalImage e;
    const Tensor out = run_upscaler(up, plane_to_tensor(lr), r, &e.seconds);
    Image sr(hr.width, hr.height, 1);
    const float* o = out.f32();
    for (size_t i = 0; i < sr.data.size(); ++i) {
      const double v = std::isnan(o[i]) ? 0.0 : std::clamp(double(o[i]), 0.0, 1.0);
      sr.data[i] = static_cast<uint8_t>(std::lround(v * 255.0));
    }
    e.psnr_bicubic = psnr(bic, hr, r);
    e.psnr_model = psnr(sr, hr, r);
    e.ssim_bicubic = ssim(bic, hr, r);
    e.ssim_model = ssim(sr, hr, r);
    return e;
  });
}

EvalResult evaluate_images(const std::vector<NamedImage>& images, EvalProtocol protocol, int scale,
                           const Upscaler& up) {
  QSR_CHECK(!images.empty(), "evaluate: no images");
  QSR_CHECK(scale >= 1 && scale <= 16, "evaluate: scale must be between 1 and 16");
  EvalResult res;
  res.protocol = to_string(protocol);
  res.scale = scale;
  for (const NamedImage& im : images)
    res.images.push_back(protocol == EvalProtocol::keras ? evaluate_keras_image(im, scale, up)
                                                         : evaluate_y_image(im, scale, up));
  res.compute_means();
  return res;
}

std::vector<std::string> eval_files(const std::string& dir, const EvalOptions& opt) {
  std::error_code ec;
  QSR_CHECK(fs::exists(dir, ec), dir + ": no such folder");
  QSR_CHECK(fs::is_directory(dir, ec), dir + ": not a folder");
  if (opt.protocol == EvalProtocol::y) return list_images(dir);
  std::string test = dir;
  if (fs::is_directory(fs::path(dir) / "images" / "test", ec))
    test = (fs::path(dir) / "images" / "test").string();
  else if (fs::is_directory(fs::path(dir) / "test", ec))
    test = (fs::path(dir) / "test").string();
  std::vector<std::string> files = list_images(test);
  if (opt.all) return files;
  QSR_CHECK(files.size() >= 60, test + ": the keras protocol evaluates sorted images [50:60] but the folder holds " +
                                    std::to_string(files.size()) + " (evaluate all of them instead)");
  return std::vector<std::string>(files.begin() + 50, files.begin() + 60);
}

EvalResult evaluate(const std::string& dir, const EvalOptions& opt, const Upscaler& up) {
  std::vector<NamedImage> images;
  for (const std::string& f : eval_files(dir, opt)) images.push_back({f, load_image(f)});
  return evaluate_images(images, opt.protocol, opt.scale, up);
}

std::string eval_result_json(const EvalResult& r, int indent) {
  nlohmann::ordered_json j;
  j["protocol"] = r.protocol;
  j["scale"] = r.scale;
  nlohmann::ordered_json arr = nlohmann::ordered_json::array();
  for (const EvalImage& e : r.images) {
    nlohmann::ordered_json o;
    o["name"] = e.name;
    o["psnr_bicubic"] = e.psnr_bicubic;
    o["psnr_model"] = e.psnr_model;
    o["ssim_bicubic"] = e.ssim_bicubic;
    o["ssim_model"] = e.ssim_model;
    o["seconds"] = e.seconds;
    arr.push_back(std::move(o));
  }
  j["images"] = std::move(arr);
  j["mean_psnr_bicubic"] = r.mean_psnr_bicubic;
  j["mean_psnr_model"] = r.mean_psnr_model;
  j["mean_ssim_bicubic"] = r.mean_ssim_bicubic;
  j["mean_ssim_model"] = r.mean_ssim_model;
  return j.dump(indent);
}

void save_eval_json(const EvalResult& r, const std::string& path) {
  write_file_atomic(path, eval_result_json(r) + "\n");
}

}  // namespace qsr
