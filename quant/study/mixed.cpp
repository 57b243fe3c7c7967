// The automatic mixed-precision row of the study (internal.h, docs/STUDY.md).
#include <fmt/format.h>

#include <algorithm>

#include "quant/study/internal.h"

namespace qsr::study {

namespace {

// An allocation of word lengths: per conv's weights (L), then per activation tensor a0..aL.
using Bits = std::vector<int>;

// The search's scoring: the Set5 PSNR drop against float of an allocation, counted.
struct Search {
  Ctx& c;
  double budget = 0, base = 0;
  int L = 0;
  std::vector<int64_t> size;  // per tensor: weights' numel, then activation channels a0..aL
  int evals = 0;

  explicit Search(Ctx& ctx) : c(ctx), budget(ctx.manifest.value("budget_db", 0.1)), L(int(ctx.fmodel->convs.size())) {
    size.resize(size_t(2 * L + 1));
    for (int i = 0; i < L; ++i) size[size_t(i)] = c.fmodel->convs[size_t(i)]->weight.value().numel();
    size[size_t(L)] = c.fmodel->config().channels;
    for (int i = 0; i < L; ++i) size[size_t(L + 1 + i)] = c.fmodel->convs[size_t(i)]->weight.value().dim(3);
    base = psnr_on(network_of(*c.fmodel), c.sets[0]);
  }
  std::string mode_of(const Bits& b) const {
    std::string s = "w";
    for (int i = 0; i <= 2 * L; ++i) s += (i == L ? "a" : (i == 0 ? "" : ".")) + std::to_string(b[size_t(i)]);
    return s;
  }
  int64_t bits_of(const Bits& b) const {
    int64_t t = 0;
    for (size_t i = 0; i < b.size(); ++i) t += size[i] * b[i];
    return t;
  }
  Bits uniform(int bits) const { return Bits(size_t(2 * L + 1), bits); }
  double drop(const Bits& b) {
    ++evals;
    json tmp;
    return base - psnr_on(engine_net(ptq_model(c, mode_of(b), {}, true), c.a.conv_algo, tmp), c.sets[0]);
  }
};

// The shortest uniform word length within the budget (d: its drop).
int shortest_uniform(Search& s, double& d) {
  int u = 8;
  d = s.drop(s.uniform(u));
  if (d <= s.budget) {
    while (u > 2) {
      const double d2 = s.drop(s.uniform(u - 1));
      if (d2 > s.budget) break;
      --u, d = d2;
    }
  } else {
    while (d > s.budget && u < 16) d = s.drop(s.uniform(++u));
    QSR_CHECK(d <= s.budget,
              fmt::format("mixed precision: even 16 bits everywhere loses {:.4f} dB on Set5, more than the budget {}", d, s.budget));
  }
  return u;
}

// The greedy descent from b: lower one tensor by one bit, the move that saves the most bits per
// dB lost, while the drop stays within the budget. Returns the steps taken (the start first).
json descend(Search& s, Bits& b, double& d) {
  d = s.drop(b);
  json steps = json::array({{{"mode", s.mode_of(b)}, {"drop_set5", d}, {"bits", s.bits_of(b)}}});
  for (;;) {
    int best = -1;
    double best_eff = -1, best_d = 0;
    for (int t = 0; t <= 2 * s.L; ++t) {
      if (b[size_t(t)] <= 2) continue;
      Bits cand = b;
      --cand[size_t(t)];
      const double dc = s.drop(cand);
      if (dc > s.budget) continue;
      const double eff = double(s.size[size_t(t)]) / (std::max(dc - d, 0.0) + 0.01);
      if (eff > best_eff) best = t, best_eff = eff, best_d = dc;
    }
    if (best < 0) break;
    --b[size_t(best)];
    d = best_d;
    steps.push_back({{"mode", s.mode_of(b)}, {"drop_set5", d}, {"bits", s.bits_of(b)}});
  }
  return steps;
}

}  // namespace

// The automatic mixed precision: the smallest allocation of word lengths, one per conv's
// weights and one per activation tensor (docs/STUDY.md), whose Set5 PSNR stays within the
// budget of float. Start: two bits above the shortest uniform word length within the budget.
// Then, greedily, lower one tensor by one bit, the move that saves the most bits per dB of
// PSNR lost (per 0.01 dB + the loss), while the drop stays within the budget. Bits = weights x
// word length + per low-res pixel the activations' channels x word length.
json run_mixed_row(Ctx& c, json j) {
  const auto t0 = Clock::now();
  Search s(c);
  double d = 0;
  const int u = shortest_uniform(s, d);
  // The greedy descent starts two bits above it, so that it can spend the budget where it buys the most bits.
  Bits b = s.uniform(std::min(u + 2, 16));
  const json steps = descend(s, b, d);
  const int L = s.L;
  fmt::print(stderr, "study: mixed precision {} ({} evaluations, Set5 drop {:.4f} dB)\n", s.mode_of(b), s.evals, d);
  j["mode"] = s.mode_of(b);
  j["allocation"] = {{"weights", Bits(b.begin(), b.begin() + L)}, {"activations", Bits(b.begin() + L, b.end())}};
  j["uniform_bits"] = u;
  j["search"] = steps;
  j["evaluations"] = s.evals;
  j["search_s"] = seconds_since(t0);
  const auto t1 = Clock::now();
  const auto q = ptq_model(c, s.mode_of(b), {}, true);
  j["prepare_s"] = seconds_since(t1);
  measure(engine_net(q, c.a.conv_algo, j), c, j);
  return j;
}

}  // namespace qsr::study
