// Statistics of a few samples (timings), the one definition for the program and the benchmarks.
#pragma once
#include <algorithm>
#include <chrono>
#include <vector>

namespace qsr {

// The median of v: its middle value, or the mean of the two middle values for an even count.
// v must not be empty.
inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Seconds of the steady clock since t.
inline double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace qsr
