// The report of a study: README.md (the table, a written summary, the plots), results.csv and
// results.json, from the rows present in OUT/rows, in plan order (internal.h).
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <sstream>

#include "engine/fileio.h"
#include "quant/study/internal.h"

namespace qsr::study {

bool has_set5(const json& r) { return !r.contains("error") && r.contains("psnr") && r["psnr"].contains("set5"); }

double psnr_set5(const json& r) { return r["psnr"]["set5"].get<double>(); }

const json* shortest_sweep_within(const std::vector<json>& results, double float_psnr, double budget, int* bits) {
  const json* low = nullptr;
  int lowest = 0;
  for (const auto& r : results) {
    int w = 0, a = 0;
    if (has_set5(r) && r.value("kind", "") == "sweep" && r.value("per_channel", true) &&
        std::sscanf(r.value("mode", "").c_str(), "w%da%d", &w, &a) == 2 && w == a && float_psnr - psnr_set5(r) <= budget &&
        (!low || w < lowest))
      low = &r, lowest = w;
  }
  if (bits) *bits = lowest;
  return low;
}

namespace {

std::string fmt_num(const json& j, const char* key, const std::string& set, int prec) {
  if (!j.contains(key) || !j[key].contains(set)) return "-";
  return fmt::format("{:.{}f}", j[key][set].get<double>(), prec);
}

// r[k] in the format f, or "-".
std::string field(const json& r, const char* k, const char* f) {
  return r.contains(k) && r[k].is_number() ? fmt::format(fmt::runtime(f), r[k].get<double>()) : std::string("-");
}

json read_manifest(const std::string& out) {
  const fs::path mf = fs::path(out) / "study.json";
  QSR_CHECK(fs::exists(mf), out + ": no study.json (not a qsr study folder)");
  std::optional<json> m = try_read_json(mf);
  if (!m) throw Error(mf.string() + ": not valid JSON");
  return *m;
}

// The rows present in out/rows, in plan order (a file that does not parse is left out, with a note).
std::vector<json> read_rows(const std::string& out, const std::vector<Row>& rows, int& failed) {
  std::vector<json> results;
  for (const Row& row : rows) {
    const fs::path file = row_file(out, row.id);
    if (!fs::exists(file)) continue;
    std::optional<json> j = try_read_json(file);
    if (!j) {
      fmt::print(stderr, "study: {}: not valid JSON, left out of the report (delete it to run the row again)\n", file.string());
      continue;
    }
    failed += j->contains("error");
    results.push_back(std::move(*j));
  }
  return results;
}

void write_intro(std::ostream& md, const json& m, size_t present, size_t planned) {
  md << "# qsr study\n\nModel: `" << m.value("model", "") << "`; data: `" << m.value("data", "") << "`"
     << (m.value("quick", false) ? " (--quick)" : "") << "; calibration: " << m.value("calibration_images", 0)
     << " BSDS500 training images; weight rounding: " << m.value("weight_rounding", "")
     << ". PSNR in dB (set5/set14/bsds_y: `y` protocol, bsds_y = every BSDS500 test image; bsds_keras: the Keras example's "
     << "BSDS500 test[50:60]); drop = float - row on Set5; frame: the median time of one " << m.value("frame", "")
     << " low-res frame on the engine the row runs on; example: the same for the Keras example's test image "
     << m.value("example", "") << "; s: seconds to quantise, calibrate, train or search. " << present << " of "
     << planned << " rows present. Rows: `ptq-<mode>-<convs>` post-training quantisation of those convs (`all`: every one), "
     << "`sweep-<mode>` word lengths per channel (`sweep-pt-`: per tensor), `fixed-qM.N` fixed point, "
     << "`sens-convK-wBaB` only conv K at B bits, `finetune-float` the float model fine-tuned by the QAT recipe, "
     << "`qat-<mode>-<convs>` quantisation-aware training of those convs, `qat-sweep-<mode>` QAT of the whole model, "
     << "`mixed` the automatic mixed precision (docs/STUDY.md).\n\n";
}

// The table of the rows: in README.md (Markdown) and results.csv.
void write_table(std::ostream& md, std::ostream& csv, const std::vector<std::string>& names, const std::vector<json>& results,
                 const json* base) {
  md << "| row | mode | layers |";
  csv << "id,kind,mode,layers,per_channel";
  for (const auto& n : names) md << " PSNR " << n << " |", csv << ",psnr_" << n << ",ssim_" << n;
  md << " drop Set5 | frame ms | example ms | weight bytes | packed bytes | s |\n|---|---|---|";
  csv << ",drop_set5,frame_ms,example_ms,weight_bytes,weight_packed_bytes,prepare_s,train_s,error\n";
  for (size_t i = 0; i < names.size(); ++i) md << "---:|";
  md << "---:|---:|---:|---:|---:|---:|\n";
  for (const auto& r : results) {
    md << "| " << r.value("id", "") << " | " << r.value("mode", "") << " | " << r.value("layers", "") << " |";
    csv << r.value("id", "") << "," << r.value("kind", "") << "," << r.value("mode", "") << "," << r.value("layers", "")
        << "," << (r.value("per_channel", true) ? "true" : "false");
    for (const auto& n : names) {
      md << " " << fmt_num(r, "psnr", n, 4) << " |";
      csv << "," << fmt_num(r, "psnr", n, 4) << "," << fmt_num(r, "ssim", n, 4);
    }
    std::string drop = "-";
    if (base && r.contains("psnr") && r["psnr"].contains("set5")) drop = fmt::format("{:.4f}", psnr_set5(*base) - psnr_set5(r));
    const std::string ms = field(r, "frame_ms", "{:.2f}"), ex = field(r, "example_ms", "{:.2f}");
    const std::string bytes = r.contains("weight_bytes") ? std::to_string(r["weight_bytes"].get<int64_t>()) : "-";
    const std::string packed =
        r.contains("weight_packed_bytes") ? std::to_string(r["weight_packed_bytes"].get<int64_t>()) : "-";
    const double sec = r.value("prepare_s", 0.0) + r.value("train_s", 0.0) + r.value("search_s", 0.0);
    md << " " << (r.contains("error") ? "failed: " + r["error"].get<std::string>() : drop) << " | " << ms << " | " << ex << " | "
       << bytes << " | " << packed << " | " << fmt::format("{:.1f}", sec) << " |\n";
    csv << "," << drop << "," << ms << "," << ex << "," << bytes << "," << packed << "," << field(r, "prepare_s", "{:.2f}") << ","
        << field(r, "train_s", "{:.2f}") << ",\"" << (r.contains("error") ? r["error"].get<std::string>() : "") << "\"\n";
  }
}

// What the written summary looks at: the rows (by id too), the float row, the budget.
struct Summary {
  const std::vector<json>& results;
  std::map<std::string, const json*> by_id;
  double bp = 0, bms = 0, budget = 0;  // float: Set5 PSNR, frame ms

  bool ok(const std::string& id) const { return by_id.count(id) && has_set5(*by_id.at(id)); }
  std::string desc(const json& r) const {
    return fmt::format("`{}` ({} of convs {}): {:.4f} dB ({:+.4f}), {:.1f} ms ({:.2f}x faster than float)", r["id"].get<std::string>(),
                       r["mode"].get<std::string>(), r["layers"].get<std::string>(), psnr_set5(r), psnr_set5(r) - bp,
                       r["frame_ms"].get<double>(), bms / r["frame_ms"].get<double>());
  }
};

// The fastest rows, overall and within the budget: post-training only, and with QAT and mixed precision.
void summary_fastest(std::ostream& md, const Summary& s) {
  for (const bool trained : {false, true}) {
    const json* fastest = nullptr;
    const json* fastest_ok = nullptr;
    for (const auto& r : s.results) {
      const std::string k = r.value("kind", "");
      if (!has_set5(r) || !r.contains("frame_ms") || !(k == "ptq" || (trained && (k == "qat" || k == "mixed")))) continue;
      if (!fastest || r["frame_ms"] < (*fastest)["frame_ms"]) fastest = &r;
      if (s.bp - psnr_set5(r) <= s.budget && (!fastest_ok || r["frame_ms"] < (*fastest_ok)["frame_ms"])) fastest_ok = &r;
    }
    const std::string what = trained ? "row of all (post-training, QAT, mixed precision)" : "post-training row";
    if (fastest) md << "* Fastest " << what << ": " << s.desc(*fastest) << ".\n";
    if (fastest_ok)
      md << "* Fastest " << what << " within " << s.budget << " dB of float: " << s.desc(*fastest_ok)
         << (trained ? ". This is the report's answer to which layers to quantise for the best time/accuracy balance.\n" : ".\n");
  }
}

// The contenders: every row within the budget, fastest first (frame times are medians on the
// machine as it was while the row ran: a few per cent apart is a tie).
void summary_within(std::ostream& md, const Summary& s) {
  std::vector<const json*> within;
  for (const auto& r : s.results) {
    const std::string k = r.value("kind", "");
    if (has_set5(r) && r.contains("frame_ms") && (k == "ptq" || k == "qat" || k == "mixed") && s.bp - psnr_set5(r) <= s.budget)
      within.push_back(&r);
  }
  std::sort(within.begin(), within.end(), [](const json* x, const json* y) { return (*x)["frame_ms"] < (*y)["frame_ms"]; });
  if (within.empty()) return;
  md << "\nThe fastest rows within " << s.budget << " dB of float (of " << within.size()
     << "; frame times are medians of single runs on a shared machine, so rows a few per cent apart are ties):\n\n"
        "| row | mode | convs | Set5 drop | frame ms | x float | packed bytes |\n|---|---|---|---:|---:|---:|---:|\n";
  for (size_t i = 0; i < std::min<size_t>(within.size(), 8); ++i) {
    const json& r = *within[i];
    md << fmt::format("| `{}` | {} | {} | {:.4f} | {:.1f} | {:.2f} | {} |\n", r["id"].get<std::string>(), r["mode"].get<std::string>(),
                      r["layers"].get<std::string>(), s.bp - psnr_set5(r), r["frame_ms"].get<double>(), s.bms / r["frame_ms"].get<double>(),
                      r.value("weight_packed_bytes", int64_t(0)));
  }
  md << "\n";
}

// The shortest uniform word length within the budget and the automatic mixed precision.
void summary_bits(std::ostream& md, const Summary& s) {
  int lowest = 0;
  shortest_sweep_within(s.results, s.bp, s.budget, &lowest);
  if (lowest) md << "* The shortest word length (weights and activations, per channel) within " << s.budget << " dB: " << lowest << " bits.\n";
  if (!s.ok("mixed")) return;
  const json& x = *s.by_id.at("mixed");
  md << fmt::format("* Automatic mixed precision within {} dB: `{}` (weights of conv1..conv{} at {} bits; activations a0..a{} at {} bits), "
                    "{:.4f} dB ({:+.4f}), {} packed weight bytes",
                    s.budget, x["mode"].get<std::string>(), x["allocation"]["weights"].size(), x["allocation"]["weights"].dump(),
                    x["allocation"]["weights"].size(), x["allocation"]["activations"].dump(), psnr_set5(x), psnr_set5(x) - s.bp,
                    x["weight_packed_bytes"].get<int64_t>());
  if (s.ok("ptq-int8-all"))
    md << fmt::format(" ({:.2f}x int8's)", x["weight_packed_bytes"].get<double>() / (*s.by_id.at("ptq-int8-all"))["weight_packed_bytes"].get<double>());
  md << fmt::format(", {:.1f} ms per frame ({:.2f}x faster than float); found in {} evaluations (the shortest uniform word length within the budget: {} bits).\n",
                    x["frame_ms"].get<double>(), s.bms / x["frame_ms"].get<double>(), x.value("evaluations", 0), x.value("uniform_bits", 0));
}

void summary_sensitivity(std::ostream& md, const Summary& s) {
  std::map<std::string, double> s4;
  constexpr int sb = 4;  // (every study, --quick too, has the 4-bit sensitivity rows)
  for (const auto& r : s.results)
    if (has_set5(r) && r.value("kind", "") == "sensitivity" && r.value("mode", "") == fmt::format("w{}a{}", sb, sb))
      s4["conv" + r.value("layers", "")] = s.bp - psnr_set5(r);
  if (s4.empty()) return;
  std::vector<std::pair<double, std::string>> v;
  for (const auto& [k, d] : s4) v.push_back({-d, k});
  std::sort(v.begin(), v.end());
  md << "* Sensitivity at " << sb << " bits (only that conv quantised), most sensitive first:";
  for (const auto& [d, k] : v) md << fmt::format(" {} {:.2f} dB", k, -d) << (k == v.back().second ? ".\n" : ",");
}

// QAT against post-training quantisation of the same mode and convs (QAT's starting point).
void summary_qat(std::ostream& md, const Summary& s, const json& m) {
  std::string qt;
  for (const auto& r : s.results) {
    const std::string k = r.value("kind", "");
    if (!has_set5(r) || (k != "qat" && k != "qat-sweep")) continue;
    const std::string ptq = "ptq-" + r["mode"].get<std::string>() + "-" + r["layers"].get<std::string>();
    const std::string twin = k == "qat-sweep" || !s.by_id.count(ptq) ? "sweep-" + r["mode"].get<std::string>() : ptq;
    if (!s.ok(twin) || (r["layers"] != "all" && twin.rfind("sweep-", 0) == 0)) continue;
    const json& t = *s.by_id.at(twin);
    qt += fmt::format("| `{}` | {:.4f} | {:.4f} | {:+.4f} | {:.1f} |\n", r["id"].get<std::string>(), psnr_set5(t), psnr_set5(r),
                      psnr_set5(r) - psnr_set5(t), r.value("train_s", 0.0));
  }
  if (qt.empty()) return;
  const json& q = m.at("qat");
  md << fmt::format("\n### QAT against post-training quantisation\n\nEach QAT row starts from the post-training row of the same mode "
                    "and convs (its rounded weights, its calibrated activation grids, kept frozen) and trains {} epochs x {} steps "
                    "of batch {} ({}x{} crops of BSDS500 train, flips), Adam with a cosine learning rate {:.3g} -> {:.3g} "
                    "(the sweep's rows: {:.3g} -> {:.3g}){}; the epoch kept is the one with the best BSDS500 val PSNR. Set5 PSNR:\n\n"
                    "| row | post-training | QAT | gain | training s |\n|---|---:|---:|---:|---:|\n",
                    q.value("epochs", 0), q.value("steps", 0), q.value("batch", 0), q.value("crop", 0), q.value("crop", 0),
                    q.value("lr", 0.0), q.value("lr", 0.0) / 100, q.value("sweep_lr", 0.0), q.value("sweep_lr", 0.0) / 100,
                    q.value("learn_scale", false) ? ", learnt activation scales (LSQ)" : "")
     << qt;
}

// A written summary of what the rows show (Set5, the `y` protocol), against the budget.
void write_summary(std::ostream& md, const json& m, const std::vector<json>& results, const json& base) {
  Summary s{results, {}, psnr_set5(base), base.value("frame_ms", 0.0), m.value("budget_db", 0.1)};
  for (const auto& r : results) s.by_id[r.value("id", "")] = &r;
  md << "\n## Summary\n\n* Float: " << fmt::format("{:.4f}", s.bp) << " dB on Set5, " << fmt::format("{:.1f}", s.bms)
     << " ms per frame.\n";
  summary_fastest(md, s);
  summary_within(md, s);
  summary_bits(md, s);
  summary_sensitivity(md, s);
  summary_qat(md, s, m);
}

}  // namespace

// The report of the rows present in out/rows, in plan order: README.md, results.csv and
// results.json. The study's settings come from out/study.json. With a context (the model and
// data at hand), also the visual comparison.
int write_report(const std::string& out, Ctx* c) {
  const json m = read_manifest(out);
  const std::vector<Row> rows = plan(m);
  int failed = 0;
  const std::vector<json> results = read_rows(out, rows, failed);
  const json* base = nullptr;
  for (const auto& r : results)
    if (r.value("id", "") == "float") base = r.contains("error") ? nullptr : &r;
  const std::vector<std::string> names = m.at("sets").get<std::vector<std::string>>();
  std::ostringstream md, csv;
  write_intro(md, m, results.size(), rows.size());
  write_table(md, csv, names, results, base);
  if (base) write_summary(md, m, results, *base);
  const std::vector<std::string> plots = draw_plots(out, results);
  std::string comparison;
  if (c) comparison = draw_comparison(out, *c, results, m.value("budget_db", 0.1));
  if (!plots.empty() || !comparison.empty()) {
    md << "\n## Plots\n\n";
    for (const auto& p : plots) md << "![" << p << "](" << p << ")\n\n";
    if (!comparison.empty()) md << "![plots/comparison.png](plots/comparison.png)\n\n" << comparison << "\n";
  }
  write_file_atomic((fs::path(out) / "README.md").string(), md.str());
  write_file_atomic((fs::path(out) / "results.csv").string(), csv.str());
  json all = m;
  all["rows"] = results;
  write_file_atomic((fs::path(out) / "results.json").string(), all.dump(1) + "\n");
  fmt::print("{}\nwrote {}/README.md, results.csv, results.json ({} of {} rows, {} failed)\n", md.str(), out,
             results.size(), rows.size(), failed);
  return failed;
}

}  // namespace qsr::study
