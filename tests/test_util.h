// Shared helpers for the unit tests: seeds, random tensors, a thread-count
// guard and the sanitizer switch that shrinks the heaviest cases.
#pragma once
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "engine/parallel.h"
#include "engine/random.h"
#include "engine/tensor.h"

namespace qsr_test {

// Sanitized builds run every case, on fewer random shapes.
#if defined(__SANITIZE_ADDRESS__) || defined(QSR_TEST_SMALL)
constexpr bool kSmall = true;
#else
constexpr bool kSmall = false;
#endif

// The base seed: QSR_TEST_SEED when set (to reproduce a failure), else fixed.
inline uint64_t base_seed() {
  const char* s = std::getenv("QSR_TEST_SEED");
  return (s && *s) ? std::strtoull(s, nullptr, 0) : 20240611ull;
}

inline void fill_uniform(float* p, int64_t n, qsr::Rng& rng, float lo = -1.f, float hi = 1.f) {
  for (int64_t i = 0; i < n; ++i) p[i] = rng.uniform(lo, hi);
}

inline qsr::Tensor random_tensor(qsr::Shape shape, qsr::Rng& rng, float lo = -1.f, float hi = 1.f) {
  qsr::Tensor t(std::move(shape));
  fill_uniform(t.f32(), t.numel(), rng, lo, hi);
  return t;
}

inline std::vector<float> random_vec(int64_t n, qsr::Rng& rng, float lo = -1.f, float hi = 1.f) {
  std::vector<float> v(static_cast<size_t>(n));
  fill_uniform(v.data(), n, rng, lo, hi);
  return v;
}

inline std::vector<float> abs_vec(const std::vector<float>& v) {
  std::vector<float> r(v.size());
  for (size_t i = 0; i < v.size(); ++i) r[i] = std::fabs(v[i]);
  return r;
}

inline bool bitwise_equal(const float* a, const float* b, int64_t n) {
  return n == 0 || std::memcmp(a, b, static_cast<size_t>(n) * sizeof(float)) == 0;
}

inline bool bitwise_equal(const qsr::Tensor& a, const qsr::Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() && std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

// Sets the thread count for a scope and restores the previous one. A build without
// OpenMP has one thread only: there it runs with 1 (thread-count comparisons then
// compare 1 with 1; the OpenMP builds of the suite make them real).
class ThreadCount {
 public:
  explicit ThreadCount(int n) : prev_(qsr::num_threads()) { qsr::set_num_threads(qsr::openmp_enabled() ? n : 1); }
  ~ThreadCount() { qsr::set_num_threads(prev_); }
  ThreadCount(const ThreadCount&) = delete;
  ThreadCount& operator=(const ThreadCount&) = delete;

 private:
  int prev_;
};

// A fresh folder under the system temp directory, removed with its contents.
struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& prefix = "qsr_test_") {
    std::random_device rd;
    path = std::filesystem::temp_directory_path() / (prefix + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

// The message of the qsr::Error f() throws, or "" when it throws none.
template <class F> std::string error_of(F&& f) {
  try {
    f();
  } catch (const qsr::Error& e) {
    return e.what();
  }
  return "";
}

inline bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace qsr_test
