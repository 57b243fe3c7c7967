// The rows of a study and their ids, and the parsers of the settings that make them (internal.h).
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <sstream>

#include "engine/tensor.h"
#include "quant/study/internal.h"

namespace qsr::study {

std::vector<std::string> subsets(int n, bool quick) {
  std::vector<std::string> v = {"all"};
  if (quick) return v;
  for (int m = 1; m < (1 << n) - 1; ++m) {
    std::string s;
    for (int i = 0; i < n; ++i)
      if (m >> i & 1) s += char('1' + i);
    v.push_back(s);
  }
  std::stable_sort(v.begin() + 1, v.end(), [](const std::string& a, const std::string& b) { return a.size() < b.size(); });
  return v;
}

namespace {

// The word-length sweep (per channel: wNaN, wN, aN; then per tensor: wNaN), fixed point and the
// per-layer sensitivity.
void plan_bits(std::vector<Row>& rows, int nconv, bool quick) {
  std::vector<int> bits;
  if (quick) bits = {4, 8};
  else
    for (int b = 2; b <= 16; ++b) bits.push_back(b);
  for (int b : bits)
    for (const std::string m : {"w{}a{}", "w{}", "a{}"}) {
      const std::string mode = fmt::format(fmt::runtime(m), b, b);
      rows.push_back({"sweep-" + mode, "sweep", mode, "all"});
    }
  // Per tensor (one weight scale per conv) at the same word lengths, both quantised.
  for (int b : bits) {
    const std::string mode = fmt::format("w{}a{}", b, b);
    rows.push_back({"sweep-pt-" + mode, "sweep", mode, "all", false});
  }
  // Fixed point: 8 and 16-bit words with a power-of-two scale (sign and integer bits . fraction bits).
  for (const char* mode : quick ? std::vector<const char*>{"q2.6"} : std::vector<const char*>{"q1.7", "q2.6", "q3.5", "q4.12", "q6.10"})
    rows.push_back({std::string("fixed-") + mode, "fixed", mode, "all"});
  // Sensitivity: only conv k quantised, weights and activations at b bits.
  for (int k = 1; k <= nconv; ++k)
    for (int b : quick ? std::vector<int>{4} : std::vector<int>{2, 3, 4, 5, 6, 7, 8})
      rows.push_back({fmt::format("sens-conv{}-w{}a{}", k, b, b), "sensitivity", fmt::format("w{}a{}", b, b), std::to_string(k)});
}

}  // namespace

// The post-training rows, then the training rows (float fine-tuning, QAT of the layer sets, the
// QAT word-length sweep), then the mixed precision.
std::vector<Row> plan(const json& m) {
  const int nconv = m.at("nconv").get<int>();
  const bool quick = m.at("quick").get<bool>();
  std::vector<Row> rows = {{"float", "float", "float", "all"}};
  for (const char* mode : {"dynamic-range", "float16", "int8", "int16x8"})
    for (const auto& s : subsets(nconv, quick))
      rows.push_back({fmt::format("ptq-{}-{}", mode, s), "ptq", mode, s});
  plan_bits(rows, nconv, quick);
  const json q = m.value("qat", json::object());
  if (q.value("enabled", false)) {
    // The float model fine-tuned by the same recipe: the curve QAT is compared with.
    rows.push_back({"finetune-float", "finetune", "float", "all"});
    const std::string mode = q.at("mode").get<std::string>();
    for (const auto& s : q.at("layers")) rows.push_back({fmt::format("qat-{}-{}", mode, s.get<std::string>()), "qat", mode, s});
    for (const auto& b : q.at("bits")) {
      const std::string bm = fmt::format("w{}a{}", b.get<int>(), b.get<int>());
      rows.push_back({"qat-sweep-" + bm, "qat-sweep", bm, "all"});
    }
  }
  if (m.value("mixed", false)) rows.push_back({"mixed", "mixed", "mixed", "all"});
  return rows;
}

std::vector<int> layers_of(const std::string& s) {
  std::vector<int> v;
  if (s == "all") return v;  // QuantRequest: empty = every conv
  for (char c : s) v.push_back(c - '1');
  return v;
}

std::string layer_list(const std::string& digits) {
  if (digits == "all") return digits;
  std::string s;
  for (char ch : digits) s += (s.empty() ? "" : ",") + std::string(1, ch);
  return s;
}

std::vector<std::string> parse_layer_sets(const std::string& s, int nconv) {
  std::vector<std::string> v;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');) {
    bool ok = !item.empty();
    if (item != "all")
      for (size_t i = 0; i < item.size(); ++i)
        ok &= item[i] >= '1' && item[i] < char('1' + nconv) && (i == 0 || item[i] > item[i - 1]);
    QSR_CHECK(ok, fmt::format("--qat-layers: '{}' is not a layer set (all, or conv numbers 1..{} in increasing order, e.g. 23)", item, nconv));
    v.push_back(item);
  }
  QSR_CHECK(!v.empty(), "--qat-layers: no layer set");
  return v;
}

std::vector<int> parse_word_lengths(const std::string& s) {
  std::vector<int> bits;
  if (s == "none") return bits;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');) {
    int v = 0;
    const auto res = std::from_chars(item.data(), item.data() + item.size(), v);
    QSR_CHECK(res.ec == std::errc() && res.ptr == item.data() + item.size() && v >= 2 && v <= 16,
              fmt::format("--qat-bits: '{}' is not a word length 2..16 (a list like 3,4,6, or none)", item));
    bits.push_back(v);
  }
  return bits;
}

std::pair<int, int> parse_shard(const std::string& s) {
  const auto slash = s.find('/');
  int i = 0, n = 0;
  try {
    QSR_CHECK(slash != std::string::npos, "");
    size_t p1 = 0, p2 = 0;
    i = std::stoi(s.substr(0, slash), &p1);
    n = std::stoi(s.substr(slash + 1), &p2);
    QSR_CHECK(p1 == slash && p2 == s.size() - slash - 1, "");
  } catch (const std::exception&) {
    throw Error("--shard " + s + ": expected i/N, e.g. 2/4");
  }
  QSR_CHECK(n >= 1 && i >= 1 && i <= n, "--shard " + s + ": expected 1 <= i <= N");
  return {i, n};
}

fs::path row_file(const std::string& out, const std::string& id) { return fs::path(out) / "rows" / (id + ".json"); }

}  // namespace qsr::study
