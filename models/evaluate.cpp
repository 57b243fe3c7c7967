#include "models/evaluate.h"

#include "engine/fileio.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "models/image/color.h"
#include "models/metrics.h"
#include "models/image/resize.h"

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

}  // namespace

EvalInput prepare_eval_input(const NamedImage& im, EvalProtocol protocol, int r) {
  try {
    QSR_CHECK(r >= 1, "scale must be at least 1");
    EvalInput in;
    in.name = base_name(im.path);
    in.path = im.path;
    in.protocol = protocol;
    in.scale = r;
    Image bic;
    if (protocol == EvalProtocol::keras) {
      const Image rgb = to_rgb(im.image);  // keras load_img: convert("RGB")
      const int w = rgb.width / r, h = rgb.height / r;
      QSR_CHECK(w >= 1 && h >= 1, "image smaller than the scale");
      const Image lr = resize_pillow_bicubic(rgb, w, h);
      in.ref = resize_pillow_bicubic(rgb, r * w, r * h);
      bic = resize_pillow_bicubic(lr, r * w, r * h);
      // upscale_image(): YCbCr of the LR, Y / 255 to the model.
      const Image ycc = pillow_rgb_to_ycbcr(lr);
      in.lr = plane_to_tensor(channel_plane(ycc, 0));
      in.chroma = resize_pillow_bicubic(ycc, r * w, r * h);  // Cb, Cr: Pillow BICUBIC (Y replaced by the model's)
      in.psnr_bicubic = psnr(bic, in.ref);
      in.ssim_bicubic = ssim(bic, in.ref);
    } else {
      const Image c = crop(im.image, im.image.width - im.image.width % r, im.image.height - im.image.height % r);
      QSR_CHECK(c.width >= r && c.height >= r, "image smaller than the scale");
      in.ref = bt601_luma_u8(c);
      // The same call as the bsds training pipeline (models/dataset.cpp).
      const Plane lr = imresize_bicubic(channel_plane(in.ref, 0), 1.0 / r);
      bic = planes_to_image({imresize_bicubic(lr, double(r))});
      in.lr = plane_to_tensor(lr);
      in.psnr_bicubic = psnr(bic, in.ref, r);
      in.ssim_bicubic = ssim(bic, in.ref, r);
    }
    return in;
  } catch (const Error& ex) {
    throw Error(im.path + ": " + ex.what());
  }
}

EvalImage score_eval_input(const EvalInput& in, const Upscaler& up) {
  try {
    const int r = in.scale;
    EvalImage e;
    e.name = in.name;
    e.psnr_bicubic = in.psnr_bicubic;
    e.ssim_bicubic = in.ssim_bicubic;
    const Tensor out = run_upscaler(up, in.lr, r, &e.seconds);
    const float* o = out.f32();
    if (in.protocol == EvalProtocol::keras) {
      Image sr_ycc = in.chroma;
      for (size_t i = 0, n = size_t(in.ref.width) * size_t(in.ref.height); i < n; ++i) {
        float v = o[i] * 255.f;                                // out_img_y *= 255.0 (float32)
        v = std::isnan(v) ? 0.f : std::clamp(v, 0.f, 255.f);  // .clip(0, 255)
        sr_ycc.data[i * 3] = static_cast<uint8_t>(v);           // np.uint8(): truncation toward zero
      }
      const Image sr = pillow_ycbcr_to_rgb(sr_ycc);
      e.psnr_model = psnr(sr, in.ref);
      e.ssim_model = ssim(sr, in.ref);
    } else {
      Image sr(in.ref.width, in.ref.height, 1);
      for (size_t i = 0; i < sr.data.size(); ++i) {
        const double v = std::isnan(o[i]) ? 0.0 : std::clamp(double(o[i]), 0.0, 1.0);
        sr.data[i] = static_cast<uint8_t>(std::lround(v * 255.0));
      }
      e.psnr_model = psnr(sr, in.ref, r);
      e.ssim_model = ssim(sr, in.ref, r);
    }
    return e;
  } catch (const Error& ex) {
    throw Error(in.path + ": " + ex.what());
  }
}

EvalImage evaluate_keras_image(const NamedImage& im, int r, const Upscaler& up) {
  return score_eval_input(prepare_eval_input(im, EvalProtocol::keras, r), up);
}

EvalImage evaluate_y_image(const NamedImage& im, int r, const Upscaler& up) {
  return score_eval_input(prepare_eval_input(im, EvalProtocol::y, r), up);
}

EvalResult evaluate_prepared(const std::vector<EvalInput>& inputs, const Upscaler& up) {
  QSR_CHECK(!inputs.empty(), "evaluate: no images");
  EvalResult res;
  res.protocol = to_string(inputs[0].protocol);
  res.scale = inputs[0].scale;
  for (const EvalInput& in : inputs) res.images.push_back(score_eval_input(in, up));
  res.compute_means();
  return res;
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
