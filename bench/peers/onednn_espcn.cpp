// qsr_peer_onednn: ESPCN forward pass with oneDNN (Debian libdnnl-dev, v2.6).
//
// Network (NHWC, f32): conv5x5 1->64 +ReLU, conv3x3 64->64 +ReLU,
// conv3x3 64->32 +ReLU, conv3x3 32->9 +ReLU, depth_to_space r=3 (TF order).
//
// How a oneDNN user would write it:
//   * conv src/weights/dst use format_tag::any, so oneDNN picks its blocked
//     layouts (nChw8c on AVX2, nChw16c on AVX-512);
//   * ReLU is fused as an eltwise post-op;
//   * primitives are created and weights reordered once, outside the timed
//     region;
//   * the timed region contains: NHWC input -> conv1 src reorder (if any), the
//     four convolutions (plus a reorder between them if oneDNN chose
//     mismatching layouts), the reorder of the last conv output back to NHWC,
//     and depth_to_space as a plain (OpenMP-parallel) loop, since oneDNN has
//     no depth-to-space primitive.
//
// --algo direct|winograd|auto (default direct). Winograd in oneDNN is only
// implemented for 3x3 kernels (and, on x86 in v2.6, only with AVX-512), so
// with --algo winograd the 5x5 layer always uses direct; a 3x3 layer for which
// oneDNN has no winograd implementation falls back to direct (listed in the
// JSON "algos" key). If no layer can use winograd the program prints a
// one-line error and exits 2.
//
// --dtype f32|int8 (default f32). int8 is oneDNN's standard int8 inference
// recipe (same network, quantised as in peer_common.hpp make_quant_espcn):
//   * u8 activations (src and dst of every conv, zero point 0: all activations
//     are post-ReLU), s8 weights with per-output-channel scales, f32 bias (in
//     accumulator units), format_tag::any everywhere so oneDNN picks its
//     blocked int8 layouts;
//   * dst requantisation through output scales with mask 1 << 1
//     (attr.set_output_scales, per output channel:
//     in_scale * w_scale[oc] / out_scale), ReLU fused as an eltwise post-op;
//   * timed region: f32 NHWC image -> u8 conv1 src (reorder with scale 255),
//     the four convs, u8 conv4 dst -> f32 NHWC (reorder with scale out_scale,
//     i.e. dequantisation), depth_to_space as in f32.
// --algo keeps its meaning (winograd int8 exists in oneDNN 2.6 only for
// AVX-512). JSON adds "dtype" and "conv2_impl" (impl of the 3x3 64->64 conv).
//
// Threads: this oneDNN build uses the OpenMP runtime, so --threads maps to
// omp_set_num_threads().

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <dnnl.hpp>
#include <string>
#include <vector>

#include "peer_common.hpp"

namespace {

using dnnl::algorithm;
using dnnl::memory;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

struct LayerSpec {
  int ic, oc, k;
};
constexpr LayerSpec kLayers[4] = {{1, 64, 5}, {64, 64, 3}, {64, 32, 3}, {32, 9, 3}};

// Short human description of a memory layout, e.g. "nhwc", "nchw", "blocked:8b".
std::string layout_name(const memory::desc& md) {
  const auto& d = md.data;
  if (d.format_kind != dnnl_blocked) return "non-blocked";
  const auto& b = d.format_desc.blocking;
  if (b.inner_nblks == 0) {
    // Plain layout: order dims by decreasing stride.
    std::string s;
    std::vector<int> idx(static_cast<size_t>(d.ndims));
    for (int i = 0; i < d.ndims; ++i) idx[static_cast<size_t>(i)] = i;
    std::stable_sort(idx.begin(), idx.end(),
                     [&](int x, int y) { return b.strides[x] > b.strides[y]; });
    for (int i : idx) s += static_cast<char>('a' + i);
    return s;
  }
  std::string s = "blocked:";
  for (int i = 0; i < b.inner_nblks; ++i)
    s += std::to_string(b.inner_blks[i]) + static_cast<char>('a' + b.inner_idxs[i]);
  return s;
}

struct Layer {
  dnnl::convolution_forward::primitive_desc pd;
  dnnl::convolution_forward prim;
  memory weights, bias, dst;
  std::string algo;
};

}  // namespace

int main(int argc, char** argv) {
  std::string algo_name = "direct";
  std::string dtype = "f32";
  const auto opt = qsr_peer::parse_args(argc, argv, [&](std::string_view a, const char* v) {
    if (a == "--algo") {
      if (v == nullptr) qsr_peer::die_usage("missing value for --algo");
      algo_name = v;
      if (algo_name != "direct" && algo_name != "winograd" && algo_name != "auto")
        qsr_peer::die_usage("invalid --algo '" + algo_name + "' (expected direct|winograd|auto)");
      return 2;
    }
    if (a == "--dtype") {
      if (v == nullptr) qsr_peer::die_usage("missing value for --dtype");
      dtype = v;
      if (dtype != "f32" && dtype != "int8")
        qsr_peer::die_usage("invalid --dtype '" + dtype + "' (expected f32|int8)");
      return 2;
    }
    return 0;
  });
  const bool int8 = dtype == "int8";
  const std::string program = "onednn-" + algo_name + (int8 ? "-int8" : "");
  if (opt.mode != "forward") {
    std::fprintf(stderr, "error: %s supports only --mode forward\n", program.c_str());
    return 2;
  }
  const algorithm algo = algo_name == "direct"     ? algorithm::convolution_direct
                         : algo_name == "winograd" ? algorithm::convolution_winograd
                                                   : algorithm::convolution_auto;

  omp_set_num_threads(opt.threads);

  const memory::dim N = opt.batch, H = opt.height, W = opt.width;
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream strm(eng);

  dnnl::post_ops po;
  po.append_eltwise(1.0f, algorithm::eltwise_relu, 0.0f, 0.0f);

  // int8: the quantised network (weights codes, scales, calibrated ranges).
  const std::vector<qsr_peer::QuantLayer> qnet =
      int8 ? qsr_peer::make_quant_espcn(/*per_channel=*/true)
           : std::vector<qsr_peer::QuantLayer>{};
  const dt act_dt = int8 ? dt::u8 : dt::f32;

  // --- Build the four convolutions (outside the timed region). ---
  std::vector<Layer> layers;
  layers.reserve(4);
  int wino_layers = 0;
  for (int li = 0; li < 4; ++li) {
    const auto& L = kLayers[li];
    const memory::dims src_dims = {N, L.ic, H, W};
    const memory::dims w_dims = {L.oc, L.ic, L.k, L.k};
    const memory::dims b_dims = {L.oc};
    const memory::dims dst_dims = {N, L.oc, H, W};
    const memory::dim p = L.k / 2;
    const memory::desc src_md(src_dims, act_dt, tag::any);
    const memory::desc w_md(w_dims, int8 ? dt::s8 : dt::f32, tag::any);
    const memory::desc b_md(b_dims, dt::f32, tag::x);
    const memory::desc dst_md(dst_dims, act_dt, tag::any);

    dnnl::primitive_attr attr;
    attr.set_post_ops(po);
    // int8: acc (s32) = sum(u8 src code * s8 weight code) + bias (f32, in acc
    // units); dst code = saturate_u8(relu(acc * in_scale * w_scale[oc] / out_scale)).
    std::vector<float> bias_acc;  // int8 bias in accumulator units
    if (int8) {
      const auto& Q = qnet[static_cast<size_t>(li)];
      std::vector<float> oscale(static_cast<size_t>(L.oc));
      bias_acc.resize(static_cast<size_t>(L.oc));
      for (size_t o = 0; o < oscale.size(); ++o) {
        oscale[o] = Q.in_scale * Q.w_scale[o] / Q.out_scale;
        bias_acc[o] = Q.bias[o] / (Q.in_scale * Q.w_scale[o]);
      }
      attr.set_output_scales(1 << 1, oscale);  // per output channel (dim 1 of dst)
    }

    auto make_pd = [&](algorithm a) {
      dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference, a, src_md, w_md, b_md,
                                        dst_md, {1, 1}, {p, p}, {p, p});
      // allow_empty = true: an unimplemented combination yields an empty pd
      // instead of throwing.
      return dnnl::convolution_forward::primitive_desc(d, attr, eng, true);
    };

    algorithm layer_algo = algo;
    std::string layer_algo_name = algo_name;
    if (algo == algorithm::convolution_winograd && L.k != 3) {
      layer_algo = algorithm::convolution_direct;  // winograd is 3x3-only
      layer_algo_name = "direct";
    }
    auto pd = make_pd(layer_algo);
    if (!pd && layer_algo == algorithm::convolution_winograd) {
      layer_algo = algorithm::convolution_direct;
      layer_algo_name = "direct";
      pd = make_pd(layer_algo);
    } else if (layer_algo == algorithm::convolution_winograd) {
      ++wino_layers;
    }
    if (!pd) {
      std::fprintf(stderr, "error: oneDNN has no %s convolution for layer %d on this CPU\n",
                   layer_algo_name.c_str(), li + 1);
      return 2;
    }

    Layer l;
    l.pd = pd;
    l.prim = dnnl::convolution_forward(pd);
    l.algo = layer_algo_name;

    // Random weights (fixed seed) in the user layout (f32: oihw; int8: s8
    // codes in ohwi), reordered once to whatever layout the primitive wants.
    l.weights = memory(pd.weights_desc(), eng);
    l.bias = memory(pd.bias_desc(), eng);
    if (int8) {
      auto wq = qnet[static_cast<size_t>(li)].w;  // copy: memory wants a non-const handle
      memory user_w({w_dims, dt::s8, tag::ohwi}, eng, wq.data());
      dnnl::reorder(user_w, l.weights).execute(strm, user_w, l.weights);
      strm.wait();
      std::memcpy(l.bias.get_data_handle(), bias_acc.data(), bias_acc.size() * sizeof(float));
    } else {
      std::vector<float> w(static_cast<size_t>(L.oc * L.ic * L.k * L.k));
      std::vector<float> b(static_cast<size_t>(L.oc));
      const float scale = 1.0f / std::sqrt(static_cast<float>(L.ic * L.k * L.k));
      qsr_peer::fill_random(w, 1234u + static_cast<unsigned>(li), scale);
      qsr_peer::fill_random(b, 4321u + static_cast<unsigned>(li), 0.01f);
      memory user_w({w_dims, dt::f32, tag::oihw}, eng, w.data());
      dnnl::reorder(user_w, l.weights).execute(strm, user_w, l.weights);
      strm.wait();
      std::memcpy(l.bias.get_data_handle(), b.data(), b.size() * sizeof(float));
    }
    l.dst = memory(pd.dst_desc(), eng);
    layers.push_back(std::move(l));
  }
  strm.wait();
  if (algo == algorithm::convolution_winograd && wino_layers == 0) {
    std::fprintf(stderr,
                 "error: oneDNN winograd convolution is not supported on this CPU "
                 "(oneDNN 2.6 implements %s winograd only for AVX-512)\n",
                 dtype.c_str());
    return 2;
  }

  // --- Memories used in the timed region. ---
  std::vector<float> in_nhwc(static_cast<size_t>(N * H * W));
  qsr_peer::fill_random(in_nhwc, 42u, 1.0f);
  for (float& x : in_nhwc) x = 0.5f * (x + 1.0f);  // image-like values in [0,1]
  memory user_src({{N, 1, H, W}, dt::f32, tag::nhwc}, eng, in_nhwc.data());

  memory conv1_src = user_src;
  const bool reorder_in = layers[0].pd.src_desc() != user_src.get_desc();
  if (reorder_in) conv1_src = memory(layers[0].pd.src_desc(), eng);

  // Between layers: if layer i's dst layout differs from what layer i+1 wants,
  // a reorder is needed (normally oneDNN picks matching layouts).
  std::vector<memory> next_src(4);
  int inter_reorders = 0;
  for (int li = 0; li + 1 < 4; ++li) {
    const auto want = layers[static_cast<size_t>(li + 1)].pd.src_desc();
    if (want == layers[static_cast<size_t>(li)].dst.get_desc()) {
      next_src[static_cast<size_t>(li)] = layers[static_cast<size_t>(li)].dst;
    } else {
      next_src[static_cast<size_t>(li)] = memory(want, eng);
      ++inter_reorders;
    }
  }

  const memory::desc out_nhwc_md({N, 9, H, W}, dt::f32, tag::nhwc);
  const bool reorder_out = layers[3].dst.get_desc() != out_nhwc_md;
  memory out_nhwc = reorder_out ? memory(out_nhwc_md, eng) : layers[3].dst;
  std::vector<float> hr(static_cast<size_t>(N * (H * 3) * (W * 3)));

  // Prebuild the reorder primitives (creation is setup, execution is timed).
  // int8: the input reorder quantises (dst = src * 255, rounded, saturated to
  // u8) and the output reorder dequantises (dst = code * out_scale).
  dnnl::primitive_attr in_attr, out_attr;
  if (int8) {
    in_attr.set_output_scales(0, {1.0f / qsr_peer::kInputScale});
    out_attr.set_output_scales(0, {qnet[3].out_scale});
  }
  dnnl::reorder in_reorder, out_reorder;
  if (reorder_in) in_reorder = dnnl::reorder(user_src, conv1_src, in_attr);
  if (reorder_out) out_reorder = dnnl::reorder(layers[3].dst, out_nhwc, out_attr);
  std::vector<dnnl::reorder> mid_reorder(3);
  for (int li = 0; li + 1 < 4; ++li)
    if (next_src[static_cast<size_t>(li)] != layers[static_cast<size_t>(li)].dst)
      mid_reorder[static_cast<size_t>(li)] =
          dnnl::reorder(layers[static_cast<size_t>(li)].dst, next_src[static_cast<size_t>(li)]);

  const int threads = opt.threads;
  auto forward = [&]() {
    if (reorder_in) in_reorder.execute(strm, user_src, conv1_src);
    memory src = conv1_src;
    for (size_t li = 0; li < 4; ++li) {
      Layer& l = layers[li];
      l.prim.execute(strm, {{DNNL_ARG_SRC, src},
                            {DNNL_ARG_WEIGHTS, l.weights},
                            {DNNL_ARG_BIAS, l.bias},
                            {DNNL_ARG_DST, l.dst}});
      if (li < 3) {
        if (mid_reorder[li]) mid_reorder[li].execute(strm, l.dst, next_src[li]);
        src = next_src[li];
      }
    }
    if (reorder_out) out_reorder.execute(strm, layers[3].dst, out_nhwc);
    strm.wait();
    // depth_to_space, r=3, C=1, TF ordering: out[n, y*3+i, x*3+j] = in[n, y, x, i*3+j].
    const float* in = static_cast<const float*>(out_nhwc.get_data_handle());
    float* out = hr.data();
    const long rows = static_cast<long>(N * H);
#pragma omp parallel for num_threads(threads) schedule(static)
    for (long ny = 0; ny < rows; ++ny) {
      const float* irow = in + ny * W * 9;
      float* orow0 = out + ny * 3 * (W * 3);
      for (int i = 0; i < 3; ++i) {
        float* orow = orow0 + i * (W * 3);
        for (memory::dim x = 0; x < W; ++x) {
          orow[x * 3 + 0] = irow[x * 9 + i * 3 + 0];
          orow[x * 3 + 1] = irow[x * 9 + i * 3 + 1];
          orow[x * 3 + 2] = irow[x * 9 + i * 3 + 2];
        }
      }
    }
  };

  const auto ms = qsr_peer::time_runs(opt, forward);
  if (!qsr_peer::all_finite(hr.data(), hr.size())) {
    std::fprintf(stderr, "error: %s produced non-finite output\n", program.c_str());
    return 1;
  }
  const double nonzero = qsr_peer::nonzero_fraction(hr.data(), hr.size());
  if (nonzero == 0.0) {
    std::fprintf(stderr, "error: %s produced an all-zero output\n", program.c_str());
    return 1;
  }

  std::string algos_json = ", \"algos\": [";
  std::string impls_json = ", \"impl\": [";
  std::string human = " [";
  for (size_t li = 0; li < 4; ++li) {
    const std::string impl = layers[li].pd.impl_info_str();
    algos_json += (li ? ", \"" : "\"") + layers[li].algo + "\"";
    impls_json += (li ? ", \"" : "\"") + impl + "\"";
    human += (li ? "; " : "") + layers[li].algo + " " + impl + " dst " +
             layout_name(layers[li].dst.get_desc());
  }
  human += "]";
  char nz[32];
  std::snprintf(nz, sizeof nz, "%.4f", nonzero);
  human = " dtype " + dtype + human;
  const std::string extra = ", \"dtype\": \"" + dtype + "\", \"conv2_impl\": \"" +
                            layers[1].pd.impl_info_str() + "\", \"nonzero_frac\": " + nz +
                            algos_json + "]" + impls_json + "]" + ", \"layout\": \"" +
                            layout_name(layers[0].dst.get_desc()) +
                            "\", \"reorders\": " +
                            std::to_string((reorder_in ? 1 : 0) + inter_reorders +
                                           (reorder_out ? 1 : 0));
  qsr_peer::report(opt, program, ms, extra, human);
  return 0;
}
