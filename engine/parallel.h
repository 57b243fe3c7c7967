// The one place where threads are used. Work is split by index: thread t of T
// gets the contiguous range [t*n/T, (t+1)*n/T), so results never depend on
// scheduling, only on the thread count.
#pragma once
#include <cstdint>
#include <functional>

namespace qsr {

// Work per thread below which parallel_for does not add another thread.
constexpr int64_t kMinWorkPerThread = int64_t(1) << 15;
constexpr int64_t kLargeWork = kMinWorkPerThread;

// Calls fn(begin, end) on disjoint ranges covering [0, n). `work_per_item` is a
// rough cost of one index (multiply-adds, or floats moved): small jobs use fewer
// threads, since waking and joining a thread costs more than a few thousand
// operations (and far more when the cores are oversubscribed). The default
// treats every item as large.
void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn, int64_t work_per_item = kLargeWork);

// Threads used by parallel_for (default: OpenMP's default, normally the core count).
void set_num_threads(int n);
int num_threads();
bool openmp_enabled();

}  // namespace qsr
