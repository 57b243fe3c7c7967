#include "models/dataset.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>
#include <sstream>

#include "engine/parallel.h"
#include "models/image/color.h"
#include "models/image/resize.h"

namespace qsr {

namespace fs = std::filesystem;

DatasetProtocol parse_dataset_protocol(const std::string& name) {
  if (name == "keras") return DatasetProtocol::keras;
  if (name == "bsds") return DatasetProtocol::bsds;
  throw Error("unknown dataset protocol '" + name + "' (expected keras or bsds)");
}

std::string to_string(DatasetProtocol p) { return p == DatasetProtocol::keras ? "keras" : "bsds"; }

Downscale parse_downscale(const std::string& name) {
  if (name == "bicubic") return Downscale::bicubic;
  if (name == "area") return Downscale::area;
  throw Error("unknown downscale '" + name + "' (expected bicubic or area)");
}

std::string to_string(Downscale d) { return d == Downscale::area ? "area" : "bicubic"; }

void DatasetOptions::validate() const {
  QSR_CHECK(scale >= 1 && scale <= 16, "dataset: scale must be between 1 and 16 (got " + std::to_string(scale) + ")");
  QSR_CHECK(crop >= scale && crop <= 65536, "dataset: crop size must be at least the scale (got " + std::to_string(crop) + ")");
  QSR_CHECK(crop % scale == 0, "dataset: crop size " + std::to_string(crop) + " is not a multiple of the scale " +
                                   std::to_string(scale));
  QSR_CHECK(val_fraction < 1.0 && std::isfinite(val_fraction), "dataset: validation fraction must be below 1");
}

std::vector<size_t> numpy_shuffle_permutation(size_t n, uint32_t seed) {
  std::vector<size_t> p(n);
  for (size_t i = 0; i < n; ++i) p[i] = i;
  std::mt19937 mt(seed);  // init_genrand(seed), as RandomState(int)
  for (size_t i = n > 0 ? n - 1 : 0; i >= 1; --i) {
    // numpy random_interval(max = i): 32-bit draws masked to the smallest all-ones mask >= i.
    uint64_t mask = i;
    mask |= mask >> 1;
    mask |= mask >> 2;
    mask |= mask >> 4;
    mask |= mask >> 8;
    mask |= mask >> 16;
    mask |= mask >> 32;
    uint64_t v;
    while ((v = (uint64_t(mt()) & mask)) > i) {
    }
    std::swap(p[i], p[v]);
  }
  return p;
}

namespace {

bool is_dir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

// Decodes the files in parallel and converts each with `conv`; the first
// failing file (by index) is reported.
template <class Conv>
std::vector<NamedImage> load_all(const std::vector<std::string>& paths, Conv conv) {
  std::vector<NamedImage> out(paths.size());
  std::vector<std::string> err(paths.size());
  parallel_for(static_cast<int64_t>(paths.size()), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      try {
        out[size_t(i)].path = paths[size_t(i)];
        out[size_t(i)].image = conv(load_image(paths[size_t(i)]), paths[size_t(i)]);
      } catch (const std::exception& ex) {
        err[size_t(i)] = ex.what();
        if (err[size_t(i)].empty()) err[size_t(i)] = paths[size_t(i)] + ": error";
      }
    }
  });
  for (const std::string& e : err)
    if (!e.empty()) throw Error(e);
  return out;
}

std::string size_str(int w, int h) { return std::to_string(w) + "x" + std::to_string(h); }

// Splits `paths` with the NumPy-compatible shuffle: training = first n - n_val,
// validation = last n_val (Keras' get_training_or_validation_split).
void split_paths(const std::vector<std::string>& paths, double frac, uint64_t seed, bool at_least_one,
                 std::vector<std::string>* train, std::vector<std::string>* val) {
  const size_t n = paths.size();
  size_t n_val = static_cast<size_t>(frac * double(n));  // Python int(): toward zero
  if (at_least_one && n_val == 0 && n >= 2 && frac > 0) n_val = 1;
  const std::vector<size_t> perm = numpy_shuffle_permutation(n, static_cast<uint32_t>(seed));
  train->clear();
  val->clear();
  for (size_t i = 0; i < n; ++i) (i < n - n_val ? train : val)->push_back(paths[perm[i]]);
}

// keras: the example's per-image pipeline on an 8-bit RGB image.
Sample keras_pair(const NamedImage& ni, int crop, int r) {
  const Image& im = ni.image;
  Plane ch[3];
  for (int c = 0; c < 3; ++c) ch[c] = resize_tf_bilinear(channel_plane(im, c), crop, crop);
  Plane y(crop, crop);
  for (size_t i = 0; i < y.data.size(); ++i) {
    // image / 255.0 then tf.image.rgb_to_yuv's first column, in float32.
    const float R = ch[0].data[i] / 255.f, G = ch[1].data[i] / 255.f, B = ch[2].data[i] / 255.f;
    y.data[i] = R * 0.299f + G * 0.587f + B * 0.114f;
  }
  Plane lr = resize_tf_area(y, crop / r, crop / r);
  Sample s;
  s.name = ni.path;
  s.x = plane_to_tensor(lr, 1.f).reshape({lr.height, lr.width, 1});
  s.y = plane_to_tensor(y, 1.f).reshape({crop, crop, 1});
  return s;
}

// bsds: crop (ox, oy, c x c) of an 8-bit Y image, optional flips, then the LR.
Sample bsds_pair(const NamedImage& ni, int ox, int oy, int c, bool flip_h, bool flip_v, int r, Downscale ds) {
  const Image& im = ni.image;
  Plane hr(c, c);
  for (int y = 0; y < c; ++y) {
    const int sy = oy + (flip_v ? c - 1 - y : y);
    for (int x = 0; x < c; ++x) {
      const int sx = ox + (flip_h ? c - 1 - x : x);
      hr.at(x, y) = float(im.at(sx, sy, 0));
    }
  }
  // The same call as the `y` evaluation protocol (models/evaluate.cpp).
  Plane lr = ds == Downscale::area ? resize_tf_area(hr, c / r, c / r) : imresize_bicubic(hr, 1.0 / r);
  Sample s;
  s.name = ni.path;
  s.x = plane_to_tensor(lr).reshape({lr.height, lr.width, 1});
  s.y = plane_to_tensor(hr).reshape({c, c, 1});
  return s;
}

Sample centre_pair(const Dataset& ds, const NamedImage& ni) {
  const DatasetOptions& o = ds.options;
  if (o.protocol == DatasetProtocol::keras) return keras_pair(ni, o.crop, o.scale);
  const int c = o.crop;
  return bsds_pair(ni, (ni.image.width - c) / 2, (ni.image.height - c) / 2, c, false, false, o.scale, o.downscale);
}

}  // namespace

Dataset load_dataset(const std::string& root, const DatasetOptions& opt_in) {
  const auto t0 = std::chrono::steady_clock::now();
  DatasetOptions opt = opt_in;
  opt.validate();
  std::error_code ec;
  QSR_CHECK(fs::exists(root, ec), root + ": no such folder");
  QSR_CHECK(is_dir(root), root + ": not a folder");

  Dataset ds;
  ds.root = root;
  std::vector<std::string> train_p, val_p, test_p;

  if (opt.protocol == DatasetProtocol::keras) {
    if (opt.val_fraction < 0) opt.val_fraction = 0.2;
    const std::vector<std::string> all = list_images(root, true);
    split_paths(all, opt.val_fraction, opt.split_seed, false, &train_p, &val_p);
    QSR_CHECK(!train_p.empty(), root + ": too few images for a training split (" + std::to_string(all.size()) + ")");
    ds.warning =
        "WARNING: the keras protocol trains on a random 80% of ALL images under " + root +
        " (for BSDS500 this includes images/test): test images leak into training, so test-set numbers are "
        "not held-out results";
  } else {
    fs::path base = root;
    if (is_dir(base / "images" / "train")) base = base / "images";
    if (is_dir(base / "train")) {
      train_p = list_images((base / "train").string(), true);
      if (is_dir(base / "val")) {
        val_p = list_images((base / "val").string(), true);
      } else {
        std::vector<std::string> all = train_p;
        split_paths(all, opt.val_fraction < 0 ? 0.1 : opt.val_fraction, opt.split_seed, true, &train_p, &val_p);
      }
      if (is_dir(base / "test")) test_p = list_images((base / "test").string(), true);
    } else {
      const std::vector<std::string> all = list_images(root, true);
      split_paths(all, opt.val_fraction < 0 ? 0.1 : opt.val_fraction, opt.split_seed, true, &train_p, &val_p);
    }
  }
  ds.options = opt;

  if (opt.protocol == DatasetProtocol::keras) {
    auto conv = [](Image im, const std::string&) { return to_rgb(im); };
    ds.train = load_all(train_p, conv);
    ds.val = load_all(val_p, conv);
    ds.train_pairs.resize(ds.train.size());
    parallel_for(static_cast<int64_t>(ds.train.size()), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) ds.train_pairs[size_t(i)] = keras_pair(ds.train[size_t(i)], opt.crop, opt.scale);
    });
  } else {
    const int c = opt.crop;
    const bool whole = opt.whole_image;
    auto conv = [c, whole](Image im, const std::string& path) {
      if (whole) return bt601_luma_u8(resize_pillow_bicubic(im, c, c));
      QSR_CHECK(im.width >= c && im.height >= c, path + ": image " + size_str(im.width, im.height) +
                                                     " is smaller than the " + size_str(c, c) + " crop");
      return bt601_luma_u8(im);
    };
    ds.train = load_all(train_p, conv);
    ds.val = load_all(val_p, conv);
    ds.test = load_all(test_p, conv);
  }
  ds.load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return ds;
}

std::vector<Sample> Dataset::validation_samples() const {
  std::vector<Sample> out(val.size());
  parallel_for(static_cast<int64_t>(val.size()), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) out[size_t(i)] = centre_pair(*this, val[size_t(i)]);
  });
  return out;
}

Sample Dataset::train_sample(size_t i) const {
  QSR_CHECK(i < train.size(), "dataset: training item " + std::to_string(i) + " out of range");
  if (!train_pairs.empty()) return train_pairs[i];
  return centre_pair(*this, train[i]);
}

std::string Dataset::describe() const {
  std::ostringstream s;
  const int r = options.scale, c = options.crop;
  s << to_string(options.protocol) << " dataset " << root << ": " << train.size() << " training, " << val.size()
    << " validation";
  if (!test.empty()) s << ", " << test.size() << " test";
  s << " images; x" << r << ", " << c / r << "x" << c / r << " -> " << c << "x" << c;
  if (options.protocol == DatasetProtocol::bsds) {
    s << (options.whole_image ? ", whole-image resize" : ", random crops") << (options.flips ? ", flips" : "")
      << ", " << to_string(options.downscale) << " downscale";
  } else {
    s << ", TF bilinear resize, TF area downscale";
  }
  s << "; loaded in " << std::fixed;
  s.precision(2);
  s << load_seconds << " s";
  return s.str();
}

BatchSampler::BatchSampler(const Dataset& ds, int batch_size, int steps_per_epoch)
    : ds_(&ds), batch_(batch_size), steps_(steps_per_epoch) {
  QSR_CHECK(!ds.train.empty(), "dataset has no training images");
  QSR_CHECK(batch_size >= 1, "batch size must be at least 1 (got " + std::to_string(batch_size) + ")");
  QSR_CHECK(steps_per_epoch >= 0, "steps per epoch must not be negative");
  if (steps_ == 0) steps_ = std::max<int>(1, static_cast<int>(ds.train.size() / size_t(batch_size)));
}

Batch BatchSampler::next(Rng& rng) {
  const Dataset& ds = *ds_;
  const DatasetOptions& o = ds.options;
  const int r = o.scale;
  const bool crops = o.protocol == DatasetProtocol::bsds && !o.whole_image;
  struct Draw {
    size_t item;
    int ox, oy;
    bool fh, fv;
  };
  std::vector<Draw> draws(static_cast<size_t>(batch_));
  for (Draw& d : draws) {
    if (pos_ >= perm_.size()) {
      const size_t n = ds.train.size();
      perm_.resize(n);
      for (size_t i = 0; i < n; ++i) perm_[i] = i;
      for (size_t i = n - 1; i >= 1; --i) std::swap(perm_[i], perm_[rng.below(i + 1)]);
      pos_ = 0;
    }
    d.item = perm_[pos_++];
    d.ox = d.oy = 0;
    d.fh = d.fv = false;
    if (o.protocol == DatasetProtocol::bsds) {
      const Image& im = ds.train[d.item].image;
      if (crops) {
        d.ox = static_cast<int>(rng.below(uint64_t(im.width - o.crop + 1)));
        d.oy = static_cast<int>(rng.below(uint64_t(im.height - o.crop + 1)));
      }
      if (o.flips) {
        d.fh = rng.below(2) != 0;
        d.fv = rng.below(2) != 0;
      }
    }
  }
  const int64_t c = o.crop, lc = c / r, b = batch_;
  Batch out{Tensor::empty({b, lc, lc, 1}), Tensor::empty({b, c, c, 1})};
  float* px = out.x.f32();
  float* py = out.y.f32();
  parallel_for(b, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      const Draw& d = draws[size_t(i)];
      const NamedImage& ni = ds.train[d.item];
      Sample s = !ds.train_pairs.empty() ? ds.train_pairs[d.item]
                                         : bsds_pair(ni, d.ox, d.oy, o.crop, d.fh, d.fv, r, o.downscale);
      std::memcpy(px + i * lc * lc, s.x.f32(), size_t(lc * lc) * sizeof(float));
      std::memcpy(py + i * c * c, s.y.f32(), size_t(c * c) * sizeof(float));
    }
  });
  return out;
}

std::vector<Batch> BatchSampler::epoch(Rng& rng) {
  std::vector<Batch> out;
  out.reserve(size_t(steps_));
  for (int s = 0; s < steps_; ++s) out.push_back(next(rng));
  return out;
}

}  // namespace qsr
