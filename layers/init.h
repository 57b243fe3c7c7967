// Weight initialisers.
#pragma once
#include "engine/random.h"
#include "engine/tensor.h"

namespace qsr {

// Initialisers (Keras semantics). fan_in = k*k*cin, fan_out = k*k*cout for HWIO.
void glorot_uniform_(Tensor& w, Rng& rng);
// tf.keras.initializers.Orthogonal: the weight viewed as a matrix of
// rows = product of all but the last dimension (k*k*cin for HWIO) by
// cols = the last dimension (cout); a (max x min) standard-normal matrix
// (Rng::normal, row-major) is QR-factored (reduced), Q's columns are
// multiplied by sign(diag(R)), Q is transposed when rows < cols, and the
// result times `gain` is written back row-major. The weight then has
// orthonormal columns (rows >= cols) or orthonormal rows (rows < cols),
// scaled by gain. Needs at least 2 dimensions and an f32 tensor.
void orthogonal_(Tensor& w, Rng& rng, float gain = 1);
void zeros_(Tensor& t);

}  // namespace qsr
