// The order of a u8 conv's input channels (engine_impl.h: choose_channel_orders).
#include <algorithm>
#include <utility>
#include <vector>

#include "quant/lower/engine_impl.h"
#include "quant/lower/weight_pack.h"

namespace qsr::quant::lowering {

namespace {

// The pair conflicts of a u8 conv's input channels: a pair (a, b) conflicts at a tap and an
// output channel where its two weights could saturate vpmaddubsw (pair_reach > 32767). w: HWIO
// codes; out_order: the order of its output channels (which 8-channel half-blocks they fall in).
struct Conflicts {
  const std::vector<int32_t>& w;
  int taps, cin, cout;
  int64_t umax;
  const std::vector<int>& out_order;
  std::vector<int> conf, total;  // conflicts of each pair, and of each channel with all others

  Conflicts(const std::vector<int32_t>& w_, int k, int cin_, int cout_, int64_t umax_, const std::vector<int>& out_order_)
      : w(w_), taps(k * k), cin(cin_), cout(cout_), umax(umax_), out_order(out_order_), conf(size_t(cin_) * cin_, 0),
        total(size_t(cin_), 0) {
    for (int a = 0; a < cin; ++a)
      for (int b = a + 1; b < cin; ++b) {
        int n = 0;
        for (int t = 0; t < taps; ++t)
          for (int co = 0; co < cout; ++co) n += bad(t, a, b, co);
        conf[size_t(a) * cin + b] = conf[size_t(b) * cin + a] = n;
        total[size_t(a)] += n, total[size_t(b)] += n;
      }
  }
  int32_t W(int t, int ci, int co) const { return w[(size_t(t) * cin + ci) * cout + out_order[size_t(co)]]; }
  bool bad(int t, int a, int b, int co) const { return pair_reach(umax, W(t, a, co), W(t, b, co)) > 32767; }
  int cost(int a, int b) const { return conf[size_t(a) * cin + b]; }
};

// Greedy matching (the channel in most conflicts first, with its least conflicting partner),
// improved by exchanging partners between two pairs while that helps. used: the channels
// matched (all but an odd count's last).
std::vector<std::pair<int, int>> match_pairs(const Conflicts& C, std::vector<char>& used) {
  const int cin = C.cin;
  auto cost = [&](int a, int b) { return C.cost(a, b); };
  const std::vector<int>& total = C.total;
  used.assign(size_t(cin), 0);
  std::vector<std::pair<int, int>> pairs;
  for (int m = 0; m + 1 < cin; m += 2) {
    int a = -1;
    for (int c = 0; c < cin; ++c)
      if (!used[size_t(c)] && (a < 0 || total[size_t(c)] > total[size_t(a)])) a = c;
    used[size_t(a)] = 1;
    int b = -1;
    for (int c = 0; c < cin; ++c)
      if (!used[size_t(c)] && (b < 0 || cost(a, c) < cost(a, b) || (cost(a, c) == cost(a, b) && total[size_t(c)] > total[size_t(b)])))
        b = c;
    used[size_t(b)] = 1;
    pairs.push_back({a, b});
  }
  // Exchanges between two pairs.
  for (int pass = 0; pass < 20; ++pass) {
    bool better = false;
    for (size_t i = 0; i < pairs.size(); ++i)
      for (size_t j = i + 1; j < pairs.size(); ++j) {
        auto [a, b] = pairs[i];
        auto [c, d] = pairs[j];
        const int now = cost(a, b) + cost(c, d);
        if (cost(a, c) + cost(b, d) < now) pairs[i] = {a, c}, pairs[j] = {b, d}, better = true;
        else if (cost(a, d) + cost(b, c) < now) pairs[i] = {a, d}, pairs[j] = {b, c}, better = true;
      }
    if (!better) break;
  }
  return pairs;
}

// The pairs in quads: pairs joined by the (tap, half-block) steps in which both have a
// conflict, the pair with most such steps first. Returns the channels in that order.
std::vector<int> join_quads(const Conflicts& C, const std::vector<std::pair<int, int>>& pairs) {
  const size_t ncells = size_t(C.taps) * ((C.cout + 7) / 8);
  std::vector<std::vector<char>> cells(pairs.size(), std::vector<char>(ncells, 0));
  std::vector<int> ncell(pairs.size(), 0);
  for (size_t i = 0; i < pairs.size(); ++i)
    for (int t = 0; t < C.taps; ++t)
      for (int co = 0; co < C.cout; ++co)
        if (C.bad(t, pairs[i].first, pairs[i].second, co)) {
          char& c = cells[i][size_t(t) * ((C.cout + 7) / 8) + co / 8];
          ncell[i] += !c;
          c = 1;
        }
  std::vector<char> done(pairs.size(), 0);
  std::vector<int> out;
  for (size_t m = 0; m < pairs.size(); m += 2) {  // two pairs placed per pass
    size_t i = pairs.size();
    for (size_t c = 0; c < pairs.size(); ++c)
      if (!done[c] && (i == pairs.size() || ncell[c] > ncell[i])) i = c;
    done[i] = 1;
    out.push_back(pairs[i].first), out.push_back(pairs[i].second);
    size_t best = pairs.size();
    int shared_best = -1;
    for (size_t c = 0; c < pairs.size(); ++c) {
      if (done[c]) continue;
      int shared = 0;
      for (size_t x = 0; x < cells[i].size(); ++x) shared += cells[i][x] && cells[c][x];
      if (shared > shared_best || (shared == shared_best && ncell[c] > ncell[best])) best = c, shared_best = shared;
    }
    if (best == pairs.size()) break;
    done[best] = 1;
    out.push_back(pairs[best].first), out.push_back(pairs[best].second);
  }
  return out;
}

// The order of a u8 conv's input channels in its buffer (order[p] = the channel at position
// p), chosen so that few of its vpmaddubsw pairs -- positions (2i, 2i + 1) -- could saturate
// and need splitting (int_kernels.h), and that the split ones share quads (match_pairs,
// join_quads); the model's order unless that has fewer conflicts. Deterministic.
std::vector<int> choose_pairing(const std::vector<int32_t>& w, int k, int cin, int cout, int64_t umax,
                                const std::vector<int>& out_order) {
  const Conflicts C(w, k, cin, cout, umax, out_order);
  std::vector<int> order(static_cast<size_t>(cin));
  for (int c = 0; c < cin; ++c) order[size_t(c)] = c;
  int identity_cost = 0;
  for (int p = 0; p + 1 < cin; p += 2) identity_cost += C.cost(p, p + 1);
  if (identity_cost == 0) return order;
  std::vector<char> used;
  const std::vector<std::pair<int, int>> pairs = match_pairs(C, used);
  std::vector<int> out = join_quads(C, pairs);
  for (int c = 0; c < cin; ++c)
    if (!used[size_t(c)]) out.push_back(c);  // an odd count's last channel (paired with padding)
  int cost_new = 0;
  for (size_t p = 0; p + 1 < out.size(); p += 2) cost_new += C.cost(out[p], out[p + 1]);
  if (cost_new >= identity_cost) return order;
  return out;
}

}  // namespace

// The u8 path's channel pairing (choose_pairing) of every integer conv fed by an integer
// conv, from the last back (a conv's choice looks at its output order); the producer
// writes its output channels in that order. Not for the VNNI table, which never splits.
std::vector<std::vector<int>> choose_channel_orders(const QuantModel& q, const IntKernels& K, const LowerOptions& opt) {
  const size_t n = q.kernels.size();
  std::vector<std::vector<int>> order(n + 1);
  for (size_t i = n; i-- > 1;) {
    if (!opt.allow_pairing || !opt.allow_u8 || K.isa == Isa::avx512 || !q.integer_layer(int(i)) ||
        !q.integer_layer(int(i - 1)))
      continue;
    const int64_t umax = int64_t(q.acts[i].fmt.qmax()) - q.acts[i].fmt.qmin();
    const std::vector<int32_t> w = codes_to_int32(q.weights[i].codes);
    if (!u8_codes(umax, w)) continue;
    const Tensor& kt = q.kernels[i];
    const int cout = int(kt.dim(3));
    std::vector<int> out_order = order[i + 1];
    if (out_order.empty())
      for (int c = 0; c < cout; ++c) out_order.push_back(c);
    std::vector<int> o = choose_pairing(w, int(kt.dim(0)), int(kt.dim(2)), cout, umax, out_order);
    bool identity = true;
    for (size_t c = 0; c < o.size(); ++c) identity &= o[c] == int(c);
    if (!identity) order[i] = std::move(o);
  }
  return order;
}

}  // namespace qsr::quant::lowering
