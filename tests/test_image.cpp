// Images, colour and resizing against the goldens of tools/gen_golden.py
// (Pillow 9.4 and NumPy transcriptions of the TensorFlow/MATLAB definitions),
// plus the bicubic baselines on the real data when ../shared/data exists.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "models/image/color.h"
#include "models/image/image.h"
#include "models/metrics.h"
#include "models/image/resize.h"
#include "models/synthetic.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace qsr;

namespace {

const std::string kFixtures = QSR_FIXTURES_DIR;

std::string fx(const std::string& name) { return kFixtures + "/" + name; }

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  REQUIRE(f.good());
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& b) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

Plane read_f32(const std::string& name) {
  std::vector<uint8_t> b = read_bytes(fx(name));
  auto nl = std::find(b.begin(), b.end(), uint8_t('\n'));
  REQUIRE(nl != b.end());
  std::istringstream hdr(std::string(b.begin(), nl));
  std::string magic;
  int w = 0, h = 0;
  hdr >> magic >> w >> h;
  REQUIRE(magic == "QSRF");
  Plane p(w, h);
  const size_t off = static_cast<size_t>(nl - b.begin()) + 1;
  REQUIRE(b.size() - off == p.data.size() * 4);
  std::memcpy(p.data.data(), b.data() + off, p.data.size() * 4);
  return p;
}

// Counts the bytes that differ (0: equal images of the same size).
int64_t diff_count(const Image& a, const Image& b) {
  if (a.width != b.width || a.height != b.height || a.channels != b.channels) return -1;
  int64_t n = 0;
  for (size_t i = 0; i < a.data.size(); ++i) n += a.data[i] != b.data[i];
  return n;
}

float max_abs_diff(const Plane& a, const Plane& b) {
  REQUIRE(a.width == b.width);
  REQUIRE(a.height == b.height);
  float m = 0;
  for (size_t i = 0; i < a.data.size(); ++i) m = std::max(m, std::fabs(a.data[i] - b.data[i]));
  return m;
}

// Temporary folders are named after this test file.
struct TempDir : qsr_test::TempDir {
  TempDir() : qsr_test::TempDir("qsr_test_image_") {}
};
using qsr_test::contains;
using qsr_test::error_of;

}  // namespace

// ---- decoding -------------------------------------------------------------------

TEST_CASE("PNG variants decode like Pillow's convert(\"RGB\"/\"L\")", "[image]") {
  const char* names[] = {"grey1", "grey2", "grey4", "grey8", "grey8_trns", "grey16", "la8", "la16",
                         "rgb8", "rgb8_trns", "rgb16", "rgba8", "rgba16", "pal1", "pal2", "pal4", "pal8"};
  for (const char* n : names) {
    INFO(n);
    Image got = load_image(fx(std::string("png_") + n + ".png"));
    Image want = load_image(fx(std::string("png_") + n + ".ref.png"));
    const bool grey = std::string(n).rfind("grey", 0) == 0 || std::string(n).rfind("la", 0) == 0;
    CHECK(got.channels == (grey ? 1 : 3));
    CHECK(got.width == 13);
    CHECK(got.height == 9);
    CHECK(diff_count(got, want) == 0);
  }
}

TEST_CASE("JPEG decode is bit-exact with Pillow's", "[image]") {
  const char* names[] = {"rgb_48x36_q90", "rgb_48x36_prog", "rgb_23x17_444", "rgb_23x17_422", "rgb_23x17_420",
                         "grey_31x20"};
  for (const char* n : names) {
    INFO(n);
    Image got = load_image(fx(std::string(n) + ".jpg"));
    Image want = load_image(fx(std::string(n) + ".jpg.ref.png"));
    CHECK(got.channels == (std::string(n).rfind("grey", 0) == 0 ? 1 : 3));
    CHECK(diff_count(got, want) == 0);
  }
}

TEST_CASE("PNG write is lossless and atomic", "[image]") {
  TempDir dir;
  for (const char* n : {"rgb_48x36.png", "grey_31x20.png"}) {
    Image im = load_image(fx(n));
    const std::string out = dir / (std::string("out_") + n);
    save_png(im, out);
    save_png(im, out);  // overwrite in place
    CHECK(diff_count(load_image(out), im) == 0);
  }
  // An all-grey RGB image stays RGB.
  Image g(5, 4, 3);
  for (size_t i = 0; i < g.data.size(); ++i) g.data[i] = static_cast<uint8_t>(40 * (i / 3));
  save_png(g, dir / "greyish.png");
  CHECK(load_image(dir / "greyish.png") == g);
  // Only the final files remain: no temporaries.
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir.path)) {
    ++files;
    CHECK(e.path().filename().string()[0] != '.');
  }
  CHECK(files == 3);
  const std::string msg = error_of([&] { save_png(g, dir / "no_such_dir/x.png"); });
  CHECK(contains(msg, "no_such_dir/x.png"));
}

TEST_CASE("Image <-> tensor conversions", "[image]") {
  Image im = load_image(fx("rgb_23x17.png"));
  Tensor t = image_to_tensor(im);
  REQUIRE(t.shape() == Shape{1, 17, 23, 3});
  CHECK(t.f32()[5] == Approx(im.data[5] / 255.f));
  CHECK(tensor_to_image(t) == im);
  Tensor t255 = image_to_tensor(im, 1.f);
  CHECK(t255.f32()[7] == float(im.data[7]));
  CHECK(tensor_to_image(t255, 1.f) == im);
  Plane p = channel_plane(im, 1);
  Tensor tp = plane_to_tensor(p);
  REQUIRE(tp.shape() == Shape{1, 17, 23, 1});
  Plane back = tensor_to_plane(tp);
  CHECK(max_abs_diff(back, p) < 1e-4f);
  Image grey = planes_to_image({p});
  CHECK(grey.channels == 1);
  CHECK(grey.at(3, 4) == im.at(3, 4, 1));
  // Rounding half away from zero and saturation, as MATLAB's uint8().
  Plane q(4, 1);
  q.data = {-3.f, 2.5f, 254.5f, 1e6f};
  Image r = planes_to_image({q});
  CHECK(r.data == std::vector<uint8_t>{0, 3, 255, 255});
  CHECK_THROWS_AS(tensor_to_image(Tensor({2, 3, 3, 3})), Error);
}

// ---- colour ---------------------------------------------------------------------

TEST_CASE("Pillow YCbCr conversions are bit-exact", "[image][color]") {
  Image in = load_image(fx("ycc_in.png"));
  CHECK(diff_count(pillow_rgb_to_ycbcr(in), load_image(fx("ycc_fwd.ref.png"))) == 0);
  CHECK(diff_count(pillow_ycbcr_to_rgb(in), load_image(fx("ycc_inv.ref.png"))) == 0);
  // Grey levels have neutral chroma.
  std::vector<uint8_t> px(3 * 256), out(3 * 256);
  for (int v = 0; v < 256; ++v) px[3 * v] = px[3 * v + 1] = px[3 * v + 2] = static_cast<uint8_t>(v);
  pillow_rgb_to_ycbcr(px.data(), out.data(), 256);
  for (int v = 0; v < 256; ++v) CHECK(out[3 * v + 1] == 128);
}

TEST_CASE("BT.601 studio-range YCbCr (MATLAB rgb2ycbcr)", "[image][color]") {
  Image im = load_image(fx("rgb_23x17.png"));
  Plane y, cb, cr;
  bt601_planes(im, &y, &cb, &cr);
  CHECK(max_abs_diff(y, read_f32("bt601_y.f32")) < 1e-4f);
  CHECK(max_abs_diff(cb, read_f32("bt601_cb.f32")) < 1e-4f);
  CHECK(max_abs_diff(cr, read_f32("bt601_cr.f32")) < 1e-4f);
  CHECK(max_abs_diff(bt601_luma(im), y) == 0.f);
  Image u8 = bt601_ycbcr_u8(im);
  CHECK(diff_count(u8, load_image(fx("bt601_u8.ref.png"))) == 0);
  CHECK(diff_count(bt601_luma_u8(im), planes_to_image({channel_plane(u8, 0)})) == 0);
  // Grey is R = G = B: white -> 235, black -> 16.
  Image g(2, 1, 1);
  g.data = {0, 255};
  Image gy = bt601_luma_u8(g);
  CHECK(gy.data == std::vector<uint8_t>{16, 235});
}

// ---- resizing -------------------------------------------------------------------

TEST_CASE("Pillow BICUBIC resize is bit-exact", "[image][resize]") {
  struct Case { const char* name; std::vector<std::pair<int, int>> sizes; };
  const Case cases[] = {
      {"rgb_48x36", {{24, 18}, {16, 12}, {12, 9}, {29, 11}, {7, 40}, {48, 13}, {1, 1}}},
      {"rgb_23x17", {{11, 8}, {7, 5}, {5, 4}, {46, 34}, {69, 51}, {30, 10}}},
      {"grey_31x20", {{15, 10}, {10, 6}, {7, 5}, {62, 40}, {93, 60}, {40, 20}, {31, 7}}},
  };
  for (const Case& c : cases) {
    Image im = load_image(fx(std::string(c.name) + ".png"));
    for (auto [w, h] : c.sizes) {
      const std::string ref = "pil_bicubic_" + std::string(c.name) + "_" + std::to_string(w) + "x" +
                              std::to_string(h) + ".png";
      INFO(ref);
      CHECK(diff_count(resize_pillow_bicubic(im, w, h), load_image(fx(ref))) == 0);
    }
  }
  Image im = load_image(fx("rgb_23x17.png"));
  CHECK(resize_pillow_bicubic(im, 23, 17) == im);
}

TEST_CASE("TensorFlow area and bilinear resize", "[image][resize]") {
  const Plane p48 = channel_plane(load_image(fx("rgb_48x36.png")), 1);
  const Plane p31 = channel_plane(load_image(fx("grey_31x20.png")), 0);
  auto name = [](const char* kind, const char* p, int w, int h) {
    return std::string("tf_") + kind + "_" + p + "_" + std::to_string(w) + "x" + std::to_string(h) + ".f32";
  };
  for (auto [w, h] : std::vector<std::pair<int, int>>{{24, 18}, {16, 12}, {12, 9}, {17, 13}, {10, 7}, {40, 26}}) {
    INFO(name("area", "p48", w, h));
    CHECK(max_abs_diff(resize_tf_area(p48, w, h), read_f32(name("area", "p48", w, h))) < 1e-4f);
  }
  for (auto [w, h] : std::vector<std::pair<int, int>>{{13, 7}, {40, 26}, {10, 10}}) {
    INFO(name("area", "p31", w, h));
    CHECK(max_abs_diff(resize_tf_area(p31, w, h), read_f32(name("area", "p31", w, h))) < 1e-4f);
  }
  for (auto [w, h] : std::vector<std::pair<int, int>>{{17, 13}, {24, 18}, {50, 40}, {100, 11}}) {
    INFO(name("bilinear", "p48", w, h));
    CHECK(max_abs_diff(resize_tf_bilinear(p48, w, h), read_f32(name("bilinear", "p48", w, h))) < 1e-4f);
  }
  for (auto [w, h] : std::vector<std::pair<int, int>>{{13, 7}, {45, 31}}) {
    INFO(name("bilinear", "p31", w, h));
    CHECK(max_abs_diff(resize_tf_bilinear(p31, w, h), read_f32(name("bilinear", "p31", w, h))) < 1e-4f);
  }
  // Integer factor: the plain box average.
  Plane a = resize_tf_area(p48, 16, 12);
  float s = 0;
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 3; ++x) s += p48.at(3 * 5 + x, 3 * 7 + y);
  CHECK(a.at(5, 7) == Approx(s / 9).margin(1e-4));
}

TEST_CASE("MATLAB imresize bicubic", "[image][resize]") {
  const Plane planes[] = {channel_plane(load_image(fx("rgb_48x36.png")), 1),
                          channel_plane(load_image(fx("grey_31x20.png")), 0),
                          channel_plane(load_image(fx("rgb_23x17.png")), 0)};
  const char* names[] = {"p48", "p31", "p23"};
  const std::vector<const char*> tags[] = {{"d2", "d3", "d4"}, {"d2", "d3", "u2"}, {"d3", "u2", "u3"}};
  for (int i = 0; i < 3; ++i)
    for (const char* tag : tags[i]) {
      const double s = tag[0] == 'd' ? 1.0 / (tag[1] - '0') : double(tag[1] - '0');
      const std::string ref = std::string("matlab_") + names[i] + "_" + tag + ".f32";
      INFO(ref);
      CHECK(max_abs_diff(imresize_bicubic(planes[i], s), read_f32(ref)) < 1e-4f);
    }
  CHECK(max_abs_diff(imresize_bicubic(planes[0], 29, 11), read_f32("matlab_p48_29x11.f32")) < 1e-4f);
  CHECK(max_abs_diff(imresize_bicubic(planes[1], 40, 9), read_f32("matlab_p31_40x9.f32")) < 1e-4f);
  // uint8: rounding after each pass.
  CHECK(diff_count(imresize_bicubic_u8(load_image(fx("rgb_48x36.png")), 1.0 / 3),
                   load_image(fx("matlab_u8_rgb_48x36_d3.png"))) == 0);
  CHECK(diff_count(imresize_bicubic_u8(load_image(fx("rgb_23x17.png")), 3.0),
                   load_image(fx("matlab_u8_rgb_23x17_u3.png"))) == 0);
  CHECK(diff_count(imresize_bicubic_u8(load_image(fx("grey_31x20.png")), 0.5),
                   load_image(fx("matlab_u8_grey_31x20_d2.png"))) == 0);
  // A constant stays constant (weights sum to one, symmetric padding).
  Plane c(10, 7, 42.f);
  for (float v : imresize_bicubic(c, 1.0 / 3).data) CHECK(v == Approx(42.f).margin(1e-4));
}

TEST_CASE("PSNR", "[image][metrics]") {
  Image a(4, 4, 1), b(4, 4, 1);
  CHECK(std::isinf(psnr(a, b)));
  b.at(0, 0) = 16;  // mse 16 over 16 pixels = 16
  CHECK(psnr(a, b) == Approx(10 * std::log10(255.0 * 255.0 / 16)));
  CHECK(std::isinf(psnr(a, b, 1)));  // the border pixel is shaved
  CHECK_THROWS_AS(psnr(a, Image(4, 3, 1)), Error);
  CHECK_THROWS_AS(psnr(a, b, 2), Error);
}

// SSIM (Wang et al. ssim_index.m) computed the direct way: the 2-D 11x11
// Gaussian window, means and (co)variances as weighted sums of deviations.
static double ssim_direct(const Plane& a, const Plane& b, int shave) {
  double win[11][11], ws = 0;
  for (int i = 0; i < 11; ++i)
    for (int j = 0; j < 11; ++j) ws += win[i][j] = std::exp(-((i - 5) * (i - 5) + (j - 5) * (j - 5)) / (2 * 1.5 * 1.5));
  const double c1 = 2.55 * 2.55, c2 = 7.65 * 7.65;
  const int w = a.width - 2 * shave, h = a.height - 2 * shave;
  double total = 0;
  for (int y = 0; y + 11 <= h; ++y)
    for (int x = 0; x + 11 <= w; ++x) {
      auto A = [&](int i, int j) { return double(a.at(shave + x + j, shave + y + i)); };
      auto B = [&](int i, int j) { return double(b.at(shave + x + j, shave + y + i)); };
      double m1 = 0, m2 = 0;
      for (int i = 0; i < 11; ++i)
        for (int j = 0; j < 11; ++j) {
          m1 += win[i][j] / ws * A(i, j);
          m2 += win[i][j] / ws * B(i, j);
        }
      double v1 = 0, v2 = 0, v12 = 0;
      for (int i = 0; i < 11; ++i)
        for (int j = 0; j < 11; ++j) {
          v1 += win[i][j] / ws * (A(i, j) - m1) * (A(i, j) - m1);
          v2 += win[i][j] / ws * (B(i, j) - m2) * (B(i, j) - m2);
          v12 += win[i][j] / ws * (A(i, j) - m1) * (B(i, j) - m2);
        }
      total += (2 * m1 * m2 + c1) * (2 * v12 + c2) / ((m1 * m1 + m2 * m2 + c1) * (v1 + v2 + c2));
    }
  return total / (double(w - 10) * (h - 10));
}

TEST_CASE("SSIM", "[image][metrics]") {
  std::mt19937 g(5);
  Plane a(17, 15), b(17, 15);
  for (size_t i = 0; i < a.data.size(); ++i) {
    a.data[i] = float(g() % 256);
    b.data[i] = std::clamp(a.data[i] + float(int(g() % 61) - 30), 0.f, 255.f);
  }
  CHECK(ssim(a, a) == Approx(1.0).epsilon(1e-12));
  CHECK(ssim(a, b) == Approx(ssim_direct(a, b, 0)).epsilon(1e-10));    // 7x5 windows
  CHECK(ssim(a, b, 2) == Approx(ssim_direct(a, b, 2)).epsilon(1e-10));  // 3x1 windows
  CHECK(ssim(a, b) < 0.99);
  CHECK(ssim(a, b) == Approx(ssim(b, a)).epsilon(1e-12));
  // Constant images: only the luminance term is left, (2 m1 m2 + C1) / (m1^2 + m2^2 + C1).
  const Plane c100(12, 12, 100.f), c110(12, 12, 110.f);
  CHECK(ssim(c100, c110) == Approx((2 * 100.0 * 110 + 6.5025) / (100.0 * 100 + 110.0 * 110 + 6.5025)).epsilon(1e-12));
  // Images: the mean over channels.
  Image ia(13, 12, 3), ib(13, 12, 3);
  for (size_t i = 0; i < ia.data.size(); ++i) {
    ia.data[i] = uint8_t(g() % 256);
    ib.data[i] = uint8_t(g() % 256);
  }
  CHECK(ssim(ia, ia) == Approx(1.0).epsilon(1e-12));
  double mean = 0;
  for (int c = 0; c < 3; ++c) mean += ssim(channel_plane(ia, c), channel_plane(ib, c)) / 3;
  CHECK(ssim(ia, ib) == Approx(mean).epsilon(1e-12));
  CHECK_THROWS_AS(ssim(a, b, 3), Error);  // 11x9 after the shave: smaller than the window
  CHECK_THROWS_AS(ssim(a, Plane(17, 14)), Error);
}

// ---- errors and folders ---------------------------------------------------------

TEST_CASE("Bad image files give one-line errors naming the file", "[image][errors]") {
  TempDir dir;
  auto expect = [&](const std::string& file, const std::string& reason) {
    const std::string msg = error_of([&] { load_image(file); });
    INFO(msg);
    CHECK(contains(msg, file));
    CHECK(contains(msg, reason));
    CHECK(!contains(msg, "\n"));
  };
  expect(dir / "missing.png", "no such file");

  std::vector<uint8_t> png = read_bytes(fx("rgb_48x36.png"));
  write_bytes(dir / "trunc.png", std::vector<uint8_t>(png.begin(), png.begin() + png.size() / 2));
  expect(dir / "trunc.png", "truncated PNG data");
  write_bytes(dir / "trunc_hdr.png", std::vector<uint8_t>(png.begin(), png.begin() + 20));
  expect(dir / "trunc_hdr.png", "truncated PNG data");
  std::vector<uint8_t> bad_crc = png;
  bad_crc[40] ^= 0xff;
  write_bytes(dir / "corrupt.png", bad_crc);
  expect(dir / "corrupt.png", "corrupt PNG data");

  std::vector<uint8_t> jpg = read_bytes(fx("rgb_48x36_q90.jpg"));
  write_bytes(dir / "trunc.jpg", std::vector<uint8_t>(jpg.begin(), jpg.begin() + jpg.size() / 2));
  expect(dir / "trunc.jpg", "truncated JPEG data");
  write_bytes(dir / "trunc_hdr.jpg", std::vector<uint8_t>(jpg.begin(), jpg.begin() + 30));
  expect(dir / "trunc_hdr.jpg", "truncated JPEG data");

  std::mt19937 gen(7);
  std::vector<uint8_t> noise(500);
  for (auto& b : noise) b = static_cast<uint8_t>(gen());
  noise[0] = 0;
  write_bytes(dir / "noise.png", noise);
  expect(dir / "noise.png", "not a PNG or JPEG file");
  // JPEG magic followed by garbage.
  noise[0] = 0xff, noise[1] = 0xd8, noise[2] = 0xff;
  noise[498] = 0xff, noise[499] = 0xd9;
  write_bytes(dir / "garbage.jpg", noise);
  expect(dir / "garbage.jpg", "JPEG");
  write_bytes(dir / "empty.jpg", {});
  expect(dir / "empty.jpg", "empty file");
  expect(dir.path.string(), "folder");
}

TEST_CASE("Listing and loading folders", "[image][errors]") {
  TempDir dir;
  const std::string d = dir.path.string();
  CHECK(contains(error_of([&] { list_images(d); }), "no image files"));
  CHECK(contains(error_of([&] { list_images(d + "/nope"); }), "no such folder"));
  CHECK(contains(error_of([&] { list_images(fx("rgb_48x36.png")); }), "not a folder"));

  std::vector<uint8_t> png = read_bytes(fx("rgb_23x17.png"));
  write_bytes(dir / "b.PNG", png);
  write_bytes(dir / "a.png", png);
  write_bytes(dir / "c.JpEg", read_bytes(fx("rgb_23x17_444.jpg")));
  write_bytes(dir / "notes.txt", {1, 2, 3});
  fs::create_directories(dir.path / "sub");
  write_bytes(dir / "sub/z.jpg", read_bytes(fx("grey_31x20.jpg")));
  std::vector<std::string> files = list_images(d);
  REQUIRE(files.size() == 3);
  CHECK(fs::path(files[0]).filename() == "a.png");
  CHECK(fs::path(files[1]).filename() == "b.PNG");
  CHECK(fs::path(files[2]).filename() == "c.JpEg");
  CHECK(list_images(d, true).size() == 4);
  CHECK(load_images(d).size() == 3);

  write_bytes(dir / "bad.jpg", std::vector<uint8_t>(png.begin(), png.begin() + 30));  // a truncated PNG
  const std::string msg = error_of([&] { load_images(d); });
  CHECK(contains(msg, "bad.jpg"));
  CHECK(contains(msg, "truncated PNG data"));
  std::vector<std::string> bad;
  LoadOptions opt;
  opt.skip_bad = true;
  std::vector<NamedImage> ok = load_images(d, opt, &bad);
  CHECK(ok.size() == 3);
  REQUIRE(bad.size() == 1);
  CHECK(contains(bad[0], "bad.jpg"));
  CHECK(contains(bad[0], "truncated PNG data"));

  TempDir only_bad;
  write_bytes(only_bad / "x.png", {1, 2, 3});
  CHECK(contains(error_of([&] { load_images(only_bad.path.string(), opt, &bad); }), "could be read"));
}

// ---- the bicubic baselines on the real data ------------------------------------

namespace {

const std::string kData = QSR_SHARED_DATA_DIR;

// The `y` protocol: MATLAB luma rounded to 8 bits, crop to a multiple of r,
// imresize bicubic down and up by r, rounded; PSNR with r pixels shaved.
double y_protocol_bicubic_psnr(const Image& im, int r) {
  Image c = crop(im, im.width - im.width % r, im.height - im.height % r);
  Image y = bt601_luma_u8(c);
  Plane lr = imresize_bicubic(channel_plane(y, 0), 1.0 / r);
  Image sr = planes_to_image({imresize_bicubic(lr, double(r))});
  return psnr(sr, y, r);
}

double mean_y_protocol(const std::string& set, int r) {
  double sum = 0;
  std::vector<std::string> files = list_images(kData + "/" + set);
  for (const std::string& f : files) sum += y_protocol_bicubic_psnr(load_image(f), r);
  return sum / double(files.size());
}

}  // namespace

TEST_CASE("Real data: Set5/Set14 x3 bicubic baseline (y protocol)", "[image][data]") {
  if (!fs::is_directory(kData + "/Set5") || !fs::is_directory(kData + "/Set14")) {
    WARN("skipped: no data in " << kData);
    return;
  }
  const double set5 = mean_y_protocol("Set5", 3);
  const double set14 = mean_y_protocol("Set14", 3);
  WARN(std::setprecision(7) << "Set5 x3 bicubic: " << set5 << " dB, Set14 x3 bicubic: " << set14 << " dB");
  CHECK(set5 == Approx(30.3922).margin(0.005));
  CHECK(set14 == Approx(27.6347).margin(0.005));
}

TEST_CASE("Real data: BSDS500 Keras-protocol bicubic baseline", "[image][data]") {
  const std::string test_dir = kData + "/BSDS500/images/test";
  if (!fs::is_directory(test_dir)) {
    WARN("skipped: no data in " << test_dir);
    return;
  }
  std::vector<std::string> files = list_images(test_dir);
  REQUIRE(files.size() >= 60);
  const double want[] = {30.0157, 25.1103, 27.7789, 28.0321, 25.7853, 25.9181, 26.2389, 23.3281, 29.9008, 25.2492};
  double sum = 0;
  for (int i = 0; i < 10; ++i) {
    Image im = load_image(files[50 + i]);
    const int w = im.width / 3, h = im.height / 3;
    Image lr = resize_pillow_bicubic(im, w, h);
    Image up = resize_pillow_bicubic(lr, 3 * w, 3 * h);
    Image ref = resize_pillow_bicubic(im, 3 * w, 3 * h);
    const double p = psnr(up, ref);
    INFO(files[50 + i]);
    CHECK(p == Approx(want[i]).margin(0.0001));
    sum += p;
  }
  WARN(std::setprecision(7) << "BSDS500 test[50:60] bicubic: " << sum / 10 << " dB");
  CHECK(sum / 10 == Approx(26.7357).margin(0.005));
}

TEST_CASE("Tensor batches: area downscale, nearest upscale, PSNR and the synthetic images", "[image][resize]") {
  Rng rng(7);
  const Tensor hr = synthetic_images(2, 7, 9, rng);  // 7x9: one row and no column dropped at r = 3
  REQUIRE(hr.shape() == Shape{2, 7, 9, 1});
  for (int64_t i = 0; i < hr.numel(); ++i) CHECK((hr.f32()[i] >= 0.f && hr.f32()[i] <= 1.f));
  Rng again(7);
  CHECK(qsr_test::bitwise_equal(synthetic_images(2, 7, 9, again), hr));

  const Tensor lr = area_downscale(hr, 3);
  REQUIRE(lr.shape() == Shape{2, 2, 3, 1});
  for (int b = 0; b < 2; ++b)
    for (int y = 0; y < 2; ++y)
      for (int x = 0; x < 3; ++x) {
        double acc = 0;
        for (int i = 0; i < 3; ++i)
          for (int j = 0; j < 3; ++j) acc += hr.f32()[(b * 7 + y * 3 + i) * 9 + x * 3 + j];
        CHECK(lr.f32()[(b * 2 + y) * 3 + x] == static_cast<float>(acc / 9));
      }
  const Tensor up = nearest_upscale(lr, 3);
  REQUIRE(up.shape() == Shape{2, 6, 9, 1});
  CHECK(up.f32()[(1 * 6 + 5) * 9 + 8] == lr.f32()[(1 * 2 + 1) * 3 + 2]);
  CHECK(up.f32()[(0 * 6 + 3) * 9 + 2] == lr.f32()[(0 * 2 + 1) * 3 + 0]);

  // One sum over every value, as the plane version over a plane holding the same values.
  const Tensor a = area_downscale(synthetic_images(2, 6, 9, rng), 3);
  Plane pa(3, 4), pl(3, 4);
  std::copy(a.f32(), a.f32() + 12, pa.data.begin());
  std::copy(lr.f32(), lr.f32() + 12, pl.data.begin());
  CHECK(psnr(a, lr) == psnr(pa, pl, 0, 1.0));
  CHECK(std::isinf(psnr(lr, lr)));
  CHECK_THROWS(psnr(lr, up));

  const Tensor t = random_test_image(3, 5, 4, 2);
  REQUIRE(t.shape() == Shape{1, 5, 4, 2});
  CHECK(qsr_test::bitwise_equal(random_test_image(3, 5, 4, 2), t));
  CHECK_FALSE(qsr_test::bitwise_equal(random_test_image(4, 5, 4, 2), t));
}
