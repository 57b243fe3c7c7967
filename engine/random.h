// A small deterministic generator (SplitMix64 seeding a xoshiro256**), with
// uniform and normal draws defined here rather than by the standard library,
// so the same seed gives the same numbers with every compiler.
#pragma once
#include <cstdint>

namespace qsr {

class Rng {
 public:
  explicit Rng(uint64_t seed = 1337);
  uint64_t next_u64();
  double uniform();                       // [0, 1)
  float uniform(float lo, float hi);      // [lo, hi)
  double normal();                        // standard normal (Box-Muller)
  uint64_t below(uint64_t n);             // [0, n), unbiased

 private:
  uint64_t s_[4];
  bool have_spare_ = false;
  double spare_ = 0;
};

}  // namespace qsr
