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

// What every layer is built from.
struct Setup {
  std::string algo_name = "direct", dtype = "f32";
  bool int8 = false;
  algorithm algo = algorithm::convolution_direct;
  memory::dim N = 1, H = 1, W = 1;
  dnnl::engine eng;  // made after the thread count is set
  dnnl::stream strm;
  dnnl::post_ops po;
  std::vector<qsr_peer::QuantLayer> qnet;  // int8: the quantised network
  int wino_layers = 0;                     // layers that got a winograd primitive
};

// Layer li's primitive (with the Winograd fallback described above) and its weights in the
// primitive's layout; false (after a one-line error) when oneDNN has none on this CPU.
bool build_layer(Setup& S, int li, Layer& l) {
  const auto& L = kLayers[li];
  const memory::dims src_dims = {S.N, L.ic, S.H, S.W};
  const memory::dims w_dims = {L.oc, L.ic, L.k, L.k};
  const memory::dims b_dims = {L.oc};
  const memory::dims dst_dims = {S.N, L.oc, S.H, S.W};
  const memory::dim p = L.k / 2;
  const dt act_dt = S.int8 ? dt::u8 : dt::f32;
  const memory::desc src_md(src_dims, act_dt, tag::any);
  const memory::desc w_md(w_dims, S.int8 ? dt::s8 : dt::f32, tag::any);
  const memory::desc b_md(b_dims, dt::f32, tag::x);
  const memory::desc dst_md(dst_dims, act_dt, tag::any);

  dnnl::primitive_attr attr;
  attr.set_post_ops(S.po);
  // int8: acc (s32) = sum(u8 src code * s8 weight code) + bias (f32, in acc
  // units); dst code = saturate_u8(relu(acc * in_scale * w_scale[oc] / out_scale)).
  std::vector<float> bias_acc;  // int8 bias in accumulator units
  if (S.int8) {
    const auto& Q = S.qnet[static_cast<size_t>(li)];
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
    return dnnl::convolution_forward::primitive_desc(d, attr, S.eng, true);
  };

  algorithm layer_algo = S.algo;
  std::string layer_algo_name = S.algo_name;
  if (S.algo == algorithm::convolution_winograd && L.k != 3) {
    layer_algo = algorithm::convolution_direct;  // winograd is 3x3-only
    layer_algo_name = "direct";
  }
  auto pd = make_pd(layer_algo);
  if (!pd && layer_algo == algorithm::convolution_winograd) {
    layer_algo = algorithm::convolution_direct;
    layer_algo_name = "direct";
    pd = make_pd(layer_algo);
  } else if (layer_algo == algorithm::convolution_winograd) {
    ++S.wino_layers;
  }
  if (!pd) {
    std::fprintf(stderr, "error: oneDNN has no %s convolution for layer %d on this CPU\n",
                 layer_algo_name.c_str(), li + 1);
    return false;
  }

  l.pd = pd;
  l.prim = dnnl::convolution_forward(pd);
  l.algo = layer_algo_name;

  // Random weights (fixed seed) in the user layout (f32: oihw; int8: s8
  // codes in ohwi), reordered once to whatever layout the primitive wants.
  l.weights = memory(pd.weights_desc(), S.eng);
  l.bias = memory(pd.bias_desc(), S.eng);
  if (S.int8) {
    auto wq = S.qnet[static_cast<size_t>(li)].w;  // copy: memory wants a non-const handle
    memory user_w({w_dims, dt::s8, tag::ohwi}, S.eng, wq.data());
    dnnl::reorder(user_w, l.weights).execute(S.strm, user_w, l.weights);
    S.strm.wait();
    std::memcpy(l.bias.get_data_handle(), bias_acc.data(), bias_acc.size() * sizeof(float));
  } else {
    std::vector<float> w(static_cast<size_t>(L.oc * L.ic * L.k * L.k));
    std::vector<float> b(static_cast<size_t>(L.oc));
    const float scale = 1.0f / std::sqrt(static_cast<float>(L.ic * L.k * L.k));
    qsr_peer::fill_random(w, 1234u + static_cast<unsigned>(li), scale);
    qsr_peer::fill_random(b, 4321u + static_cast<unsigned>(li), 0.01f);
    memory user_w({w_dims, dt::f32, tag::oihw}, S.eng, w.data());
    dnnl::reorder(user_w, l.weights).execute(S.strm, user_w, l.weights);
    S.strm.wait();
    std::memcpy(l.bias.get_data_handle(), b.data(), b.size() * sizeof(float));
  }
  l.dst = memory(pd.dst_desc(), S.eng);
  return true;
}

// The timed network: the layers, the memories between them and the prebuilt reorders
// (creation is setup, execution is timed).
struct Pipeline {
  Setup& S;
  std::vector<Layer>& layers;
  std::vector<float> in_nhwc, hr;
  memory user_src, conv1_src, out_nhwc;
  std::vector<memory> next_src = std::vector<memory>(4);
  bool reorder_in = false, reorder_out = false;
  int inter_reorders = 0;
  dnnl::reorder in_reorder, out_reorder;
  std::vector<dnnl::reorder> mid_reorder = std::vector<dnnl::reorder>(3);

  Pipeline(Setup& s, std::vector<Layer>& ls) : S(s), layers(ls) {
    const memory::dim N = S.N, H = S.H, W = S.W;
    in_nhwc.resize(static_cast<size_t>(N * H * W));
    qsr_peer::fill_random(in_nhwc, 42u, 1.0f);
    for (float& x : in_nhwc) x = 0.5f * (x + 1.0f);  // image-like values in [0,1]
    user_src = memory({{N, 1, H, W}, dt::f32, tag::nhwc}, S.eng, in_nhwc.data());
    conv1_src = user_src;
    reorder_in = layers[0].pd.src_desc() != user_src.get_desc();
    if (reorder_in) conv1_src = memory(layers[0].pd.src_desc(), S.eng);
    // Between layers: if layer i's dst layout differs from what layer i+1 wants,
    // a reorder is needed (normally oneDNN picks matching layouts).
    for (size_t li = 0; li + 1 < 4; ++li) {
      const auto want = layers[li + 1].pd.src_desc();
      if (want == layers[li].dst.get_desc()) {
        next_src[li] = layers[li].dst;
      } else {
        next_src[li] = memory(want, S.eng);
        ++inter_reorders;
      }
    }
    const memory::desc out_nhwc_md({N, 9, H, W}, dt::f32, tag::nhwc);
    reorder_out = layers[3].dst.get_desc() != out_nhwc_md;
    out_nhwc = reorder_out ? memory(out_nhwc_md, S.eng) : layers[3].dst;
    hr.resize(static_cast<size_t>(N * (H * 3) * (W * 3)));
    // int8: the input reorder quantises (dst = src * 255, rounded, saturated to
    // u8) and the output reorder dequantises (dst = code * out_scale).
    dnnl::primitive_attr in_attr, out_attr;
    if (S.int8) {
      in_attr.set_output_scales(0, {1.0f / qsr_peer::kInputScale});
      out_attr.set_output_scales(0, {S.qnet[3].out_scale});
    }
    if (reorder_in) in_reorder = dnnl::reorder(user_src, conv1_src, in_attr);
    if (reorder_out) out_reorder = dnnl::reorder(layers[3].dst, out_nhwc, out_attr);
    for (size_t li = 0; li + 1 < 4; ++li)
      if (next_src[li] != layers[li].dst) mid_reorder[li] = dnnl::reorder(layers[li].dst, next_src[li]);
  }

  void forward(int threads) {
    if (reorder_in) in_reorder.execute(S.strm, user_src, conv1_src);
    memory src = conv1_src;
    for (size_t li = 0; li < 4; ++li) {
      Layer& l = layers[li];
      l.prim.execute(S.strm, {{DNNL_ARG_SRC, src},
                              {DNNL_ARG_WEIGHTS, l.weights},
                              {DNNL_ARG_BIAS, l.bias},
                              {DNNL_ARG_DST, l.dst}});
      if (li < 3) {
        if (mid_reorder[li]) mid_reorder[li].execute(S.strm, l.dst, next_src[li]);
        src = next_src[li];
      }
    }
    if (reorder_out) out_reorder.execute(S.strm, layers[3].dst, out_nhwc);
    S.strm.wait();
    // depth_to_space, r=3, C=1, TF ordering: out[n, y*3+i, x*3+j] = in[n, y, x, i*3+j].
    const float* in = static_cast<const float*>(out_nhwc.get_data_handle());
    float* out = hr.data();
    const memory::dim W = S.W;
    const long rows = static_cast<long>(S.N * S.H);
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
  }
};

// The JSON keys and the human line of the report.
std::pair<std::string, std::string> describe(const Setup& S, const Pipeline& P, double nonzero) {
  const std::vector<Layer>& layers = P.layers;
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
  human = " dtype " + S.dtype + human;
  const std::string extra = ", \"dtype\": \"" + S.dtype + "\", \"conv2_impl\": \"" +
                            layers[1].pd.impl_info_str() + "\", \"nonzero_frac\": " + nz +
                            algos_json + "]" + impls_json + "]" + ", \"layout\": \"" +
                            layout_name(layers[0].dst.get_desc()) +
                            "\", \"reorders\": " +
                            std::to_string((P.reorder_in ? 1 : 0) + P.inter_reorders +
                                           (P.reorder_out ? 1 : 0));
  return {extra, human};
}

int run(int argc, char** argv) {
  Setup S;
  const auto opt = qsr_peer::parse_args(argc, argv, [&](std::string_view a, const char* v) {
    if (a == "--algo") {
      if (v == nullptr) qsr_peer::die_usage("missing value for --algo");
      S.algo_name = v;
      if (S.algo_name != "direct" && S.algo_name != "winograd" && S.algo_name != "auto")
        qsr_peer::die_usage("invalid --algo '" + S.algo_name + "' (expected direct|winograd|auto)");
      return 2;
    }
    if (a == "--dtype") {
      if (v == nullptr) qsr_peer::die_usage("missing value for --dtype");
      S.dtype = v;
      if (S.dtype != "f32" && S.dtype != "int8")
        qsr_peer::die_usage("invalid --dtype '" + S.dtype + "' (expected f32|int8)");
      return 2;
    }
    return 0;
  });
  S.int8 = S.dtype == "int8";
  const std::string program = "onednn-" + S.algo_name + (S.int8 ? "-int8" : "");
  if (opt.mode != "forward") {
    std::fprintf(stderr, "error: %s supports only --mode forward\n", program.c_str());
    return 2;
  }
  S.algo = S.algo_name == "direct"     ? algorithm::convolution_direct
           : S.algo_name == "winograd" ? algorithm::convolution_winograd
                                       : algorithm::convolution_auto;
  omp_set_num_threads(opt.threads);
  S.N = opt.batch, S.H = opt.height, S.W = opt.width;
  S.eng = dnnl::engine(dnnl::engine::kind::cpu, 0);
  S.strm = dnnl::stream(S.eng);
  S.po.append_eltwise(1.0f, algorithm::eltwise_relu, 0.0f, 0.0f);
  if (S.int8) S.qnet = qsr_peer::make_quant_espcn(/*per_channel=*/true);

  // --- Build the four convolutions (outside the timed region). ---
  std::vector<Layer> layers(4);
  for (int li = 0; li < 4; ++li)
    if (!build_layer(S, li, layers[static_cast<size_t>(li)])) return 2;
  S.strm.wait();
  if (S.algo == algorithm::convolution_winograd && S.wino_layers == 0) {
    std::fprintf(stderr,
                 "error: oneDNN winograd convolution is not supported on this CPU "
                 "(oneDNN 2.6 implements %s winograd only for AVX-512)\n",
                 S.dtype.c_str());
    return 2;
  }

  Pipeline P(S, layers);
  const int threads = opt.threads;
  const auto ms = qsr_peer::time_runs(opt, [&]() { P.forward(threads); });
  if (!qsr_peer::all_finite(P.hr.data(), P.hr.size())) {
    std::fprintf(stderr, "error: %s produced non-finite output\n", program.c_str());
    return 1;
  }
  const double nonzero = qsr_peer::nonzero_fraction(P.hr.data(), P.hr.size());
  if (nonzero == 0.0) {
    std::fprintf(stderr, "error: %s produced an all-zero output\n", program.c_str());
    return 1;
  }
  const auto [extra, human] = describe(S, P, nonzero);
  qsr_peer::report(opt, program, ms, extra, human);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const dnnl::error& e) {
    // e.g. a primitive this oneDNN build has no implementation of on this CPU
    std::fprintf(stderr, "error: oneDNN: %s\n", e.what());
    return 2;
  }
}
