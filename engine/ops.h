// Differentiable ops on Vars. Each has a scalar reference for forward and
// backward (engine/kernels/f32/reference.h for the heavy ones, plain loops for the
// elementwise ones) and a central-difference gradient check in tests/.
// Activations are NHWC f32; conv weights HWIO [k, k, cin, cout]; bias [cout].
#pragma once
#include <string>

#include "engine/autograd.h"

namespace qsr {

// Algorithm of the 3x3 convolutions (conv2d, conv2d_relu). Other kernel sizes always run direct.
//   direct    : direct convolution everywhere;
//   winograd  : Winograd F(4x4, 3x3) for every 3x3 conv, inference included;
//   automatic : Winograd for 3x3 convs recorded for a gradient (training), direct otherwise,
//               so inference keeps the direct path's numerics (bit-exact across tilings).
// A recorded op's backward uses the algorithm of its forward. The algorithm is an argument (of
// the op, of a Conv2d layer, of a model): there is no process-wide setting. The qsr program
// reads QSR_CONV once (conv_algo_from_env) and passes it on.
enum class ConvAlgo { direct, winograd, automatic };
ConvAlgo parse_conv_algo(const std::string& name);  // direct|winograd|auto; throws qsr::Error
std::string conv_algo_name(ConvAlgo algo);           // direct|winograd|auto
// QSR_CONV=direct|winograd|auto as it is now (unset or empty: automatic); qsr::Error on a bad value.
ConvAlgo conv_algo_from_env();

// Stride-1 'same' zero-padded convolution, odd k in 1..7; b may be undefined.
Var conv2d(const Var& x, const Var& w, const Var& b, ConvAlgo algo = ConvAlgo::automatic);
// conv2d followed by relu in one pass (the gradient is masked by the output).
Var conv2d_relu(const Var& x, const Var& w, const Var& b, ConvAlgo algo = ConvAlgo::automatic);
Var relu(const Var& x);
Var tanh(const Var& x);
// depth_to_space with TensorFlow's channel ordering: [n,h,w,r*r*c] -> [n,h*r,w*r,c].
Var pixel_shuffle(const Var& x, int r);
// Its inverse, space_to_depth: [n,h*r,w*r,c] -> [n,h,w,r*r*c].
Var pixel_unshuffle(const Var& x, int r);
Var add(const Var& a, const Var& b);  // same shapes
Var sub(const Var& a, const Var& b);
Var mul(const Var& a, const Var& b);  // elementwise
Var scale(const Var& x, float s);
Var clamp(const Var& x, float lo, float hi);  // gradient passes where lo < x < hi
Var mean(const Var& x);                        // -> shape [1]
Var sum(const Var& x);                         // -> shape [1]
Var mse_loss(const Var& pred, const Var& target);  // mean((pred - target)^2) -> [1]

}  // namespace qsr
