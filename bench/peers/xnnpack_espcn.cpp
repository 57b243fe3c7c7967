// qsr_peer_xnnpack: ESPCN forward pass with XNNPACK (Debian libxnnpack-dev,
// git snapshot 2022-02-16, operator API).
//
// Network (NHWC, f32): conv5x5 1->64 +ReLU, conv3x3 64->64 +ReLU,
// conv3x3 64->32 +ReLU, conv3x3 32->9 +ReLU, depth_to_space r=3.
//
// How an XNNPACK user would write it:
//   * xnn_create_convolution2d_nhwc_f32 with output_min = 0 fuses the ReLU
//     (output_max = +inf); weights are in OHWI layout and packed at creation;
//   * xnn_setup_* is called once for the fixed shape and fixed buffers (setup
//     builds the indirection buffers; an app with a fixed input size does it
//     once), so the timed region is only xnn_run_operator x 5;
//   * XNNPACK's depth_to_space_nhwc_x32 follows TensorFlow's DCR ordering:
//     out[n, y*3+i, x*3+j, c] = in[n, y, x, (i*3+j)*C + c].
//
// Threads: a pthreadpool with --threads threads (the caller thread counts as
// one of them). With --threads 1 no pool is used (XNNPACK runs on the caller).

#include <pthreadpool.h>
#include <xnnpack.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "peer_common.hpp"

namespace {

struct LayerSpec {
  uint32_t ic, oc, k;
};
constexpr LayerSpec kLayers[4] = {{1, 64, 5}, {64, 64, 3}, {64, 32, 3}, {32, 9, 3}};

void check(xnn_status st, const char* what) {
  if (st != xnn_status_success) {
    std::fprintf(stderr, "error: XNNPACK %s failed (status %d)\n", what, static_cast<int>(st));
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const auto opt = qsr_peer::parse_args(argc, argv);
  const std::string program = "xnnpack";
  if (opt.mode != "forward") {
    std::fprintf(stderr, "error: %s supports only --mode forward\n", program.c_str());
    return 2;
  }

  const xnn_status init = xnn_initialize(nullptr);
  if (init != xnn_status_success) {
    // xnn_status_unsupported_hardware when the CPU lacks SSE2 etc.
    std::fprintf(stderr, "error: xnn_initialize failed (status %d)\n", static_cast<int>(init));
    return 2;
  }

  pthreadpool_t pool = nullptr;
  if (opt.threads > 1) pool = pthreadpool_create(static_cast<size_t>(opt.threads));

  const size_t N = static_cast<size_t>(opt.batch);
  const size_t H = static_cast<size_t>(opt.height);
  const size_t W = static_cast<size_t>(opt.width);

  // Activation buffers. XNNPACK may read (not use) a few bytes past the end of
  // an input tensor (XNN_EXTRA_BYTES); pad every buffer accordingly.
  const size_t extra = XNN_EXTRA_BYTES / sizeof(float);
  std::vector<float> input(N * H * W * 1 + extra);
  qsr_peer::fill_random(input, 42u, 1.0f);
  for (float& x : input) x = 0.5f * (x + 1.0f);  // image-like values in [0,1]
  std::vector<std::vector<float>> act(4);
  for (size_t li = 0; li < 4; ++li) act[li].resize(N * H * W * kLayers[li].oc + extra);
  std::vector<float> hr(N * (3 * H) * (3 * W) + extra);

  // Create and set up the operators (outside the timed region).
  std::vector<xnn_operator_t> ops;
  const float* src = input.data();
  for (size_t li = 0; li < 4; ++li) {
    const auto& L = kLayers[li];
    std::vector<float> w(static_cast<size_t>(L.oc) * L.k * L.k * L.ic);  // OHWI
    std::vector<float> b(L.oc);
    const float scale = 1.0f / std::sqrt(static_cast<float>(L.ic * L.k * L.k));
    qsr_peer::fill_random(w, 1234u + static_cast<unsigned>(li), scale);
    qsr_peer::fill_random(b, 4321u + static_cast<unsigned>(li), 0.01f);
    const uint32_t p = L.k / 2;
    xnn_operator_t op = nullptr;
    check(xnn_create_convolution2d_nhwc_f32(
              /*padding top,right,bottom,left=*/p, p, p, p,
              /*kernel=*/L.k, L.k, /*subsampling=*/1, 1, /*dilation=*/1, 1,
              /*groups=*/1, /*group_input_channels=*/L.ic, /*group_output_channels=*/L.oc,
              /*input_channel_stride=*/L.ic, /*output_channel_stride=*/L.oc, w.data(), b.data(),
              /*output_min=*/0.0f, /*output_max=*/std::numeric_limits<float>::infinity(),
              /*flags=*/0, &op),
          "create convolution");
    check(xnn_setup_convolution2d_nhwc_f32(op, N, H, W, src, act[li].data(), pool),
          "setup convolution");
    ops.push_back(op);
    src = act[li].data();
  }
  xnn_operator_t d2s = nullptr;
  check(xnn_create_depth_to_space_nhwc_x32(/*output_channels=*/1, /*input_channel_stride=*/9,
                                           /*output_channel_stride=*/1, /*block_size=*/3,
                                           /*flags=*/0, &d2s),
        "create depth_to_space");
  check(xnn_setup_depth_to_space_nhwc_x32(d2s, N, H, W, act[3].data(), hr.data(), pool),
        "setup depth_to_space");
  ops.push_back(d2s);

  auto forward = [&]() {
    for (xnn_operator_t op : ops) check(xnn_run_operator(op, pool), "run operator");
  };
  const auto ms = qsr_peer::time_runs(opt, forward);

  const size_t hr_n = N * (3 * H) * (3 * W);
  const bool finite = qsr_peer::all_finite(hr.data(), hr_n);

  for (xnn_operator_t op : ops) xnn_delete_operator(op);
  if (pool != nullptr) pthreadpool_destroy(pool);
  xnn_deinitialize();

  if (!finite) {
    std::fprintf(stderr, "error: %s produced non-finite output\n", program.c_str());
    return 1;
  }
  qsr_peer::report(opt, program, ms);
  return 0;
}
