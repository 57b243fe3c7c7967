#include "engine/parallel.h"

#include <algorithm>

#include "engine/tensor.h"
#ifdef QSR_HAVE_OPENMP
#include <omp.h>
#endif

namespace qsr {

void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn, int64_t work_per_item) {
  if (n <= 0) return;
#ifdef QSR_HAVE_OPENMP
  const int64_t total = n * std::max<int64_t>(work_per_item, 1);
  const int64_t by_work = std::max<int64_t>(1, total / kMinWorkPerThread);
  int t = static_cast<int>(std::min<int64_t>({n, by_work, int64_t(omp_get_max_threads())}));
  if (t <= 1 || omp_in_parallel()) {
    fn(0, n);
    return;
  }
#pragma omp parallel num_threads(t)
  {
    int64_t i = omp_get_thread_num();
    int64_t nt = omp_get_num_threads();
    int64_t b = i * n / nt, e = (i + 1) * n / nt;
    if (b < e) fn(b, e);
  }
#else
  (void)work_per_item;
  fn(0, n);
#endif
}

void set_num_threads(int n) {
  QSR_CHECK(n >= 1, "thread count must be at least 1");
#ifdef QSR_HAVE_OPENMP
  omp_set_num_threads(n);
#else
  QSR_CHECK(n == 1, "this build has no OpenMP: only 1 thread is available");
#endif
}

int num_threads() {
#ifdef QSR_HAVE_OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

bool openmp_enabled() {
#ifdef QSR_HAVE_OPENMP
  return true;
#else
  return false;
#endif
}

}  // namespace qsr
