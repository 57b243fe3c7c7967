// Shared helpers for the qsr peer benchmarks (oneDNN, XNNPACK).
//
// Implements the common command-line contract used by build/bench/qsr_bench
// and every peer:
//   --size WxH  --threads T  --runs N  --warmup N  --mode forward|train
//   --batch N   --json
// plus any peer-specific options handled through a callback.
//
// Header-only on purpose: each peer is a single translation unit and this
// folder must build standalone (it is pulled in with add_subdirectory).
#pragma once

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace qsr_peer {

// MACs per low-resolution pixel of the ESPCN network:
// 5*5*1*64 + 3*3*64*64 + 3*3*64*32 + 3*3*32*9 = 1600 + 36864 + 18432 + 2592.
inline constexpr std::int64_t kMacPerPixel = 59488;
inline constexpr int kScale = 3;

struct Options {
  int width = 640;
  int height = 360;
  int threads = 1;
  int runs = 10;
  int warmup = 2;
  std::string mode = "forward";
  int batch = 0;  // 0 -> default (1 for forward, 8 for train)
  bool json = false;
};

[[noreturn]] inline void die_usage(const std::string& msg) {
  std::fprintf(stderr, "error: %s\n", msg.c_str());
  std::exit(2);
}

inline int parse_positive_int(std::string_view opt, const char* value, int min_value) {
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(value, &end, 10);
  if (errno != 0 || end == value || *end != '\0' || v < min_value || v > 1000000) {
    die_usage(std::string("invalid value for ") + std::string(opt) + ": '" + value + "'");
  }
  return static_cast<int>(v);
}

inline void parse_size(const char* value, int& w, int& h) {
  const std::string s(value);
  const auto x = s.find_first_of("xX");
  if (x == std::string::npos) die_usage("invalid --size '" + s + "' (expected WxH)");
  const std::string ws = s.substr(0, x);
  const std::string hs = s.substr(x + 1);
  w = parse_positive_int("--size", ws.c_str(), 1);
  h = parse_positive_int("--size", hs.c_str(), 1);
}

// extra(opt, value_or_null) returns: 0 = not recognised, 1 = consumed the option
// only (flag), 2 = consumed the option and its value. It is called with
// value == nullptr when the option is last on the command line.
using ExtraHandler = std::function<int(std::string_view, const char*)>;

inline Options parse_args(int argc, char** argv, const ExtraHandler& extra = {}) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    const char* next = (i + 1 < argc) ? argv[i + 1] : nullptr;
    auto need = [&](std::string_view opt) -> const char* {
      if (next == nullptr) die_usage(std::string("missing value for ") + std::string(opt));
      ++i;
      return next;
    };
    if (a == "--size") {
      parse_size(need(a), o.width, o.height);
    } else if (a == "--threads") {
      o.threads = parse_positive_int(a, need(a), 1);
    } else if (a == "--runs") {
      o.runs = parse_positive_int(a, need(a), 1);
    } else if (a == "--warmup") {
      o.warmup = parse_positive_int(a, need(a), 0);
    } else if (a == "--batch") {
      o.batch = parse_positive_int(a, need(a), 1);
    } else if (a == "--mode") {
      o.mode = need(a);
      if (o.mode != "forward" && o.mode != "train")
        die_usage("invalid --mode '" + o.mode + "' (expected forward|train)");
    } else if (a == "--json") {
      o.json = true;
    } else {
      const int used = extra ? extra(a, next) : 0;
      if (used == 0) die_usage("unknown option '" + std::string(a) + "'");
      if (used == 2) {
        if (next == nullptr) die_usage(std::string("missing value for ") + std::string(a));
        ++i;
      }
    }
  }
  if (o.batch == 0) o.batch = (o.mode == "train") ? 8 : 1;
  return o;
}

inline double now_ms() {
  using clock = std::chrono::steady_clock;
  return std::chrono::duration<double, std::milli>(clock::now().time_since_epoch()).count();
}

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  if (n == 0) return 0.0;
  return (n % 2 == 1) ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Runs fn warmup + runs times, returns the timed runs in milliseconds.
template <class Fn>
std::vector<double> time_runs(const Options& o, Fn&& fn) {
  for (int i = 0; i < o.warmup; ++i) fn();
  std::vector<double> ms;
  ms.reserve(static_cast<size_t>(o.runs));
  for (int i = 0; i < o.runs; ++i) {
    const double t0 = now_ms();
    fn();
    ms.push_back(now_ms() - t0);
  }
  return ms;
}

inline void fill_random(std::vector<float>& v, std::uint32_t seed, float scale) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-scale, scale);
  for (float& x : v) x = dist(rng);
}

inline bool all_finite(const float* p, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (!std::isfinite(p[i])) return false;
  return true;
}

// Prints the result line (JSON or human). extra_json, if non-empty, is
// appended verbatim inside the object (must start with ',').
inline void report(const Options& o, const std::string& program, const std::vector<double>& ms,
                   const std::string& extra_json = {}, const std::string& extra_human = {}) {
  const double med = median(ms);
  const double mn = *std::min_element(ms.begin(), ms.end());
  const double macs = static_cast<double>(kMacPerPixel) * o.width * o.height * o.batch *
                      (o.mode == "train" ? 3.0 : 1.0);
  const double gmacs = med > 0 ? macs / (med * 1e-3) / 1e9 : 0.0;
  if (o.json) {
    std::string s = "{\"program\": \"" + program + "\", \"mode\": \"" + o.mode +
                    "\", \"size\": \"" + std::to_string(o.width) + "x" +
                    std::to_string(o.height) + "\", \"threads\": " + std::to_string(o.threads) +
                    ", \"batch\": " + std::to_string(o.batch);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.4f", med);
    s += ", \"median_ms\": " + std::string(buf);
    std::snprintf(buf, sizeof buf, "%.4f", mn);
    s += ", \"min_ms\": " + std::string(buf);
    s += ", \"runs_ms\": [";
    for (size_t i = 0; i < ms.size(); ++i) {
      std::snprintf(buf, sizeof buf, "%.4f", ms[i]);
      s += (i ? ", " : "") + std::string(buf);
    }
    std::snprintf(buf, sizeof buf, "%.3f", gmacs);
    s += "], \"gmacs\": " + std::string(buf) + extra_json + "}";
    std::printf("%s\n", s.c_str());
  } else {
    std::printf("%s %s %dx%d batch=%d threads=%d: median %.3f ms, min %.3f ms, %.2f GMAC/s%s\n",
                program.c_str(), o.mode.c_str(), o.width, o.height, o.batch, o.threads, med, mn,
                gmacs, extra_human.c_str());
  }
  std::fflush(stdout);
}


// ------------------------------------------------------------- int8 -------
// A quantised ESPCN shared by the int8 variants of the oneDNN and XNNPACK
// peers, so both time the same network with the same scales:
//   * weights: random int8 codes in [-127, 127] (fixed seed), OHWI layout;
//     real weight = code * w_scale[oc]. Per-channel: w_scale differs per output
//     channel (factor 0.5..1.5 around 1/(127*sqrt(fan_in))); per-tensor: one
//     scale for the whole layer.
//   * activations: the network input is an image in [0, 1] (scale 1/255);
//     every conv output is post-ReLU, so it is quantised over [0, max] with 256
//     levels (u8 with zero point 0, or s8 with zero point -128). max is
//     calibrated once by running the dequantised network in f32 on a small
//     random image (what a post-training-quantisation flow does).
//   * bias: real-valued (f32); each engine converts it to its own convention.
// Weights and scales only need to keep the data non-degenerate (not all zero,
// not all saturated): only timing matters.
inline constexpr float kInputScale = 1.0f / 255.0f;

struct QuantLayer {
  int ic = 0, oc = 0, k = 0;
  std::vector<std::int8_t> w;  // OHWI codes
  std::vector<float> w_scale;  // [oc]
  std::vector<float> bias;     // [oc], real values
  float in_scale = 0.0f;       // real = code * in_scale (activation entering the layer)
  float out_scale = 0.0f;      // real = code * out_scale (post-ReLU output)
};

// Plain NHWC / OHWI reference conv + ReLU with 'same' zero padding (used only
// for the calibration at setup time).
inline void ref_conv_relu(const std::vector<float>& in, int H, int W, int ic,
                          const std::vector<float>& w, const std::vector<float>& b, int oc, int k,
                          std::vector<float>& out) {
  out.assign(static_cast<size_t>(H) * W * oc, 0.0f);
  const int p = k / 2;
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x)
      for (int o = 0; o < oc; ++o) {
        float acc = b[static_cast<size_t>(o)];
        for (int ky = 0; ky < k; ++ky) {
          const int iy = y + ky - p;
          if (iy < 0 || iy >= H) continue;
          for (int kx = 0; kx < k; ++kx) {
            const int ix = x + kx - p;
            if (ix < 0 || ix >= W) continue;
            const float* ip = &in[(static_cast<size_t>(iy) * W + ix) * ic];
            const float* wp = &w[((static_cast<size_t>(o) * k + ky) * k + kx) * ic];
            for (int c = 0; c < ic; ++c) acc += ip[c] * wp[c];
          }
        }
        out[(static_cast<size_t>(y) * W + x) * oc + o] = acc > 0.0f ? acc : 0.0f;
      }
}

inline std::vector<QuantLayer> make_quant_espcn(bool per_channel) {
  constexpr int spec[4][3] = {{1, 64, 5}, {64, 64, 3}, {64, 32, 3}, {32, 9, 3}};
  std::vector<QuantLayer> net(4);
  for (int li = 0; li < 4; ++li) {
    QuantLayer& L = net[static_cast<size_t>(li)];
    L.ic = spec[li][0];
    L.oc = spec[li][1];
    L.k = spec[li][2];
    std::mt19937 rng(1234u + static_cast<unsigned>(li));
    std::uniform_int_distribution<int> code(-127, 127);
    L.w.resize(static_cast<size_t>(L.oc) * L.k * L.k * L.ic);
    for (auto& c : L.w) c = static_cast<std::int8_t>(code(rng));
    const float base = 1.0f / (127.0f * std::sqrt(static_cast<float>(L.ic * L.k * L.k)));
    L.w_scale.assign(static_cast<size_t>(L.oc), base);
    if (per_channel) {
      std::uniform_real_distribution<float> f(0.5f, 1.5f);
      for (float& s : L.w_scale) s = base * f(rng);
    }
    L.bias.resize(static_cast<size_t>(L.oc));
    fill_random(L.bias, 4321u + static_cast<unsigned>(li), 0.01f);
  }
  // Calibration: dequantised network in f32 on a 48x48 image in [0, 1].
  const int H = 48, W = 48;
  std::vector<float> act(static_cast<size_t>(H) * W);
  fill_random(act, 42u, 1.0f);
  for (float& x : act) x = 0.5f * (x + 1.0f);
  float in_scale = kInputScale;
  std::vector<float> out;
  for (QuantLayer& L : net) {
    std::vector<float> wf(L.w.size());
    const size_t per_oc = static_cast<size_t>(L.k) * L.k * L.ic;
    for (size_t i = 0; i < wf.size(); ++i) wf[i] = L.w[i] * L.w_scale[i / per_oc];
    ref_conv_relu(act, H, W, L.ic, wf, L.bias, L.oc, L.k, out);
    float mx = 0.0f;
    for (float v : out) mx = std::max(mx, v);
    L.in_scale = in_scale;
    L.out_scale = (mx > 0.0f ? mx : 1.0f) / 255.0f;
    in_scale = L.out_scale;
    act.swap(out);
  }
  return net;
}

// Fraction of non-zero values (int8 sanity check: output not all zero).
inline double nonzero_fraction(const float* p, size_t n) {
  size_t nz = 0;
  for (size_t i = 0; i < n; ++i) nz += (p[i] != 0.0f) ? 1 : 0;
  return n ? static_cast<double>(nz) / static_cast<double>(n) : 0.0;
}

}  // namespace qsr_peer
