#include "models/image/image.h"

#include "engine/fileio.h"

#include <lodepng.h>
#include <turbojpeg.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <random>

namespace qsr {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void fail(const std::string& name, const std::string& why) { throw Error(name + ": " + why); }

uint8_t round_u8(double v) {
  // MATLAB's double -> uint8: round half away from zero, saturate (NaN -> 0).
  if (!(v > 0.0)) return 0;
  if (v >= 255.0) return 255;
  return static_cast<uint8_t>(v + 0.5);
}

uint32_t be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

constexpr uint8_t kPngMagic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

bool is_png(const uint8_t* b, size_t n) { return n >= 8 && std::memcmp(b, kPngMagic, 8) == 0; }
bool is_jpeg(const uint8_t* b, size_t n) { return n >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff; }

// True when the chunk sequence runs past the end of the data or stops before IEND.
bool png_truncated(const uint8_t* b, size_t n) {
  size_t pos = 8;
  while (true) {
    if (pos + 12 > n) return true;
    uint32_t len = be32(b + pos);
    if (len > n - pos - 12) return true;
    if (std::memcmp(b + pos + 4, "IEND", 4) == 0) return false;
    pos += size_t(len) + 12;
  }
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool has_image_ext(const fs::path& p) {
  std::string e = lower(p.extension().string());
  return e == ".png" || e == ".jpg" || e == ".jpeg";
}

}  // namespace

Image::Image(int w, int h, int c) : width(w), height(h), channels(c) {
  QSR_CHECK(w >= 0 && h >= 0 && (c == 1 || c == 3), "image: bad size " + std::to_string(w) + "x" +
                                                          std::to_string(h) + "x" + std::to_string(c));
  data.assign(size_t(w) * h * c, 0);
}

Plane channel_plane(const Image& im, int c) {
  QSR_CHECK(c >= 0 && c < im.channels, "channel_plane: no channel " + std::to_string(c));
  Plane p(im.width, im.height);
  for (size_t i = 0; i < p.data.size(); ++i) p.data[i] = im.data[i * im.channels + c];
  return p;
}

Image planes_to_image(const std::vector<Plane>& planes) {
  QSR_CHECK(planes.size() == 1 || planes.size() == 3, "planes_to_image: need 1 or 3 planes");
  const int w = planes[0].width, h = planes[0].height, c = static_cast<int>(planes.size());
  for (const Plane& p : planes) QSR_CHECK(p.width == w && p.height == h, "planes_to_image: plane sizes differ");
  Image im(w, h, c);
  for (int k = 0; k < c; ++k)
    for (size_t i = 0; i < size_t(w) * h; ++i) im.data[i * c + k] = round_u8(planes[k].data[i]);
  return im;
}

Image to_rgb(const Image& im) {
  if (im.channels == 3) return im;
  Image r(im.width, im.height, 3);
  for (size_t i = 0; i < im.data.size(); ++i) r.data[3 * i] = r.data[3 * i + 1] = r.data[3 * i + 2] = im.data[i];
  return r;
}

Image crop(const Image& im, int w, int h) {
  QSR_CHECK(w >= 0 && h >= 0 && w <= im.width && h <= im.height, "crop: size out of range");
  Image r(w, h, im.channels);
  for (int y = 0; y < h; ++y)
    std::memcpy(&r.data[size_t(y) * w * im.channels], &im.data[size_t(y) * im.width * im.channels],
                size_t(w) * im.channels);
  return r;
}

Tensor image_to_tensor(const Image& im, float scale) {
  Tensor t = Tensor::empty({1, im.height, im.width, im.channels});
  float* p = t.f32();
  for (size_t i = 0; i < im.data.size(); ++i) p[i] = im.data[i] * scale;
  return t;
}

Image tensor_to_image(const Tensor& t, float scale) {
  const Shape& s = t.shape();
  QSR_CHECK((s.size() == 4 && s[0] == 1) || s.size() == 3,
            "tensor_to_image: expected [1, h, w, c] or [h, w, c], got " + shape_str(s));
  const size_t o = s.size() - 3;
  const int h = static_cast<int>(s[o]), w = static_cast<int>(s[o + 1]), c = static_cast<int>(s[o + 2]);
  QSR_CHECK(c == 1 || c == 3, "tensor_to_image: need 1 or 3 channels, got " + shape_str(s));
  Image im(w, h, c);
  const float* p = t.f32();
  for (size_t i = 0; i < im.data.size(); ++i) im.data[i] = round_u8(double(p[i]) / scale);
  return im;
}

Tensor plane_to_tensor(const Plane& pl, float scale) {
  Tensor t = Tensor::empty({1, pl.height, pl.width, 1});
  float* p = t.f32();
  for (size_t i = 0; i < pl.data.size(); ++i) p[i] = pl.data[i] * scale;
  return t;
}

Plane tensor_to_plane(const Tensor& t, float scale) {
  const Shape& s = t.shape();
  const bool nhwc = s.size() == 4 && s[0] == 1 && s[3] == 1;
  QSR_CHECK(nhwc || s.size() == 2, "tensor_to_plane: expected [1, h, w, 1] or [h, w], got " + shape_str(s));
  const int h = static_cast<int>(nhwc ? s[1] : s[0]), w = static_cast<int>(nhwc ? s[2] : s[1]);
  Plane pl(w, h);
  const float* p = t.f32();
  for (size_t i = 0; i < pl.data.size(); ++i) pl.data[i] = p[i] / scale;
  return pl;
}

// ---- PNG -----------------------------------------------------------------------

Image decode_png(const uint8_t* bytes, size_t n, const std::string& name) {
  if (!is_png(bytes, n)) fail(name, "not a PNG file");
  lodepng::State state;
  unsigned w = 0, h = 0;
  unsigned err = lodepng_inspect(&w, &h, &state, bytes, n);
  if (err) fail(name, png_truncated(bytes, n) ? "truncated PNG data" : std::string("corrupt PNG data (") +
                                                                          lodepng_error_text(err) + ")");
  if (w == 0 || h == 0 || w > 1u << 16 || h > 1u << 16) fail(name, "unsupported PNG size");
  const LodePNGColorType ct = state.info_png.color.colortype;
  const bool grey = ct == LCT_GREY || ct == LCT_GREY_ALPHA;
  state.info_raw.colortype = grey ? LCT_GREY : LCT_RGB;
  state.info_raw.bitdepth = 8;
  std::vector<unsigned char> px;
  err = lodepng::decode(px, w, h, state, bytes, n);
  if (err) fail(name, png_truncated(bytes, n) ? "truncated PNG data" : std::string("corrupt PNG data (") +
                                                                          lodepng_error_text(err) + ")");
  Image im;
  im.width = static_cast<int>(w);
  im.height = static_cast<int>(h);
  im.channels = grey ? 1 : 3;
  im.data.assign(px.begin(), px.end());
  if (im.data.size() != size_t(w) * h * im.channels) fail(name, "corrupt PNG data");
  return im;
}

std::vector<uint8_t> encode_png(const Image& im) {
  QSR_CHECK((im.channels == 1 || im.channels == 3) && im.width > 0 && im.height > 0 &&
                im.data.size() == size_t(im.width) * im.height * im.channels,
            "encode_png: bad image");
  lodepng::State state;
  const LodePNGColorType ct = im.channels == 1 ? LCT_GREY : LCT_RGB;
  state.info_raw.colortype = ct;
  state.info_raw.bitdepth = 8;
  state.info_png.color.colortype = ct;
  state.info_png.color.bitdepth = 8;
  state.encoder.auto_convert = 0;  // keep the colour type: an all-grey RGB image stays RGB
  std::vector<unsigned char> out;
  unsigned err = lodepng::encode(out, im.data.data(), unsigned(im.width), unsigned(im.height), state);
  QSR_CHECK(!err, std::string("encode_png: ") + lodepng_error_text(err));
  return out;
}

void save_png(const Image& im, const std::string& path) {
  std::vector<uint8_t> bytes = encode_png(im);
  write_file_atomic(path, std::vector<ByteSpan>{{bytes.data(), bytes.size()}});
}

// ---- JPEG ----------------------------------------------------------------------

Image decode_jpeg(const uint8_t* bytes, size_t n, const std::string& name) {
  if (!is_jpeg(bytes, n)) fail(name, "not a JPEG file");
  std::unique_ptr<void, int (*)(tjhandle)> tj(tjInitDecompress(), tjDestroy);
  if (!tj) fail(name, "cannot start the JPEG decoder");
  // A truncated file lacks the EOI marker at the end.
  const bool truncated = n < 4 || bytes[n - 2] != 0xff || bytes[n - 1] != 0xd9;
  auto jpeg_error = [&](const char* what) -> std::string {
    std::string msg = tjGetErrorStr2(tj.get());
    if (truncated || msg.find("Premature end") != std::string::npos) return "truncated JPEG data";
    return std::string(what) + " (" + msg + ")";
  };
  int w = 0, h = 0, subsamp = 0, cs = 0;
  if (tjDecompressHeader3(tj.get(), bytes, static_cast<unsigned long>(n), &w, &h, &subsamp, &cs) != 0)
    fail(name, jpeg_error("corrupt JPEG header"));
  if (cs == TJCS_CMYK || cs == TJCS_YCCK) fail(name, "unsupported JPEG colour space (CMYK)");
  if (w <= 0 || h <= 0) fail(name, truncated ? "truncated JPEG data" : "corrupt JPEG header (no size)");
  if (w > 1 << 16 || h > 1 << 16) fail(name, "unsupported JPEG size");
  const bool grey = cs == TJCS_GRAY;
  Image im(w, h, grey ? 1 : 3);
  // Accurate integer IDCT and fancy (smooth) upsampling: libjpeg's defaults, which Pillow uses.
  // Warnings other than premature end of data (e.g. extraneous bytes before a
  // marker) leave a complete image, which Pillow accepts too.
  const int flags = TJFLAG_ACCURATEDCT;
  if (tjDecompress2(tj.get(), bytes, static_cast<unsigned long>(n), im.data.data(), w, w * im.channels, h,
                    grey ? TJPF_GRAY : TJPF_RGB, flags) != 0) {
    const std::string msg = tjGetErrorStr2(tj.get());
    if (truncated || tjGetErrorCode(tj.get()) != TJERR_WARNING || msg.find("Premature end") != std::string::npos)
      fail(name, jpeg_error("corrupt JPEG data"));
  }
  return im;
}

Image decode_image(const uint8_t* bytes, size_t n, const std::string& name) {
  if (is_png(bytes, n)) return decode_png(bytes, n, name);
  if (is_jpeg(bytes, n)) return decode_jpeg(bytes, n, name);
  if (n == 0) fail(name, "empty file");
  fail(name, "not a PNG or JPEG file");
}

Image load_image(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) fail(path, "no such file");
  if (fs::is_directory(path, ec)) fail(path, "is a folder, not an image file");
  std::ifstream f(path, std::ios::binary);
  if (!f) fail(path, std::string("cannot open (") + std::strerror(errno) + ")");
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (f.bad()) fail(path, "read error");
  return decode_image(bytes.data(), bytes.size(), path);
}

// ---- folders -------------------------------------------------------------------

std::vector<std::string> list_images(const std::string& dir, bool recursive) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) fail(dir, "no such folder");
  if (!fs::is_directory(dir, ec)) fail(dir, "not a folder");
  std::vector<std::string> out;
  auto consider = [&](const fs::directory_entry& e) {
    std::error_code ec2;
    if (e.is_regular_file(ec2) && has_image_ext(e.path())) out.push_back(e.path().string());
  };
  try {
    if (recursive) {
      for (const auto& e : fs::recursive_directory_iterator(dir)) consider(e);
    } else {
      for (const auto& e : fs::directory_iterator(dir)) consider(e);
    }
  } catch (const fs::filesystem_error& e) {
    fail(dir, std::string("cannot list (") + e.code().message() + ")");
  }
  if (out.empty()) fail(dir, "no image files (.png, .jpg, .jpeg) in folder");
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<NamedImage> load_images(const std::string& dir, const LoadOptions& opt, std::vector<std::string>* bad) {
  std::vector<NamedImage> out;
  size_t n_bad = 0;
  for (const std::string& p : list_images(dir, opt.recursive)) {
    try {
      out.push_back({p, load_image(p)});
    } catch (const Error& e) {
      if (!opt.skip_bad) throw;
      ++n_bad;
      if (bad)
        bad->push_back(e.what());
      else
        std::cerr << "skipping " << e.what() << "\n";
    }
  }
  if (out.empty()) fail(dir, "none of the " + std::to_string(n_bad) + " image files could be read");
  return out;
}

}  // namespace qsr
