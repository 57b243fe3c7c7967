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
// --dtype f32|qs8|qc8 (default f32). qs8 / qc8 time the quantised network of
// peer_common.hpp (make_quant_espcn; qs8: one weight scale per layer, qc8: one
// per output channel) with xnn_create_convolution2d_nhwc_qs8 / _qc8:
//   * activations int8 with zero point -128 (every activation is post-ReLU,
//     so [0, max] maps to [-128, 127]); ReLU is output_min = -128 (= real 0),
//     output_max = 127; bias int32 in accumulator units;
//   * timed region (7 xnn_run_operator calls): the f32 NHWC image -> qs8
//     (xnn_create_convert_nc_f32_qs8, scale 1/255), the four int8 convs, the
//     9-channel qs8 output -> f32 (xnn_create_convert_nc_qs8_f32) and
//     depth_to_space_nhwc_x32 on that f32 tensor. This snapshot has no
//     depth_to_space_nhwc_x8, so depth-to-space runs after dequantisation,
//     which is also what the oneDNN int8 peer does (JSON: "d2s": true,
//     "d2s_op": "x32-after-dequant", "quant_io": true).
//
// Threads: a pthreadpool with --threads threads (the caller thread counts as
// one of them). With --threads 1 no pool is used (XNNPACK runs on the caller).

#include <pthreadpool.h>
#include <xnnpack.h>

#include <cmath>
#include <cstdint>
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

// A create call for an int8 operator that this build of XNNPACK does not
// support (e.g. compiled with XNN_NO_QC8_OPERATORS, or unsupported hardware)
// is a configuration the caller can skip: one line, exit 2.
void check_create_q(xnn_status st, const char* what) {
  if (st == xnn_status_unsupported_hardware || st == xnn_status_unsupported_parameter ||
      st == xnn_status_uninitialized) {
    std::fprintf(stderr, "error: XNNPACK %s not supported by this build/CPU (status %d)\n", what,
                 static_cast<int>(st));
    std::exit(2);
  }
  check(st, what);
}

// The network's buffers and operators, created and set up outside the timed region.
struct Net {
  size_t N = 1, H = 1, W = 1;
  // Activation buffers. XNNPACK may read (not use) a few bytes past the end of an input tensor
  // (XNN_EXTRA_BYTES); every buffer is padded accordingly.
  size_t extra = XNN_EXTRA_BYTES / sizeof(float);
  std::vector<float> input, hr;
  std::vector<std::vector<float>> act = std::vector<std::vector<float>>(4);
  // int8 buffers (XNN_EXTRA_BYTES of slack, as for f32).
  std::vector<std::int8_t> qin;
  std::vector<std::vector<std::int8_t>> qact = std::vector<std::vector<std::int8_t>>(4);
  std::vector<float> deq;  // dequantised conv4 output, N*H*W*9
  std::vector<xnn_operator_t> ops;
  const float* d2s_in = nullptr;
};

// f32 -> qs8, the four int8 convs (qs8: per-tensor, qc8: per-channel weight scales), qs8 -> f32.
void build_quant(Net& n, const std::string& dtype, pthreadpool_t pool) {
  const size_t N = n.N, H = n.H, W = n.W;
  const auto qnet = qsr_peer::make_quant_espcn(/*per_channel=*/dtype == "qc8");
  constexpr std::int8_t zp = -128;  // post-ReLU activations: real 0 -> -128
  n.qin.resize(N * H * W + XNN_EXTRA_BYTES);
  for (size_t li = 0; li < 4; ++li) n.qact[li].resize(N * H * W * kLayers[li].oc + XNN_EXTRA_BYTES);
  n.deq.resize(N * H * W * 9 + n.extra);

  xnn_operator_t cin = nullptr;
  check_create_q(xnn_create_convert_nc_f32_qs8(/*channels=*/1, 1, 1, qsr_peer::kInputScale,
                                               zp, -128, 127, 0, &cin),
                 "create convert_nc_f32_qs8");
  check(xnn_setup_convert_nc_f32_qs8(cin, N * H * W, n.input.data(), n.qin.data(), pool),
        "setup convert_nc_f32_qs8");
  n.ops.push_back(cin);

  const std::int8_t* qsrc = n.qin.data();
  for (size_t li = 0; li < 4; ++li) {
    const auto& L = kLayers[li];
    const auto& Q = qnet[li];
    std::vector<std::int32_t> b(L.oc);
    for (size_t o = 0; o < L.oc; ++o)
      b[o] = static_cast<std::int32_t>(std::lround(Q.bias[o] / (Q.in_scale * Q.w_scale[o])));
    const uint32_t p = L.k / 2;
    xnn_operator_t op = nullptr;
    if (dtype == "qs8") {
      check_create_q(
          xnn_create_convolution2d_nhwc_qs8(
              p, p, p, p, L.k, L.k, 1, 1, 1, 1, /*groups=*/1, L.ic, L.oc, L.ic, L.oc,
              /*input_zero_point=*/zp, Q.in_scale, /*kernel_scale=*/Q.w_scale[0], Q.w.data(),
              b.data(), /*output_zero_point=*/zp, Q.out_scale, /*output_min=*/zp,
              /*output_max=*/127, 0, &op),
          "create convolution2d_nhwc_qs8");
      check(xnn_setup_convolution2d_nhwc_qs8(op, N, H, W, qsrc, n.qact[li].data(), pool),
            "setup convolution2d_nhwc_qs8");
    } else {
      check_create_q(
          xnn_create_convolution2d_nhwc_qc8(
              p, p, p, p, L.k, L.k, 1, 1, 1, 1, /*groups=*/1, L.ic, L.oc, L.ic, L.oc,
              /*input_zero_point=*/zp, Q.in_scale, /*kernel_scale=*/Q.w_scale.data(),
              Q.w.data(), b.data(), /*output_zero_point=*/zp, Q.out_scale,
              /*output_min=*/zp, /*output_max=*/127, 0, &op),
          "create convolution2d_nhwc_qc8");
      check(xnn_setup_convolution2d_nhwc_qc8(op, N, H, W, qsrc, n.qact[li].data(), pool),
            "setup convolution2d_nhwc_qc8");
    }
    n.ops.push_back(op);
    qsrc = n.qact[li].data();
  }

  xnn_operator_t cvt_out = nullptr;
  check_create_q(xnn_create_convert_nc_qs8_f32(/*channels=*/9, 9, 9, qnet[3].out_scale, zp, 0,
                                               &cvt_out),
                 "create convert_nc_qs8_f32");
  check(xnn_setup_convert_nc_qs8_f32(cvt_out, N * H * W, n.qact[3].data(), n.deq.data(), pool),
        "setup convert_nc_qs8_f32");
  n.ops.push_back(cvt_out);
  n.d2s_in = n.deq.data();
}

// The four f32 convs with fused ReLU.
void build_f32(Net& n, pthreadpool_t pool) {
  const size_t N = n.N, H = n.H, W = n.W;
  for (size_t li = 0; li < 4; ++li) n.act[li].resize(N * H * W * kLayers[li].oc + n.extra);
  const float* src = n.input.data();
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
    check(xnn_setup_convolution2d_nhwc_f32(op, N, H, W, src, n.act[li].data(), pool),
          "setup convolution");
    n.ops.push_back(op);
    src = n.act[li].data();
    n.d2s_in = src;
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string dtype = "f32";
  const auto opt = qsr_peer::parse_args(argc, argv, [&](std::string_view a, const char* v) {
    if (a != "--dtype") return 0;
    if (v == nullptr) qsr_peer::die_usage("missing value for --dtype");
    dtype = v;
    if (dtype != "f32" && dtype != "qs8" && dtype != "qc8")
      qsr_peer::die_usage("invalid --dtype '" + dtype + "' (expected f32|qs8|qc8)");
    return 2;
  });
  const bool quant = dtype != "f32";
  const std::string program = quant ? "xnnpack-" + dtype : "xnnpack";
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

  Net n;
  n.N = static_cast<size_t>(opt.batch);
  n.H = static_cast<size_t>(opt.height);
  n.W = static_cast<size_t>(opt.width);
  const size_t N = n.N, H = n.H, W = n.W;
  n.input.resize(N * H * W * 1 + n.extra);
  qsr_peer::fill_random(n.input, 42u, 1.0f);
  for (float& x : n.input) x = 0.5f * (x + 1.0f);  // image-like values in [0,1]
  n.hr.resize(N * (3 * H) * (3 * W) + n.extra);
  if (quant)
    build_quant(n, dtype, pool);
  else
    build_f32(n, pool);
  xnn_operator_t d2s = nullptr;
  check(xnn_create_depth_to_space_nhwc_x32(/*output_channels=*/1, /*input_channel_stride=*/9,
                                           /*output_channel_stride=*/1, /*block_size=*/3,
                                           /*flags=*/0, &d2s),
        "create depth_to_space");
  check(xnn_setup_depth_to_space_nhwc_x32(d2s, N, H, W, n.d2s_in, n.hr.data(), pool),
        "setup depth_to_space");
  n.ops.push_back(d2s);

  auto forward = [&]() {
    for (xnn_operator_t op : n.ops) check(xnn_run_operator(op, pool), "run operator");
  };
  const auto ms = qsr_peer::time_runs(opt, forward);

  const size_t hr_n = N * (3 * H) * (3 * W);
  const bool finite = qsr_peer::all_finite(n.hr.data(), hr_n);
  const double nonzero = qsr_peer::nonzero_fraction(n.hr.data(), hr_n);

  for (xnn_operator_t op : n.ops) xnn_delete_operator(op);
  if (pool != nullptr) pthreadpool_destroy(pool);
  xnn_deinitialize();

  if (!finite) {
    std::fprintf(stderr, "error: %s produced non-finite output\n", program.c_str());
    return 1;
  }
  if (nonzero == 0.0) {
    std::fprintf(stderr, "error: %s produced an all-zero output\n", program.c_str());
    return 1;
  }
  char nz[32];
  std::snprintf(nz, sizeof nz, "%.4f", nonzero);
  std::string extra_json = ", \"dtype\": \"" + dtype + "\", \"nonzero_frac\": " + nz;
  std::string human = " dtype " + dtype;
  if (quant) {
    extra_json += ", \"quant_io\": true, \"d2s\": true, \"d2s_op\": \"x32-after-dequant\"";
    human += " (f32->qs8, 4 int8 convs, qs8->f32, d2s x32)";
  }
  qsr_peer::report(opt, program, ms, extra_json, human);
  return 0;
}
