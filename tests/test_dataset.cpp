// Datasets (models/dataset.h) and evaluation protocols (models/evaluate.h):
// synthetic folders of small PNGs, plus the real-data checks when
// ../shared/data exists (else they warn and skip).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "models/image/color.h"
#include "models/dataset.h"
#include "models/evaluate.h"
#include "models/image/image.h"
#include "models/metrics.h"
#include "models/image/resize.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace qsr;
using qsr_test::bitwise_equal;

namespace {

const std::string kData = QSR_SHARED_DATA_DIR;

// Temporary folders are named after this test file.
struct TempDir : qsr_test::TempDir {
  TempDir() : qsr_test::TempDir("qsr_test_dataset_") {}
};
using qsr_test::contains;
using qsr_test::error_of;

// A smooth-ish random RGB (or grey) image.
Image synth(int w, int h, int channels, uint32_t seed) {
  std::mt19937 g(seed);
  Image im(w, h, channels);
  const double fx = 0.05 + (g() % 100) / 400.0, fy = 0.05 + (g() % 100) / 500.0;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < channels; ++c)
        im.at(x, y, c) = static_cast<uint8_t>(
            std::clamp(128 + 90 * std::sin(fx * x * (c + 1) + fy * y) + double(g() % 21) - 10, 0.0, 255.0));
  return im;
}

void write_images(const fs::path& dir, int n, int w, int h, uint32_t seed, int channels = 3) {
  fs::create_directories(dir);
  for (int i = 0; i < n; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "img%03d.png", i);
    save_png(synth(w + (i % 3) * 3, h + (i % 2) * 5, channels, seed + uint32_t(i)), (dir / name).string());
  }
}

bool same_batch(const Batch& a, const Batch& b) { return bitwise_equal(a.x, b.x) && bitwise_equal(a.y, b.y); }

Plane plane_of(const Tensor& t, int64_t item, int64_t h, int64_t w) {
  Plane p(static_cast<int>(w), static_cast<int>(h));
  std::memcpy(p.data.data(), t.f32() + item * h * w, size_t(h * w) * sizeof(float));
  return p;
}

}  // namespace

TEST_CASE("NumPy RandomState.shuffle reproduction", "[dataset]") {
  // np.random.RandomState(1337).shuffle(list(range(10))) with NumPy 1.24.
  const std::vector<size_t> want{6, 3, 0, 4, 5, 2, 1, 9, 8, 7};
  CHECK(numpy_shuffle_permutation(10, 1337) == want);
  CHECK(numpy_shuffle_permutation(0, 1).empty());
  CHECK(numpy_shuffle_permutation(1, 1) == std::vector<size_t>{0});
  std::vector<size_t> p = numpy_shuffle_permutation(500, 1337);
  std::sort(p.begin(), p.end());
  for (size_t i = 0; i < p.size(); ++i) REQUIRE(p[i] == i);
}

TEST_CASE("bsds protocol on a synthetic train/val/test folder", "[dataset]") {
  TempDir tmp;
  write_images(tmp.path / "images" / "train", 10, 40, 33, 1);
  write_images(tmp.path / "images" / "val", 3, 30, 27, 100);
  write_images(tmp.path / "images" / "test", 2, 30, 27, 200);
  DatasetOptions opt;
  opt.scale = 3;
  opt.crop = 24;
  Dataset ds = load_dataset(tmp.path.string(), opt);
  CHECK(ds.train.size() == 10);
  CHECK(ds.val.size() == 3);
  CHECK(ds.test.size() == 2);
  CHECK(ds.warning.empty());
  CHECK(ds.train[0].image.channels == 1);  // kept as 8-bit Y
  CHECK(ds.train[0].image == bt601_luma_u8(load_image(ds.train[0].path)));
  CHECK(contains(ds.describe(), "10 training, 3 validation, 2 test"));

  BatchSampler s(ds, 4);
  CHECK(s.steps_per_epoch() == 2);  // floor(10 / 4)
  Rng rng(7);
  Batch b = s.next(rng);
  CHECK(b.x.shape() == Shape{4, 8, 8, 1});
  CHECK(b.y.shape() == Shape{4, 24, 24, 1});
  for (int64_t i = 0; i < b.y.numel(); ++i) REQUIRE((b.y.f32()[i] >= 0.f && b.y.f32()[i] <= 1.f));
  // Each input is the `y` protocol's downscale of its target.
  for (int64_t i = 0; i < 4; ++i) {
    Plane hr = plane_of(b.y, i, 24, 24);
    for (float& v : hr.data) v *= 255.f;
    const Plane lr = imresize_bicubic(hr, 1.0 / 3);
    for (size_t k = 0; k < lr.data.size(); ++k) REQUIRE(b.x.f32()[i * 64 + int64_t(k)] == Approx(lr.data[k] / 255.f).margin(1e-6));
    // Targets are 8-bit values / 255.
    for (float v : hr.data) REQUIRE(std::fabs(v - std::round(v)) < 1e-3);
  }

  // Determinism: same seed, same batches; different seeds differ.
  {
    BatchSampler s1(ds, 4), s2(ds, 4), s3(ds, 4);
    Rng r1(42), r2(42), r3(43);
    std::vector<Batch> e1 = s1.epoch(r1), e2 = s2.epoch(r2), e3 = s3.epoch(r3);
    REQUIRE(e1.size() == 2);
    bool all_same = true, any_diff = false;
    for (size_t k = 0; k < e1.size(); ++k) {
      all_same = all_same && same_batch(e1[k], e2[k]);
      any_diff = any_diff || !same_batch(e1[k], e3[k]);
    }
    CHECK(all_same);
    CHECK(any_diff);
  }
  // ... and with any thread count.
  {
    BatchSampler s1(ds, 5), s2(ds, 5);
    Rng r1(9), r2(9);
    Batch a = s1.next(r1);
    qsr_test::ThreadCount one(1);
    Batch c = s2.next(r2);
    CHECK(same_batch(a, c));
  }
  // An epoch visits every training item once (whole images of one size: steps * batch = n).
  {
    BatchSampler s5(ds, 5);
    CHECK(s5.steps_per_epoch() == 2);
  }

  // Validation: centre crops, the same as train_sample for training items.
  std::vector<Sample> val = ds.validation_samples();
  REQUIRE(val.size() == 3);
  CHECK(val[0].x.shape() == Shape{8, 8, 1});
  CHECK(val[0].y.shape() == Shape{24, 24, 1});
  {
    const Image& y8 = ds.val[0].image;  // 30x27 (first val image)
    const int ox = (y8.width - 24) / 2, oy = (y8.height - 24) / 2;
    for (int y = 0; y < 24; ++y)
      for (int x = 0; x < 24; ++x) REQUIRE(val[0].y.f32()[y * 24 + x] == float(y8.at(ox + x, oy + y)) * (1.f / 255.f));
  }
  Sample t0 = ds.train_sample(0);
  CHECK(t0.y.shape() == Shape{24, 24, 1});

  // Area downscale: the box mean.
  opt.downscale = Downscale::area;
  Dataset da = load_dataset(tmp.path.string(), opt);
  Sample v = da.validation_samples()[1];
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 8; ++x) {
      double m = 0;
      for (int k = 0; k < 9; ++k) m += v.y.f32()[(3 * y + k / 3) * 24 + 3 * x + k % 3];
      REQUIRE(v.x.f32()[y * 8 + x] == Approx(m / 9).margin(1e-6));
    }

  // Whole-image resize: every item is crop x crop already, no crop drawn.
  opt.downscale = Downscale::bicubic;
  opt.whole_image = true;
  Dataset dw = load_dataset(tmp.path.string(), opt);
  CHECK(dw.train[3].image.width == 24);
  CHECK(dw.train[3].image.height == 24);
  CHECK(dw.train[3].image == bt601_luma_u8(resize_pillow_bicubic(load_image(dw.train[3].path), 24, 24)));
}

TEST_CASE("bsds random crops and flips", "[dataset]") {
  TempDir tmp;
  write_images(tmp.path / "train", 1, 15, 15, 3);  // exactly one 15x15 image (i = 0: no size offset)
  write_images(tmp.path / "val", 1, 15, 15, 4);
  DatasetOptions opt;
  opt.crop = 15;
  opt.flips = true;
  Dataset ds = load_dataset(tmp.path.string(), opt);
  REQUIRE(ds.train[0].image.width == 15);
  const Image& y8 = ds.train[0].image;
  BatchSampler s(ds, 8);
  CHECK(s.steps_per_epoch() == 1);
  Rng rng(5);
  std::set<int> seen;
  for (int step = 0; step < 4; ++step) {
    Batch b = s.next(rng);
    for (int64_t i = 0; i < 8; ++i) {
      int kind = -1;
      for (int k = 0; k < 4 && kind < 0; ++k) {
        bool ok = true;
        for (int y = 0; y < 15 && ok; ++y)
          for (int x = 0; x < 15 && ok; ++x) {
            const int sx = (k & 1) ? 14 - x : x, sy = (k & 2) ? 14 - y : y;
            ok = b.y.f32()[i * 225 + y * 15 + x] == float(y8.at(sx, sy)) * (1.f / 255.f);
          }
        if (ok) kind = k;
      }
      REQUIRE(kind >= 0);
      seen.insert(kind);
    }
  }
  CHECK(seen.size() == 4);  // identity, horizontal, vertical, both

  // Random crops: positions vary, each window is a crop of the image.
  TempDir tmp2;
  write_images(tmp2.path, 12, 40, 30, 11);
  DatasetOptions o2;
  o2.crop = 12;
  o2.scale = 4;
  Dataset d2 = load_dataset(tmp2.path.string(), o2);
  BatchSampler s2(d2, 2);
  Rng r2(3);
  std::set<std::tuple<size_t, int, int>> where;
  for (int k = 0; k < 10; ++k) {
    Batch b = s2.next(r2);
    CHECK(b.x.shape() == Shape{2, 3, 3, 1});
    CHECK(b.y.shape() == Shape{2, 12, 12, 1});
    for (int64_t i = 0; i < 2; ++i) {
      bool found = false;
      for (size_t m = 0; m < d2.train.size() && !found; ++m) {
        const Image& y8 = d2.train[m].image;
        for (int oy = 0; oy + 12 <= y8.height && !found; ++oy)
          for (int ox = 0; ox + 12 <= y8.width && !found; ++ox) {
            bool ok = true;
            for (int y = 0; y < 12 && ok; ++y)
              for (int x = 0; x < 12 && ok; ++x) ok = b.y.f32()[i * 144 + y * 12 + x] == float(y8.at(ox + x, oy + y)) * (1.f / 255.f);
            if (ok) {
              found = true;
              where.insert({m, ox, oy});
            }
          }
      }
      REQUIRE(found);
    }
  }
  CHECK(where.size() >= 15);  // 20 random windows, nearly all distinct
}

TEST_CASE("Generic folders: deterministic 10% validation split", "[dataset]") {
  TempDir tmp;
  write_images(tmp.path, 25, 20, 20, 50);
  DatasetOptions opt;
  opt.crop = 18;
  Dataset ds = load_dataset(tmp.path.string(), opt);
  CHECK(ds.train.size() == 23);  // int(0.1 * 25) = 2 validation images
  CHECK(ds.val.size() == 2);
  CHECK(ds.test.empty());
  // The validation images are the last int(0.1 n) of the NumPy-shuffled sorted list.
  const std::vector<std::string> files = list_images(tmp.path.string(), true);
  const std::vector<size_t> perm = numpy_shuffle_permutation(25, 1337);
  CHECK(ds.val[0].path == files[perm[23]]);
  CHECK(ds.val[1].path == files[perm[24]]);
  CHECK(ds.train[0].path == files[perm[0]]);
  Dataset again = load_dataset(tmp.path.string(), opt);
  CHECK(again.val[1].path == ds.val[1].path);
  opt.split_seed = 7;
  Dataset other = load_dataset(tmp.path.string(), opt);
  CHECK((other.val[0].path != ds.val[0].path || other.val[1].path != ds.val[1].path));

  TempDir few;
  write_images(few.path, 3, 20, 20, 60, 1);  // grey images
  Dataset d3 = load_dataset(few.path.string(), DatasetOptions{.crop = 18});
  CHECK(d3.train.size() == 2);
  CHECK(d3.val.size() == 1);  // at least one when n >= 2
}

TEST_CASE("keras protocol on a synthetic folder", "[dataset]") {
  TempDir tmp;
  write_images(tmp.path / "images" / "train", 6, 40, 30, 1);
  write_images(tmp.path / "images" / "test", 4, 33, 45, 9);
  DatasetOptions opt;
  opt.protocol = DatasetProtocol::keras;
  opt.crop = 30;
  Dataset ds = load_dataset(tmp.path.string(), opt);
  CHECK(ds.train.size() == 8);  // 80/20 of all 10 images, test included
  CHECK(ds.val.size() == 2);
  CHECK(contains(ds.warning, "test"));
  CHECK(ds.train[0].image.channels == 3);
  BatchSampler s(ds, 3);
  CHECK(s.steps_per_epoch() == 2);
  Rng rng(1);
  Batch b = s.next(rng);
  CHECK(b.x.shape() == Shape{3, 10, 10, 1});
  CHECK(b.y.shape() == Shape{3, 30, 30, 1});
  // The pipeline by hand for one validation image: TF bilinear, /255, rgb_to_yuv Y, TF area.
  Sample v = ds.validation_samples()[0];
  const Image& im = ds.val[0].image;
  Plane ch[3];
  for (int c = 0; c < 3; ++c) ch[c] = resize_tf_bilinear(channel_plane(im, c), 30, 30);
  Plane y(30, 30);
  for (size_t i = 0; i < y.data.size(); ++i)
    y.data[i] = 0.299f * ch[0].data[i] / 255.f + 0.587f * ch[1].data[i] / 255.f + 0.114f * ch[2].data[i] / 255.f;
  for (size_t i = 0; i < y.data.size(); ++i) REQUIRE(v.y.f32()[i] == Approx(y.data[i]).margin(1e-6));
  for (int yy = 0; yy < 10; ++yy)
    for (int xx = 0; xx < 10; ++xx) {
      double m = 0;
      for (int k = 0; k < 9; ++k) m += y.at(3 * xx + k % 3, 3 * yy + k / 3);
      REQUIRE(v.x.f32()[yy * 10 + xx] == Approx(m / 9).margin(1e-6));
    }
  // Same seed, same batches.
  BatchSampler s1(ds, 3), s2(ds, 3);
  Rng r1(5), r2(5);
  CHECK(same_batch(s1.next(r1), s2.next(r2)));
}

TEST_CASE("Dataset errors are one-line qsr::Errors", "[dataset][errors]") {
  TempDir tmp;
  CHECK(contains(error_of([&] { load_dataset(tmp / "nope"); }), "no such folder"));
  CHECK(contains(error_of([&] { load_dataset(tmp.path.string()); }), "no image files"));
  write_images(tmp.path / "train", 2, 20, 20, 1);
  CHECK(contains(error_of([&] { load_dataset(tmp.path.string(), DatasetOptions{.crop = 99}); }),
                 "smaller than the 99x99 crop"));
  CHECK(contains(error_of([&] { load_dataset(tmp.path.string(), DatasetOptions{.crop = 16}); }),
                 "not a multiple of the scale"));
  CHECK(contains(error_of([] { parse_dataset_protocol("foo"); }), "unknown dataset protocol"));
  CHECK(contains(error_of([] { parse_downscale("foo"); }), "unknown downscale"));
  {
    std::ofstream f(tmp / "train/bad.png", std::ios::binary);
    f << "junk";
  }
  const std::string msg = error_of([&] { load_dataset(tmp.path.string(), DatasetOptions{.crop = 12}); });
  CHECK(contains(msg, "bad.png"));
  CHECK(msg.find('\n') == std::string::npos);
  fs::remove(tmp / "train/bad.png");
  Dataset ds = load_dataset(tmp.path.string(), DatasetOptions{.crop = 12});
  CHECK(contains(error_of([&] { BatchSampler(ds, 0); }), "batch size"));
}

// ---- evaluation -----------------------------------------------------------------

namespace {

// The y protocol's bicubic output for `im`, as an upscaler result.
Upscaler y_identity(const Image& im, int r) {
  const Image c = crop(im, im.width - im.width % r, im.height - im.height % r);
  const Plane lr = imresize_bicubic(channel_plane(bt601_luma_u8(c), 0), 1.0 / r);
  const Image bic = planes_to_image({imresize_bicubic(lr, double(r))});
  return [bic](const Tensor&) { return image_to_tensor(bic); };
}

// The keras protocol's bicubic Y (Pillow YCbCr of the Pillow bicubic RGB; for
// grey images the grey value itself, which YCbCr(v, 128, 128) -> RGB returns
// unchanged) + 0.5 (for the truncation).
Upscaler keras_identity(const Image& im, int r) {
  const Image rgb = to_rgb(im);
  const int w = rgb.width / r, h = rgb.height / r;
  const Image bic = resize_pillow_bicubic(resize_pillow_bicubic(rgb, w, h), r * w, r * h);
  const Image y = im.channels == 1 ? bic : pillow_rgb_to_ycbcr(bic);
  return [y](const Tensor&) {
    Tensor t({1, y.height, y.width, 1});
    for (int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = (float(y.data[size_t(i) * 3]) + 0.5f) / 255.f;
    return t;
  };
}

}  // namespace

TEST_CASE("Evaluation plumbing: a bicubic upscaler scores the bicubic baseline", "[evaluate]") {
  const Image colour = synth(50, 41, 3, 77);
  const Image grey = synth(47, 52, 1, 78);
  for (const Image* im : {&colour, &grey}) {
    const NamedImage ni{"dir/pic.png", *im};
    EvalImage e = evaluate_y_image(ni, 3, y_identity(*im, 3));
    CHECK(e.name == "pic.png");
    CHECK(e.psnr_model == e.psnr_bicubic);
    CHECK(e.ssim_model == e.ssim_bicubic);
    CHECK(e.psnr_bicubic > 15);
    CHECK(e.ssim_bicubic < 1);
    CHECK(e.seconds >= 0);
  }
  // keras: exact for grey images (Cb = Cr = 128); close for colour ones (YCbCr round trip).
  EvalImage g = evaluate_keras_image({"g.png", grey}, 3, keras_identity(grey, 3));
  CHECK(g.psnr_model == g.psnr_bicubic);
  CHECK(g.ssim_model == g.ssim_bicubic);
  EvalImage c = evaluate_keras_image({"c.png", colour}, 3, keras_identity(colour, 3));
  CHECK(c.psnr_model == Approx(c.psnr_bicubic).margin(1.0));
  WARN("keras protocol, colour, bicubic Y through the model path: " << c.psnr_model << " vs " << c.psnr_bicubic
                                                                     << " dB");

  // The model sees the LR luma in [0, 1] with the right shape; wrong shapes are errors.
  Shape seen;
  auto spy = [&](const Tensor& x) {
    seen = x.shape();
    return Tensor({1, x.dim(1) * 3, x.dim(2) * 3, 1});
  };
  evaluate_y_image({"a.png", colour}, 3, spy);
  CHECK(seen == Shape{1, 13, 16, 1});
  evaluate_keras_image({"a.png", colour}, 3, spy);
  CHECK(seen == Shape{1, 13, 16, 1});
  const std::string msg =
      error_of([&] { evaluate_y_image({"a.png", colour}, 3, [](const Tensor&) { return Tensor({1, 2, 2, 1}); }); });
  CHECK(contains(msg, "a.png: upscaler returned [1, 2, 2, 1]"));
  // Outputs are clipped: all-ones scores like an all-255 image.
  EvalImage hi = evaluate_y_image({"a.png", colour}, 3, [](const Tensor& x) {
    return Tensor::full({1, x.dim(1) * 3, x.dim(2) * 3, 1}, 7.f);
  });
  const Image y8 = bt601_luma_u8(crop(colour, 48, 39));
  Image white(48, 39, 1);
  std::fill(white.data.begin(), white.data.end(), uint8_t(255));
  CHECK(hi.psnr_model == Approx(psnr(white, y8, 3)).epsilon(1e-12));
}

TEST_CASE("Evaluation results as JSON", "[evaluate]") {
  TempDir tmp;
  write_images(tmp.path, 2, 40, 40, 5);
  EvalOptions opt;
  opt.protocol = EvalProtocol::y;
  EvalResult r = evaluate(tmp.path.string(), opt, [](const Tensor& x) {
    return Tensor::full({1, x.dim(1) * 3, x.dim(2) * 3, 1}, 0.5f);
  });
  REQUIRE(r.images.size() == 2);
  CHECK(r.mean_psnr_bicubic == Approx((r.images[0].psnr_bicubic + r.images[1].psnr_bicubic) / 2));
  CHECK(r.mean_ssim_model == Approx((r.images[0].ssim_model + r.images[1].ssim_model) / 2));
  const std::string path = tmp / "eval.json";
  save_eval_json(r, path);
  std::ifstream f(path);
  const nlohmann::json j = nlohmann::json::parse(f);
  CHECK(j["protocol"] == "y");
  CHECK(j["scale"] == 3);
  REQUIRE(j["images"].size() == 2);
  CHECK(j["images"][0]["name"] == "img000.png");
  for (const char* k : {"psnr_bicubic", "psnr_model", "ssim_bicubic", "ssim_model", "seconds"})
    CHECK(j["images"][1].contains(k));
  CHECK(j["images"][0].size() == 6);
  CHECK(j["mean_psnr_bicubic"].get<double>() == Approx(r.mean_psnr_bicubic));
  CHECK(j["mean_psnr_model"].get<double>() == Approx(r.mean_psnr_model));
  CHECK(j["mean_ssim_bicubic"].get<double>() == Approx(r.mean_ssim_bicubic));
  CHECK(j["mean_ssim_model"].get<double>() == Approx(r.mean_ssim_model));
  CHECK(j.size() == 7);
  CHECK(contains(error_of([&] { save_eval_json(r, tmp / "no/such/dir.json"); }), "cannot write"));
  // keras needs 60 files unless all.
  opt.protocol = EvalProtocol::keras;
  CHECK(contains(error_of([&] { eval_files(tmp.path.string(), opt); }), "[50:60]"));
  opt.all = true;
  CHECK(eval_files(tmp.path.string(), opt).size() == 2);
  CHECK(contains(error_of([] { parse_eval_protocol("z"); }), "unknown evaluation protocol"));
}

// ---- real data -------------------------------------------------------------------

TEST_CASE("Real data: BSDS500 datasets (keras split, load time)", "[dataset][data]") {
  const std::string root = kData + "/BSDS500";
  if (!fs::is_directory(root + "/images/test")) {
    WARN("skipped: no data in " << root);
    return;
  }
  DatasetOptions opt;
  opt.protocol = DatasetProtocol::keras;
  Dataset k = load_dataset(root, opt);
  WARN(std::fixed << std::setprecision(2) << "BSDS500 keras: 500 images loaded in " << k.load_seconds << " s");
  CHECK(k.train.size() == 400);
  CHECK(k.val.size() == 100);
  CHECK(!k.warning.empty());
  // np.random.RandomState(1337).shuffle of the 500 sorted paths (NumPy 1.24).
  CHECK(k.train[0].path == root + "/images/test/277053.jpg");
  CHECK(k.train[1].path == root + "/images/test/92014.jpg");
  CHECK(k.train[2].path == root + "/images/val/229036.jpg");
  CHECK(k.train[399].path == root + "/images/train/144067.jpg");
  CHECK(k.val[0].path == root + "/images/test/296028.jpg");
  CHECK(k.val[99].path == root + "/images/test/35049.jpg");
  BatchSampler s(k, 8);
  CHECK(s.steps_per_epoch() == 50);
  Rng rng(1337);
  Batch b = s.next(rng);
  CHECK(b.x.shape() == Shape{8, 100, 100, 1});
  CHECK(b.y.shape() == Shape{8, 300, 300, 1});

  Dataset d = load_dataset(root);
  WARN(std::fixed << std::setprecision(2) << "BSDS500 bsds: 500 images loaded in " << d.load_seconds << " s");
  CHECK(d.train.size() == 200);
  CHECK(d.val.size() == 100);
  CHECK(d.test.size() == 200);
  BatchSampler s2(d, 16);
  CHECK(s2.steps_per_epoch() == 12);
  const auto t0 = std::chrono::steady_clock::now();
  Batch b2 = s2.next(rng);
  WARN("one bsds batch of 16: " << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()
                                << " s");
  CHECK(b2.x.shape() == Shape{16, 100, 100, 1});
  if (!qsr_test::kSmall) CHECK(d.validation_samples().size() == 100);
}

TEST_CASE("Real data: evaluation protocols reproduce the bicubic baselines", "[evaluate][data]") {
  if (!fs::is_directory(kData + "/Set5") || !fs::is_directory(kData + "/Set14") ||
      !fs::is_directory(kData + "/BSDS500/images/test")) {
    WARN("skipped: no data in " << kData);
    return;
  }
  const auto zero = [](const Tensor& x) { return Tensor({1, x.dim(1) * 3, x.dim(2) * 3, 1}); };
  EvalOptions opt;
  opt.protocol = EvalProtocol::keras;
  EvalResult k = evaluate(kData + "/BSDS500", opt, zero);
  REQUIRE(k.images.size() == 10);
  CHECK(k.images[0].name == "157032.jpg");
  CHECK(k.images[9].name == "163004.jpg");
  CHECK(k.images[0].psnr_bicubic == Approx(30.0157).margin(0.0001));
  CHECK(k.mean_psnr_bicubic == Approx(26.7357).margin(0.005));

  opt.protocol = EvalProtocol::y;
  EvalResult s5 = evaluate(kData + "/Set5", opt, zero);
  if (qsr_test::kSmall) {  // sanitizer builds: Set14 is too slow here (test_image checks its bicubic number)
    WARN("keras BSDS500 test[50:60] bicubic: " << k.mean_psnr_bicubic << " dB; y Set5 x3: " << s5.mean_psnr_bicubic
                                               << " dB / " << s5.mean_ssim_bicubic << "; Set14 skipped (sanitizer build)");
    CHECK(s5.mean_psnr_bicubic == Approx(30.3922).margin(0.005));
    CHECK(s5.mean_ssim_bicubic == Approx(0.8682).margin(0.0005));
    return;
  }
  EvalResult s14 = evaluate(kData + "/Set14", opt, zero);
  WARN(std::setprecision(7) << "keras BSDS500 test[50:60] bicubic: " << k.mean_psnr_bicubic << " dB / SSIM "
                            << k.mean_ssim_bicubic << "; y Set5 x3: " << s5.mean_psnr_bicubic << " dB / "
                            << s5.mean_ssim_bicubic << "; y Set14 x3: " << s14.mean_psnr_bicubic << " dB / "
                            << s14.mean_ssim_bicubic);
  CHECK(s5.images.size() == 5);
  CHECK(s14.images.size() == 14);
  CHECK(s5.mean_psnr_bicubic == Approx(30.3922).margin(0.005));
  CHECK(s14.mean_psnr_bicubic == Approx(27.6347).margin(0.005));
  // Published bicubic SSIM, Set5 x3 (SRCNN/VDSR tables): 0.8682.
  CHECK(s5.mean_ssim_bicubic == Approx(0.8682).margin(0.0005));

  // The model path with the bicubic result fed back gives the bicubic numbers on real images too.
  const NamedImage bird{"bird.png", load_image(list_images(kData + "/Set5")[1])};
  EvalImage e = evaluate_y_image(bird, 3, y_identity(bird.image, 3));
  CHECK(e.psnr_model == e.psnr_bicubic);
  CHECK(e.ssim_model == e.ssim_bicubic);
}
