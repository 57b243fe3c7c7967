// Images: 8-bit grey or RGB pixels (interleaved), float planes, PNG/JPEG
// reading, atomic PNG writing, folder listing and loading, and conversions
// to NHWC float tensors.
//
// Decoding follows Pillow 9.4 (`Image.open(p).convert("RGB")` or "L"):
//  - PNG (lodepng): grey, grey+alpha -> grey; RGB, RGBA, palette -> RGB;
//    alpha and tRNS are dropped (not composited); 1/2/4-bit grey is scaled to
//    0..255 (v * 255 / (2^bits - 1)); 16-bit samples keep their high byte, as
//    Pillow's "RGB;16B"/"LA;16B" unpackers do. (For 16-bit *grey* Pillow opens
//    mode "I" and convert("L"/"RGB") clips every value above 255 to 255; we
//    deliberately take the high byte there too.) No gamma/ICC handling.
//  - JPEG (libjpeg-turbo via TurboJPEG): accurate integer IDCT, fancy
//    upsampling, exactly what Pillow's libjpeg decoder does by default, so the
//    pixels are bit-identical with Pillow's. Greyscale JPEGs stay grey; CMYK
//    JPEGs are rejected. Warnings (truncated data, corrupt markers) are errors.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace qsr {

// 8-bit pixels, rows top to bottom, channels interleaved (1: grey, 3: RGB).
struct Image {
  int width = 0;
  int height = 0;
  int channels = 0;
  std::vector<uint8_t> data;  // height * width * channels

  Image() = default;
  Image(int w, int h, int c);  // zero-filled
  bool empty() const { return data.empty(); }
  size_t size() const { return data.size(); }
  uint8_t& at(int x, int y, int c = 0) { return data[(size_t(y) * width + x) * channels + c]; }
  uint8_t at(int x, int y, int c = 0) const { return data[(size_t(y) * width + x) * channels + c]; }
  bool operator==(const Image& o) const = default;
};

// One float channel, row-major.
struct Plane {
  int width = 0;
  int height = 0;
  std::vector<float> data;

  Plane() = default;
  Plane(int w, int h, float v = 0.f) : width(w), height(h), data(size_t(w) * h, v) {}
  float& at(int x, int y) { return data[size_t(y) * width + x]; }
  float at(int x, int y) const { return data[size_t(y) * width + x]; }
};

// Channel c of an 8-bit image as floats (values 0..255).
Plane channel_plane(const Image& im, int c);
// Planes (same size) back to an 8-bit image: values rounded half away from
// zero (MATLAB's uint8 rounding) and clamped to 0..255.
Image planes_to_image(const std::vector<Plane>& planes);
// Grey -> RGB (R = G = B); RGB images are returned unchanged.
Image to_rgb(const Image& im);
// Crops to the top-left w x h.
Image crop(const Image& im, int w, int h);

// NHWC tensor [1, h, w, c]; values are pixel * scale (1/255.f: [0, 1]; 1: [0, 255]).
Tensor image_to_tensor(const Image& im, float scale = 1.f / 255.f);
// [1, h, w, c] or [h, w, c] (c = 1 or 3): value / scale rounded half away from
// zero and clamped to 0..255.
Image tensor_to_image(const Tensor& t, float scale = 1.f / 255.f);
Tensor plane_to_tensor(const Plane& p, float scale = 1.f / 255.f);  // [1, h, w, 1]
Plane tensor_to_plane(const Tensor& t, float scale = 1.f / 255.f);  // [1, h, w, 1] or [h, w]; no rounding

// Decoders of in-memory files; `name` prefixes error messages.
Image decode_png(const uint8_t* bytes, size_t n, const std::string& name);
Image decode_jpeg(const uint8_t* bytes, size_t n, const std::string& name);
// Detects PNG or JPEG by magic bytes.
Image decode_image(const uint8_t* bytes, size_t n, const std::string& name);

// Reads a PNG or JPEG file (detected by its magic bytes, not its name).
// Errors: qsr::Error "<path>: <reason>" (no such file, not a PNG or JPEG file,
// truncated PNG data, truncated JPEG data, ...).
Image load_image(const std::string& path);

// 8-bit PNG (grey or RGB) bytes.
std::vector<uint8_t> encode_png(const Image& im);
// Writes a PNG atomically: a temporary file in the same folder, then rename.
void save_png(const Image& im, const std::string& path);

// Image files (.png .jpg .jpeg, any case) in `dir`, sorted by path; errors if
// the folder does not exist or holds none.
std::vector<std::string> list_images(const std::string& dir, bool recursive = false);

struct NamedImage {
  std::string path;
  Image image;
};

struct LoadOptions {
  bool recursive = false;
  bool skip_bad = false;  // report bad files and go on (else: throw at the first one)
};

// Loads every image of list_images(dir). With skip_bad, each unreadable file
// is reported as "<path>: <reason>" into *bad (or to stderr when bad is null)
// and skipped; if none can be read, throws. Without skip_bad, the first bad
// file's error is thrown.
std::vector<NamedImage> load_images(const std::string& dir, const LoadOptions& opt = {},
                                    std::vector<std::string>* bad = nullptr);

}  // namespace qsr
