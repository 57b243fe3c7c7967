#include "layers/init.h"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>

namespace qsr {

void glorot_uniform_(Tensor& w, Rng& rng) {
  QSR_CHECK(w.ndim() == 4, "glorot_uniform_: expects HWIO weights");
  double receptive = double(w.dim(0)) * w.dim(1);
  double fan_in = receptive * w.dim(2), fan_out = receptive * w.dim(3);
  float limit = static_cast<float>(std::sqrt(6.0 / (fan_in + fan_out)));
  float* p = w.f32();
  for (int64_t i = 0; i < w.numel(); ++i) p[i] = rng.uniform(-limit, limit);
}

void orthogonal_(Tensor& w, Rng& rng, float gain) {
  QSR_CHECK(w.ndim() >= 2, "orthogonal_: needs a weight with at least 2 dimensions, got " + shape_str(w.shape()));
  QSR_CHECK(w.dtype() == DType::f32, "orthogonal_: needs an f32 weight");
  const int64_t cols = w.dim(w.ndim() - 1);
  const int64_t rows = cols == 0 ? 0 : w.numel() / cols;
  if (rows == 0 || cols == 0) return;
  const int64_t big = std::max(rows, cols), small = std::min(rows, cols);
  // The normal draws fill a (big x small) matrix in row-major order, as Keras does.
  using MatD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic>;
  MatD a(big, small);
  for (int64_t i = 0; i < big; ++i)
    for (int64_t j = 0; j < small; ++j) a(i, j) = rng.normal();
  Eigen::HouseholderQR<MatD> qr(a);
  MatD q = qr.householderQ() * MatD::Identity(big, small);  // the thin Q
  for (int64_t j = 0; j < small; ++j) {
    // sign(d) as tf.sign: -1, 0 or +1 (0 has probability zero for normal draws).
    const double d = qr.matrixQR()(j, j);
    const double s = d > 0 ? 1.0 : (d < 0 ? -1.0 : 0.0);
    q.col(j) *= s;
  }
  float* p = w.f32();
  if (rows >= cols) {
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j) p[i * cols + j] = static_cast<float>(gain * q(i, j));
  } else {  // q is (cols x rows): the weight is q^T
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j) p[i * cols + j] = static_cast<float>(gain * q(j, i));
  }
}

void zeros_(Tensor& t) { t.zero(); }

}  // namespace qsr
