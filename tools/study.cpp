// `qsr study`: the post-training part of the comparison the project reproduces (study.h).
#include "tools/study.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/fileio.h"
#include "engine/random.h"
#include "models/checkpoint.h"
#include "models/evaluate.h"
#include "models/upscale.h"
#include "quant/gptq.h"
#include "quant/int_engine.h"
#include "quant/qmodel.h"

namespace qsr::cli {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

struct Row {
  std::string id, kind, mode, layers;  // layers: "all" or conv numbers, e.g. "13"
  bool per_channel = true;
};

// Layer subsets as conv numbers: every non-empty subset of n convs, the whole model ("all") first.
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

std::vector<Row> plan(int nconv, bool quick) {
  std::vector<Row> rows = {{"float", "float", "float", "all"}};
  for (const char* mode : {"dynamic-range", "float16", "int8", "int16x8"})
    for (const auto& s : subsets(nconv, quick))
      rows.push_back({fmt::format("ptq-{}-{}", mode, s), "ptq", mode, s});
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
  return rows;
}

std::vector<int> layers_of(const std::string& s) {
  std::vector<int> v;
  if (s == "all") return v;  // QuantRequest: empty = every conv
  for (char c : s) v.push_back(c - '1');
  return v;
}

// The evaluation sets: name, folder, protocol.
struct EvalSet {
  std::string name, dir;
  EvalProtocol protocol;
};

// Median forward time of a frame of `size` (WxH) on `net`.
double frame_ms(const Network& net, int w, int h, int runs) {
  Rng r(7);
  Tensor x({1, h, w, net.cfg.channels});
  for (int64_t i = 0; i < x.numel(); ++i) x.f32()[i] = r.uniform(0.f, 1.f);
  net.forward(x);  // warm-up
  std::vector<double> t;
  for (int i = 0; i < runs; ++i) {
    const auto t0 = Clock::now();
    net.forward(x);
    t.push_back(since(t0) * 1e3);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

json run_row(const Row& row, Espcn& fmodel, const std::vector<Tensor>& calib, const std::vector<EvalSet>& sets,
             const StudyArgs& a, int fw, int fh) {
  json j = {{"id", row.id}, {"kind", row.kind}, {"mode", row.mode}, {"layers", row.layers}, {"per_channel", row.per_channel}};
  const auto t0 = Clock::now();
  Network net;
  std::shared_ptr<quant::QuantModel> q;
  std::shared_ptr<quant::IntEngine> engine;
  if (row.kind == "float") {
    net = network_of(fmodel);
    int64_t params = 0;
    for (auto& c : fmodel.convs) params += c->weight.value().numel() + c->bias.value().numel();
    j["weight_bytes"] = params * 4;
    j["weight_packed_bytes"] = params * 4;
    j["engine"] = "f32";
  } else {
    quant::QuantRequest req;
    req.mode = row.mode;
    req.layers = layers_of(row.layers);
    req.per_channel = row.per_channel;
    q = std::make_shared<quant::QuantModel>(fmodel, req);
    if (q->needs_calibration()) q->calibrate(calib);
    bool integer_weights = false;
    for (const auto& w : q->weights) integer_weights |= w.kind == quant::WeightKind::integer;
    if (a.weight_rounding == "gptq" && integer_weights) quant::gptq_round(*q, calib);
    engine = std::make_shared<quant::IntEngine>(*q);
    net.cfg = q->cfg;
    net.tile_invariant = q->tile_invariant();
    net.forward = [engine](const Tensor& x) { return engine->forward(x); };
    j["weight_bytes"] = q->stored_bytes();
    j["weight_packed_bytes"] = (q->packed_bits() + 7) / 8;
    j["engine"] = "integer (" + std::string(engine->kernels().name) + ")";
  }
  j["prepare_s"] = since(t0);
  Upscaler up = [&](const Tensor& x) { return upscale_tensor(net, x, 0); };
  for (const auto& s : sets) {
    EvalOptions eo;
    eo.protocol = s.protocol;
    eo.scale = net.cfg.scale;
    const EvalResult r = evaluate(s.dir, eo, up);
    j["psnr"][s.name] = r.mean_psnr_model;
    j["ssim"][s.name] = r.mean_ssim_model;
    j["psnr_bicubic"][s.name] = r.mean_psnr_bicubic;
    j["images"][s.name] = r.images.size();
  }
  j["frame"] = fmt::format("{}x{}", fw, fh);
  j["frame_ms"] = frame_ms(net, fw, fh, a.quick ? 3 : 5);
  return j;
}

std::string fmt_num(const json& j, const char* key, const std::string& set, int prec) {
  if (!j.contains(key) || !j[key].contains(set)) return "-";
  return fmt::format("{:.{}f}", j[key][set].get<double>(), prec);
}

}  // namespace

namespace {

// The plots of a report (gnuplot, PNG, each written as .tmp and renamed): PSNR on Set5
// against word length, PSNR against frame time with the Pareto front labelled, and the
// sensitivity heatmap. Returns the names of the plots made; without gnuplot, none (and a note).
std::vector<std::string> draw_plots(const std::string& out, const std::vector<json>& results) {
  if (std::system("command -v gnuplot > /dev/null 2>&1") != 0) {
    fmt::print(stderr, "note: gnuplot is not installed (Debian: gnuplot-nox); the report has no plots\n");
    return {};
  }
  const fs::path dir = fs::path(out) / "plots";
  fs::create_directories(dir);
  auto psnr = [](const json& r) { return r.contains("psnr") && r["psnr"].contains("set5") ? r["psnr"]["set5"].get<double>() : NAN; };
  // Data files: sweep.dat (bits, wNaN, wN, aN, per-tensor wNaN), ptq.dat (ms, psnr, id), front.dat, sens.dat (k, b, drop).
  std::map<int, std::array<double, 4>> sweep;
  double base = NAN;
  std::vector<std::tuple<double, double, std::string>> pts;
  std::vector<std::tuple<int, int, double>> sens;
  for (const auto& r : results) {
    if (r.contains("error")) continue;
    const std::string id = r.value("id", ""), mode = r.value("mode", ""), kind = r.value("kind", "");
    if (id == "float") base = psnr(r);
    int w = 0, a = 0;
    const bool wa = std::sscanf(mode.c_str(), "w%da%d", &w, &a) == 2, wo = !wa && std::sscanf(mode.c_str(), "w%d", &w) == 1,
               ao = !wa && !wo && std::sscanf(mode.c_str(), "a%d", &a) == 1;
    if (kind == "sweep") {
      auto& e = sweep.try_emplace(wa ? w : wo ? w : a, std::array<double, 4>{NAN, NAN, NAN, NAN}).first->second;
      if (wa && r.value("per_channel", true)) e[0] = psnr(r);
      else if (wa) e[3] = psnr(r);
      else if (wo) e[1] = psnr(r);
      else if (ao) e[2] = psnr(r);
    }
    if ((kind == "ptq" || kind == "float") && r.contains("frame_ms")) pts.emplace_back(r["frame_ms"].get<double>(), psnr(r), id);
    if (kind == "sensitivity" && wa) sens.emplace_back(std::stoi(r.value("layers", "0")), w, psnr(r));
  }
  std::vector<std::string> made;
  auto run = [&](const std::string& name, const std::string& script) {
    const std::string gp = (dir / (name + ".gp")).string(), png = (dir / (name + ".png")).string();
    write_file_atomic(gp, "set terminal pngcairo size 900,540 noenhanced\nset output '" + png + ".tmp'\nset grid\n" + script);
    const std::string cmd = "gnuplot '" + gp + "' > '" + (dir / "gnuplot.log").string() + "' 2>&1";
    if (std::system(cmd.c_str()) == 0) {
      fs::rename(png + ".tmp", png);
      made.push_back("plots/" + name + ".png");
    } else {
      fmt::print(stderr, "note: gnuplot failed on {} (see {}/gnuplot.log)\n", gp, dir.string());
    }
  };
  auto num = [](double v) { return std::isnan(v) ? std::string("NaN") : fmt::format("{:.4f}", v); };
  if (!sweep.empty()) {
    std::string d = "# bits wNaN wN aN wNaN_per_tensor\n";
    for (const auto& [b, e] : sweep) d += fmt::format("{} {} {} {} {}\n", b, num(e[0]), num(e[1]), num(e[2]), num(e[3]));
    write_file_atomic((dir / "sweep.dat").string(), d);
    const std::string f = (dir / "sweep.dat").string();
    run("psnr_vs_bits", "set xlabel 'word length (bits)'\nset ylabel 'PSNR Set5 (dB)'\nset key bottom right\nset yrange [*:*]\n" +
                            (std::isnan(base) ? std::string() : fmt::format("set arrow from graph 0, first {0} to graph 1, first {0} nohead dt 2\n", base)) +
                            "plot '" + f + "' u 1:2 w lp lw 2 t 'weights and activations', '' u 1:3 w lp t 'weights only', "
                            "'' u 1:4 w lp t 'activations only', '' u 1:5 w lp dt 3 t 'both, per tensor'\n");
  }
  if (!pts.empty()) {
    std::sort(pts.begin(), pts.end());
    std::string d = "# ms psnr id\n", fr = "# Pareto front: no faster row scores higher\n";
    double best = -INFINITY;
    for (const auto& [ms, p, id] : pts) {
      d += fmt::format("{:.3f} {} {}\n", ms, num(p), id);
      if (p > best) best = p, fr += fmt::format("{:.3f} {} {}\n", ms, num(p), id);
    }
    write_file_atomic((dir / "ptq.dat").string(), d);
    write_file_atomic((dir / "front.dat").string(), fr);
    run("psnr_vs_time", "set xlabel 'frame time (ms)'\nset ylabel 'PSNR Set5 (dB)'\nset key bottom right\nplot '" +
                            (dir / "ptq.dat").string() + "' u 1:2 w p pt 7 ps 0.6 t 'rows', '" + (dir / "front.dat").string() +
                            "' u 1:2 w lp lw 2 t 'Pareto front', '' u 1:2:3 w labels left offset 0.5,0.5 font ',8' notitle\n");
  }
  if (!sens.empty() && !std::isnan(base)) {
    std::string d = "# conv bits drop\n";
    int last = -1;
    for (const auto& [k, b, p] : sens) {
      if (last != -1 && k != last) d += "\n";
      d += fmt::format("{} {} {}\n", k, b, num(base - p));
      last = k;
    }
    write_file_atomic((dir / "sens.dat").string(), d);
    run("sensitivity", "set xlabel 'conv'\nset ylabel 'bits (weights and activations)'\nset cblabel 'PSNR drop on Set5 (dB)'\n"
                       "set logscale cb\nset view map\nset xtics 1\nplot '" + (dir / "sens.dat").string() +
                       "' u 1:2:3 w image notitle, '' u 1:2:(sprintf('%.2f', $3)) w labels notitle\n");
  }
  return made;
}

// The report of the rows present in out/rows, in plan order: README.md, results.csv and
// results.json. The study's settings come from out/study.json.
int write_report(const std::string& out) {
  const fs::path mf = fs::path(out) / "study.json";
  QSR_CHECK(fs::exists(mf), out + ": no study.json (not a qsr study folder)");
  json m;
  {
    std::ifstream in(mf);
    try {
      m = json::parse(in);
    } catch (const json::exception&) {
      throw Error(mf.string() + ": not valid JSON");
    }
  }
  const std::vector<Row> rows = plan(m.at("nconv").get<int>(), m.at("quick").get<bool>());
  std::vector<json> results;
  int failed = 0;
  for (const Row& row : rows) {
    const fs::path file = fs::path(out) / "rows" / (row.id + ".json");
    if (!fs::exists(file)) continue;
    std::ifstream in(file);
    try {
      json j = json::parse(in);
      failed += j.contains("error");
      results.push_back(std::move(j));
    } catch (const json::exception&) {
      fmt::print(stderr, "study: {}: not valid JSON, left out of the report (delete it to run the row again)\n", file.string());
    }
  }
  const json* base = nullptr;
  for (const auto& r : results)
    if (r.value("id", "") == "float" && !r.contains("error")) base = &r;
  const std::vector<std::string> names = m.at("sets").get<std::vector<std::string>>();
  std::ostringstream md, csv;
  md << "# qsr study\n\nModel: `" << m.value("model", "") << "`; data: `" << m.value("data", "") << "`"
     << (m.value("quick", false) ? " (--quick)" : "") << "; calibration: " << m.value("calibration_images", 0)
     << " BSDS500 training images; weight rounding: " << m.value("weight_rounding", "")
     << ". PSNR in dB (set5/set14: `y` protocol; bsds_keras: the Keras example's BSDS500 test[50:60]); "
     << "drop = float - row on Set5; frame: the median time of one " << m.value("frame", "")
     << " low-res frame on the engine the row runs on. " << results.size() << " of " << rows.size()
     << " rows present. Rows: `ptq-<mode>-<convs>` post-training quantisation of those convs (`all`: every one), "
     << "`sweep-<mode>` word lengths per channel (`sweep-pt-`: per tensor), `fixed-qM.N` fixed point, "
     << "`sens-convK-wBaB` only conv K at B bits (docs/STUDY.md).\n\n| row | mode | layers |";
  csv << "id,kind,mode,layers,per_channel";
  for (const auto& n : names) md << " PSNR " << n << " |", csv << ",psnr_" << n << ",ssim_" << n;
  md << " drop Set5 | frame ms | weight bytes | packed bytes |\n|---|---|---|";
  csv << ",drop_set5,frame_ms,weight_bytes,weight_packed_bytes,prepare_s,error\n";
  for (size_t i = 0; i < names.size(); ++i) md << "---:|";
  md << "---:|---:|---:|---:|\n";
  for (const auto& r : results) {
    md << "| " << r.value("id", "") << " | " << r.value("mode", "") << " | " << r.value("layers", "") << " |";
    csv << r.value("id", "") << "," << r.value("kind", "") << "," << r.value("mode", "") << "," << r.value("layers", "")
        << "," << (r.value("per_channel", true) ? "true" : "false");
    for (const auto& n : names) {
      md << " " << fmt_num(r, "psnr", n, 4) << " |";
      csv << "," << fmt_num(r, "psnr", n, 4) << "," << fmt_num(r, "ssim", n, 4);
    }
    std::string drop = "-";
    if (base && r.contains("psnr") && r["psnr"].contains("set5"))
      drop = fmt::format("{:.4f}", (*base)["psnr"]["set5"].get<double>() - r["psnr"]["set5"].get<double>());
    const std::string ms = r.contains("frame_ms") ? fmt::format("{:.2f}", r["frame_ms"].get<double>()) : "-";
    const std::string bytes = r.contains("weight_bytes") ? std::to_string(r["weight_bytes"].get<int64_t>()) : "-";
    const std::string packed =
        r.contains("weight_packed_bytes") ? std::to_string(r["weight_packed_bytes"].get<int64_t>()) : "-";
    const std::string prep = r.contains("prepare_s") ? fmt::format("{:.2f}", r["prepare_s"].get<double>()) : "-";
    md << " " << (r.contains("error") ? "failed: " + r["error"].get<std::string>() : drop) << " | " << ms << " | " << bytes
       << " | " << packed << " |\n";
    csv << "," << drop << "," << ms << "," << bytes << "," << packed << "," << prep << ",\""
        << (r.contains("error") ? r["error"].get<std::string>() : "") << "\"\n";
  }
  // A written summary of what the rows show (Set5, the `y` protocol), against the budget.
  if (base) {
    const double bp = (*base)["psnr"]["set5"].get<double>(), bms = base->value("frame_ms", 0.0);
    const double budget = m.value("budget_db", 0.1);
    auto p5 = [](const json& r) { return r["psnr"]["set5"].get<double>(); };
    auto ok = [](const json& r) { return !r.contains("error") && r.contains("psnr") && r["psnr"].contains("set5"); };
    md << "\n## Summary\n\n* Float: " << fmt::format("{:.4f}", bp) << " dB on Set5, " << fmt::format("{:.1f}", bms)
       << " ms per frame.\n";
    const json* fastest = nullptr;
    const json* fastest_ok = nullptr;
    for (const auto& r : results) {
      if (!ok(r) || r.value("kind", "") != "ptq" || !r.contains("frame_ms")) continue;
      if (!fastest || r["frame_ms"] < (*fastest)["frame_ms"]) fastest = &r;
      if (bp - p5(r) <= budget && (!fastest_ok || r["frame_ms"] < (*fastest_ok)["frame_ms"])) fastest_ok = &r;
    }
    auto desc = [&](const json* r) {
      return fmt::format("`{}` ({} of convs {}): {:.4f} dB ({:+.4f}), {:.1f} ms ({:.2f}x faster than float)", (*r)["id"].get<std::string>(),
                         (*r)["mode"].get<std::string>(), (*r)["layers"].get<std::string>(), p5(*r), p5(*r) - bp,
                         (*r)["frame_ms"].get<double>(), bms / (*r)["frame_ms"].get<double>());
    };
    if (fastest) md << "* Fastest post-training row: " << desc(fastest) << ".\n";
    if (fastest_ok)
      md << "* Fastest post-training row within " << budget << " dB of float: " << desc(fastest_ok)
         << ". This is the report's answer to which layers to quantise for the best time/accuracy balance.\n";
    int lowest = 0;
    for (const auto& r : results) {
      int w = 0, a = 0;
      if (ok(r) && r.value("kind", "") == "sweep" && r.value("per_channel", true) &&
          std::sscanf(r.value("mode", "").c_str(), "w%da%d", &w, &a) == 2 && w == a && bp - p5(r) <= budget && (!lowest || w < lowest))
        lowest = w;
    }
    if (lowest) md << "* The shortest word length (weights and activations, per channel) within " << budget << " dB: " << lowest << " bits.\n";
    std::map<std::string, double> s4;
    constexpr int sb = 4;  // (every study, --quick too, has the 4-bit sensitivity rows)
    for (const auto& r : results)
      if (ok(r) && r.value("kind", "") == "sensitivity" && r.value("mode", "") == fmt::format("w{}a{}", sb, sb))
        s4["conv" + r.value("layers", "")] = bp - p5(r);
    if (!s4.empty()) {
      std::vector<std::pair<double, std::string>> v;
      for (const auto& [k, d] : s4) v.push_back({-d, k});
      std::sort(v.begin(), v.end());
      md << "* Sensitivity at " << sb << " bits (only that conv quantised), most sensitive first:";
      for (const auto& [d, k] : v) md << fmt::format(" {} {:.2f} dB", k, -d) << (k == v.back().second ? ".\n" : ",");
    }
  }
  const std::vector<std::string> plots = draw_plots(out, results);
  if (!plots.empty()) {
    md << "\n## Plots\n\n";
    for (const auto& p : plots) md << "![" << p << "](" << p << ")\n\n";
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

// "i/N" -> (i, N), 1 <= i <= N.
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

}  // namespace

int cmd_study(const StudyArgs& a) {
  QSR_CHECK(a.weight_rounding == "nearest" || a.weight_rounding == "gptq",
            "--weight-rounding must be nearest or gptq, got '" + a.weight_rounding + "'");
  const auto [shard, nshards] = a.shard.empty() ? std::pair<int, int>{1, 1} : parse_shard(a.shard);
  QSR_CHECK(fs::is_directory(a.data), "--data " + a.data + ": not a folder (it should hold Set5/, Set14/ and BSDS500/)");
  std::vector<EvalSet> sets;
  auto need = [&](const std::string& sub) {
    const fs::path p = fs::path(a.data) / sub;
    QSR_CHECK(fs::is_directory(p), fmt::format("--data {}: no {}/ (expected Set5/, Set14/ and BSDS500/, as ../shared/data)",
                                               a.data, sub));
    return p.string();
  };
  sets.push_back({"set5", need("Set5"), EvalProtocol::y});
  const std::string bsds = need("BSDS500");
  if (!a.quick) {
    sets.push_back({"set14", need("Set14"), EvalProtocol::y});
    sets.push_back({"bsds_keras", bsds, EvalProtocol::keras});
  }
  Checkpoint raw;
  auto fmodel = load_model(a.from, &raw);
  const int nconv = int(fmodel->convs.size());
  const int fw = a.quick ? 100 : 640, fh = a.quick ? 100 : 360;
  // The study's settings: a rerun or a merge must be the same study.
  json manifest = {{"model", a.from},     {"data", a.data},       {"quick", a.quick},  {"budget_db", a.budget_db},
                   {"weight_rounding", a.weight_rounding},         {"calibration_images", a.calib_images},
                   {"nconv", nconv},      {"frame", fmt::format("{}x{}", fw, fh)}};
  std::vector<std::string> names;
  for (const auto& s : sets) names.push_back(s.name);
  manifest["sets"] = names;
  const fs::path mf = fs::path(a.out) / "study.json";
  fs::create_directories(fs::path(a.out) / "rows");
  if (fs::exists(mf)) {
    std::ifstream in(mf);
    json old;
    try {
      old = json::parse(in);
    } catch (const json::exception&) {
    }
    for (const char* k : {"model", "quick", "weight_rounding", "calibration_images", "nconv", "sets", "frame"})
      QSR_CHECK(old.contains(k) && old[k] == manifest[k],
                fmt::format("{} holds a study with other settings ({} differs); use another --out", a.out, k));
  }
  write_file_atomic(mf.string(), manifest.dump(1) + "\n");  // (the same study; --budget may be new)
  const auto t_calib = Clock::now();
  const std::vector<Tensor> calib = quant::calibration_inputs(bsds, fmodel->config().scale, a.calib_images);
  fmt::print(stderr, "study: {} calibration images of {} in {:.1f}s\n", calib.size(), bsds, since(t_calib));

  const std::vector<Row> rows = plan(nconv, a.quick);
  std::vector<size_t> mine;  // this shard's rows: every nshards-th from shard - 1
  for (size_t i = size_t(shard - 1); i < rows.size(); i += size_t(nshards)) mine.push_back(i);
  int done = 0, failed = 0, kept = 0;
  const auto t_all = Clock::now();
  for (size_t n = 0; n < mine.size(); ++n) {
    const Row& row = rows[mine[n]];
    const fs::path file = fs::path(a.out) / "rows" / (row.id + ".json");
    if (fs::exists(file)) {
      std::ifstream in(file);
      try {
        if (json::parse(in).value("id", "") == row.id) {
          ++kept;
          continue;
        }
      } catch (const json::exception&) {
      }
    }
    json j;
    try {
      j = run_row(row, *fmodel, calib, sets, a, fw, fh);
    } catch (const std::exception& e) {  // (a failed row is recorded; the others go on)
      j = {{"id", row.id}, {"kind", row.kind}, {"mode", row.mode}, {"layers", row.layers}, {"error", e.what()}};
      ++failed;
      fmt::print(stderr, "study: row {} failed: {}\n", row.id, e.what());
    }
    write_file_atomic(file.string(), j.dump(1) + "\n");
    ++done;
    const double el = since(t_all);
    fmt::print(stderr, "study: [{}/{}] {} ({:.0f}s elapsed, about {:.0f}s left)\n", n + 1, mine.size(), row.id, el,
               el / done * double(mine.size() - n - 1));
  }
  if (kept) fmt::print(stderr, "study: {} rows already in {}/rows were kept\n", kept, a.out);
  if (nshards > 1) fmt::print(stderr, "study: shard {}/{}: {} of {} rows\n", shard, nshards, mine.size(), rows.size());
  return write_report(a.out) || failed ? 1 : 0;
}

int cmd_study_merge(const std::vector<std::string>& dirs) {
  QSR_CHECK(!dirs.empty(), "qsr study merge: name the study folders (the first receives the others' rows)");
  for (const auto& d : dirs) QSR_CHECK(fs::exists(fs::path(d) / "study.json"), d + ": no study.json (not a qsr study folder)");
  auto settings = [](const std::string& d) {
    std::ifstream in(fs::path(d) / "study.json");
    json j = json::parse(in);
    j.erase("data"), j.erase("model");
    return j;
  };
  const json first = settings(dirs[0]);
  int copied = 0;
  for (size_t k = 1; k < dirs.size(); ++k) {
    QSR_CHECK(settings(dirs[k]) == first, dirs[k] + ": a study with other settings than " + dirs[0]);
    for (const auto& e : fs::directory_iterator(fs::path(dirs[k]) / "rows")) {
      const fs::path dst = fs::path(dirs[0]) / "rows" / e.path().filename();
      if (e.path().extension() != ".json" || fs::exists(dst)) continue;
      std::ifstream in(e.path());
      std::stringstream ss;
      ss << in.rdbuf();
      write_file_atomic(dst.string(), ss.str());
      ++copied;
    }
  }
  fmt::print(stderr, "study merge: {} rows copied into {}\n", copied, dirs[0]);
  return write_report(dirs[0]) ? 1 : 0;
}

}  // namespace qsr::cli
