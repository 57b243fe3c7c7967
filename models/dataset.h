// Training data: folders of images decoded once into memory (8-bit), turned
// into Y-channel (luma) super-resolution pairs in [0, 1]:
//   x [h, w, 1]  low-res input,  y [h*r, w*r, 1]  high-res target.
//
// Protocols (DatasetProtocol):
//
//  keras  The Keras ESPCN example (keras.io "Image Super-Resolution using an
//         Efficient Sub-Pixel CNN"), reproduced step by step:
//         * files: every image under the root, recursively, sorted by path
//           (for BSDS500: images/test, images/train, images/val: 500 files;
//           the same order as Keras' index_directory, which walks the sorted
//           folders and sorts the files of each);
//         * split: image_dataset_from_directory(validation_split=0.2,
//           seed=1337) shuffles that list with
//           np.random.RandomState(1337).shuffle (MT19937 seeded by
//           init_genrand; for i = n-1 .. 1: j = random_interval(i), i.e. a
//           32-bit draw masked to the smallest all-ones mask >= i, redrawn
//           while > i; swap) and takes training = the first
//           n - int(0.2 n), validation = the last int(0.2 n) (400 / 100).
//           Checked against NumPy 1.24. split_seed and val_fraction change it.
//           The example's per-epoch tf.data shuffle is not reproduced (we draw
//           our own permutation per epoch).
//           THIS SPLIT PUTS BSDS500 TEST IMAGES INTO TRAINING (Dataset::warning).
//         * each image: TF bilinear resize (antialias off, half-pixel centres)
//           of the 8-bit RGB to crop x crop (300x300) as float, / 255, Y =
//           0.299 R + 0.587 G + 0.114 B (tf.image.rgb_to_yuv, float, no
//           rounding); the input is the TF area resize of Y by 1/r
//           (100x100 for r = 3). No random crops or flips (the example has
//           none). Computed from the in-memory 8-bit image when sampled.
//
//  bsds   (default) The standard-SR pipeline:
//         * files: root/images/{train,val,test} or root/{train,val,test}
//           -> training, validation, test (test is held, not used here);
//         * Y = MATLAB rgb2ycbcr luma rounded to 8 bits (bt601_luma_u8; the
//           `y` evaluation protocol's Y); computed once at load (it is per
//           pixel, so cropping/flipping the RGB first gives the same bytes);
//         * training: a random crop x crop window (crop a multiple of r) at a
//           uniform random position, optional random horizontal and vertical
//           flips (each with probability 1/2), all drawn from the sampler's
//           Rng; whole_image: the whole image resized instead (Pillow BICUBIC
//           of the 8-bit RGB to crop x crop, at load time; no crop);
//         * the input: MATLAB imresize bicubic of the float Y plane by 1/r,
//           not rounded (exactly what the `y` evaluation protocol feeds the
//           model; see models/evaluate.h), or with Downscale::area the TF
//           area resize; x = LR / 255, y = Y / 255.
//         * validation: the centre crop x crop window of each image (or the
//           whole-image resize), prepared once.
//
//  Generic folders (any images): the `bsds` pipeline. If the folder has no
//  train/ (or images/train/) subfolder, every image in it (recursively,
//  sorted) is shuffled with the same NumPy-compatible shuffle (split_seed)
//  and the last int(val_fraction * n) files (val_fraction 0.1; at least one
//  when n >= 2) become the validation set, the rest training. A train/
//  folder without val/ is split the same way.
//
// Images smaller than the crop are errors naming the file. Loading decodes
// files in parallel (parallel_for) and keeps them as 8-bit.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/random.h"
#include "engine/tensor.h"
#include "models/image/image.h"

namespace qsr {

enum class DatasetProtocol { keras, bsds };
enum class Downscale { bicubic, area };

// "keras" / "bsds"; "bicubic" / "area". Unknown names: qsr::Error.
DatasetProtocol parse_dataset_protocol(const std::string& name);
std::string to_string(DatasetProtocol p);
Downscale parse_downscale(const std::string& name);
std::string to_string(Downscale d);

struct DatasetOptions {
  DatasetProtocol protocol = DatasetProtocol::bsds;
  int scale = 3;                        // r
  int crop = 300;                       // HR size (keras: resize target; bsds: crop size, a multiple of r)
  bool whole_image = false;             // bsds: resize whole images to crop x crop instead of cropping
  bool flips = false;                   // bsds: random horizontal/vertical flips in training
  Downscale downscale = Downscale::bicubic;  // bsds: how the input is made (keras: always area)
  double val_fraction = -1;             // < 0: protocol default (keras 0.2; generic folders 0.1)
  uint64_t split_seed = 1337;           // keras split / generic-folder split
  void validate() const;                // throws qsr::Error
};

// One SR pair: x [h, w, 1], y [h*r, w*r, 1], f32 in [0, 1] (x may overshoot
// slightly with bicubic downscaling: it is not clipped, as in the `y` protocol).
struct Sample {
  std::string name;
  Tensor x;
  Tensor y;
};

struct Dataset {
  DatasetOptions options;
  std::string root;
  // keras: 8-bit RGB (or grey) originals. bsds: 8-bit BT.601 Y planes (1
  // channel), already resized to crop x crop when whole_image.
  std::vector<NamedImage> train;
  std::vector<NamedImage> val;
  std::vector<NamedImage> test;  // bsds with a test/ folder only (Y planes)
  // keras: every training pair, computed once at load (the pipeline has no randomness, so an
  // epoch only copies them into batches). Empty for bsds, whose crops are drawn per batch.
  std::vector<Sample> train_pairs;
  std::string warning;           // non-empty: the caller should print it (keras split)
  double load_seconds = 0;

  // The validation pairs (centre crops / whole-image resizes / keras
  // pipeline), computed on demand; call once and keep the result.
  std::vector<Sample> validation_samples() const;
  // The deterministic (un-augmented) training pair of item i: keras pipeline,
  // or the centre crop for bsds.
  Sample train_sample(size_t i) const;
  std::string describe() const;  // one line: protocol, root, counts, sizes
};

// Loads the folder `root` (see above). Errors (qsr::Error, one line): missing
// folder, no images, unreadable files, images smaller than the crop, bad options.
Dataset load_dataset(const std::string& root, const DatasetOptions& opt = {});

// NumPy's legacy np.random.RandomState(seed).shuffle on a list of n items:
// returns the permutation (result[i] = index of the original item now at i).
std::vector<size_t> numpy_shuffle_permutation(size_t n, uint32_t seed);

struct Batch {
  Tensor x;  // [b, h, w, 1]
  Tensor y;  // [b, h*r, w*r, 1]
};

// Draws training batches. Items come from a stream of permutations of the
// training set, each drawn from the Rng when the previous one is used up
// (the first on the first call); random crop positions and flips are drawn
// from the same Rng, item by item, before the pairs are computed (in
// parallel), so a seed gives the same batches with any thread count.
// steps_per_epoch: 0 = max(1, floor(train / batch)) (Keras example: 400 / 8 = 50).
// Keeps a pointer to `ds`: the dataset must outlive the sampler.
class BatchSampler {
 public:
  BatchSampler(const Dataset& ds, int batch_size, int steps_per_epoch = 0);
  int batch_size() const { return batch_; }
  int steps_per_epoch() const { return steps_; }
  Batch next(Rng& rng);
  // One epoch: steps_per_epoch batches.
  std::vector<Batch> epoch(Rng& rng);

 private:
  const Dataset* ds_;
  int batch_;
  int steps_;
  std::vector<size_t> perm_;
  size_t pos_ = 0;
};

}  // namespace qsr
