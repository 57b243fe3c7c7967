// The one place where threads are used. Work is split by index: thread t of T
// gets the contiguous range [t*n/T, (t+1)*n/T), so results never depend on
// scheduling, only on the thread count.
#pragma once
#include <cstdint>
#include <functional>

namespace qsr {

// Calls fn(begin, end) on disjoint ranges covering [0, n).
void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn);

// Threads used by parallel_for (default: OpenMP's default, normally the core count).
void set_num_threads(int n);
int num_threads();
bool openmp_enabled();

}  // namespace qsr
