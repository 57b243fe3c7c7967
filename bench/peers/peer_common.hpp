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

}  // namespace qsr_peer
