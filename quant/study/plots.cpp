// The plots of a study's report, drawn by gnuplot (internal.h): PSNR on Set5 against word
// length, PSNR against frame time with the Pareto front labelled, the sensitivity heatmap and
// the training curves.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <tuple>

#include "engine/fileio.h"
#include "quant/study/internal.h"

namespace qsr::study {

namespace {

std::string num(double v) { return std::isnan(v) ? std::string("NaN") : fmt::format("{:.4f}", v); }

double psnr_or_nan(const json& r) { return r.contains("psnr") && r["psnr"].contains("set5") ? r["psnr"]["set5"].get<double>() : NAN; }

// What the plots show, gathered from the rows.
struct PlotData {
  std::map<int, std::array<double, 5>> sweep;  // bits: wNaN, wN, aN, per-tensor wNaN, QAT wNaN
  std::vector<std::pair<std::string, std::string>> curves;  // id, kind (of the rows with a training curve)
  double base = NAN;                                         // the float row's PSNR
  std::vector<std::tuple<double, double, std::string>> pts;  // frame ms, PSNR, id
  std::vector<std::tuple<int, int, double>> sens;            // conv, bits, PSNR
};

// curve_<id>.dat: epoch, loss, validation PSNR.
void write_curve(const fs::path& dir, const std::string& id, const json& cv) {
  std::string d = "# epoch loss val_psnr (" + id + ")\n";
  for (size_t i = 0; i < cv["epoch"].size(); ++i)
    d += fmt::format("{} {} {:.4f}\n", cv["epoch"][i].get<int>(), cv["loss"][i].is_null() ? std::string("NaN") : fmt::format("{:.6g}", cv["loss"][i].get<double>()),
                     cv["val_psnr"][i].get<double>());
  write_file_atomic((dir / ("curve_" + id + ".dat")).string(), d);
}

// The rows' data (the training curves' data files are written on the way).
PlotData gather(const fs::path& dir, const std::vector<json>& results) {
  PlotData p;
  for (const auto& r : results) {
    if (r.contains("error")) continue;
    const std::string id = r.value("id", ""), mode = r.value("mode", ""), kind = r.value("kind", "");
    if (id == "float") p.base = psnr_or_nan(r);
    int w = 0, a = 0;
    const bool wa = std::sscanf(mode.c_str(), "w%da%d", &w, &a) == 2, wo = !wa && std::sscanf(mode.c_str(), "w%d", &w) == 1,
               ao = !wa && !wo && std::sscanf(mode.c_str(), "a%d", &a) == 1;
    if (kind == "sweep" || kind == "qat-sweep") {
      auto& e = p.sweep.try_emplace(wa ? w : wo ? w : a, std::array<double, 5>{NAN, NAN, NAN, NAN, NAN}).first->second;
      if (kind == "qat-sweep") e[4] = psnr_or_nan(r);
      else if (wa && r.value("per_channel", true)) e[0] = psnr_or_nan(r);
      else if (wa) e[3] = psnr_or_nan(r);
      else if (wo) e[1] = psnr_or_nan(r);
      else if (ao) e[2] = psnr_or_nan(r);
    }
    if ((kind == "ptq" || kind == "float" || kind == "qat" || kind == "mixed") && r.contains("frame_ms"))
      p.pts.emplace_back(r["frame_ms"].get<double>(), psnr_or_nan(r), id);
    if (r.contains("curve")) {
      write_curve(dir, id, r["curve"]);
      p.curves.push_back({id, kind});
    }
    if (kind == "sensitivity" && wa) p.sens.emplace_back(std::stoi(r.value("layers", "0")), w, psnr_or_nan(r));
  }
  return p;
}

// Runs the plot scripts of one folder (each PNG written as .tmp and renamed) and keeps the
// names of those made.
struct Gnuplot {
  fs::path dir;
  std::vector<std::string> made;

  void run(const std::string& name, const std::string& script) {
    const std::string gp = (dir / (name + ".gp")).string(), png = (dir / (name + ".png")).string();
    write_file_atomic(gp, "set terminal pngcairo size 900,540 noenhanced\nset output '" + png + ".tmp'\nset grid\n" + script);
    const std::string cmd = "gnuplot '" + gp + "' > '" + (dir / "gnuplot.log").string() + "' 2>&1";
    if (std::system(cmd.c_str()) == 0) {
      fs::rename(png + ".tmp", png);
      made.push_back("plots/" + name + ".png");
    } else {
      fmt::print(stderr, "note: gnuplot failed on {} (see {}/gnuplot.log)\n", gp, dir.string());
    }
  }
};

// sweep.dat (bits, wNaN, wN, aN, per-tensor wNaN, QAT wNaN) and psnr_vs_bits.
void plot_sweep(Gnuplot& g, const PlotData& p) {
  if (p.sweep.empty()) return;
  std::string d = "# bits wNaN wN aN wNaN_per_tensor wNaN_QAT\n";
  for (const auto& [b, e] : p.sweep) d += fmt::format("{} {} {} {} {} {}\n", b, num(e[0]), num(e[1]), num(e[2]), num(e[3]), num(e[4]));
  const std::string f = (g.dir / "sweep.dat").string();
  write_file_atomic(f, d);
  g.run("psnr_vs_bits", "set xlabel 'word length (bits)'\nset ylabel 'PSNR Set5 (dB)'\nset key bottom right\nset yrange [*:*]\n" +
                            (std::isnan(p.base) ? std::string() : fmt::format("set arrow from graph 0, first {0} to graph 1, first {0} nohead dt 2\n", p.base)) +
                            "plot '" + f + "' u 1:2 w lp lw 2 t 'weights and activations', '' u 1:3 w lp t 'weights only', "
                            "'' u 1:4 w lp t 'activations only', '' u 1:5 w lp dt 3 t 'both, per tensor', "
                            "'' u 1:6 w lp lw 2 pt 7 t 'both, QAT'\n");
}

// ptq.dat (ms, psnr, id), front.dat and psnr_vs_time.
void plot_time(Gnuplot& g, std::vector<std::tuple<double, double, std::string>> pts) {
  if (pts.empty()) return;
  std::sort(pts.begin(), pts.end());
  std::string d = "# ms psnr id\n", fr = "# Pareto front: no faster row scores higher\n";
  double best = -INFINITY;
  for (const auto& [ms, p, id] : pts) {
    d += fmt::format("{:.3f} {} {}\n", ms, num(p), id);
    if (p > best) best = p, fr += fmt::format("{:.3f} {} {}\n", ms, num(p), id);
  }
  write_file_atomic((g.dir / "ptq.dat").string(), d);
  write_file_atomic((g.dir / "front.dat").string(), fr);
  g.run("psnr_vs_time", "set xlabel 'frame time (ms)'\nset ylabel 'PSNR Set5 (dB)'\nset key bottom right\n"
                        "set title 'float, post-training, QAT and mixed-precision rows'\nplot '" +
                            (g.dir / "ptq.dat").string() + "' u 1:2 w p pt 7 ps 0.6 t 'rows', '" + (g.dir / "front.dat").string() +
                            "' u 1:2 w lp lw 2 t 'Pareto front', '' u 1:2:3 w labels left offset 0.5,0.5 font ',8' notitle\n");
}

// sens.dat (k, b, drop) and the sensitivity heatmap.
void plot_sensitivity(Gnuplot& g, const PlotData& p) {
  if (p.sens.empty() || std::isnan(p.base)) return;
  std::string d = "# conv bits drop\n";
  int last = -1;
  for (const auto& [k, b, psnr] : p.sens) {
    if (last != -1 && k != last) d += "\n";
    d += fmt::format("{} {} {}\n", k, b, num(p.base - psnr));
    last = k;
  }
  write_file_atomic((g.dir / "sens.dat").string(), d);
  g.run("sensitivity", "set xlabel 'conv'\nset ylabel 'bits (weights and activations)'\nset cblabel 'PSNR drop on Set5 (dB)'\n"
                       "set logscale cb\nset view map\nset xtics 1\nplot '" + (g.dir / "sens.dat").string() +
                       "' u 1:2:3 w image notitle, '' u 1:2:(sprintf('%.2f', $3)) w labels notitle\n");
}

// Training curves (loss and validation PSNR per epoch) of the rows `ids`.
void plot_curves(Gnuplot& g, const std::string& name, const std::vector<std::string>& ids, const std::string& title) {
  if (ids.empty()) return;
  std::string loss = "plot ", vp = "plot ";
  for (size_t i = 0; i < ids.size(); ++i) {
    const std::string f = (g.dir / ("curve_" + ids[i] + ".dat")).string();
    const std::string style = ids[i] == "finetune-float" ? "w lp lw 3 lc rgb 'black'" : "w lp";
    loss += fmt::format("{}'{}' u 1:2 {} t '{}'", i ? ", " : "", f, style, ids[i]);
    vp += fmt::format("{}'{}' u 1:3 {} t '{}'", i ? ", " : "", f, style, ids[i]);
  }
  g.run(name, "set terminal pngcairo size 1400,600 noenhanced\nset output '" + (g.dir / (name + ".png")).string() +
                  ".tmp'\nset multiplot layout 1,2 title '" + title + "'\nset xlabel 'epoch'\nset xtics 1\nset key outside right font ',8'\n"
                  "set ylabel 'training loss (MSE)'\nset logscale y\n" + loss + "\nunset logscale y\n"
                  "set ylabel 'BSDS500 val PSNR (dB; QAT: fake-quantised)'\n" + vp + "\nunset multiplot\n");
}

}  // namespace

// The plots of a report (gnuplot, PNG): PSNR on Set5 against word length, PSNR against frame
// time with the Pareto front labelled, the sensitivity heatmap and the training curves. Returns
// the names of the plots made; without gnuplot, none (and a note).
std::vector<std::string> draw_plots(const std::string& out, const std::vector<json>& results) {
  if (std::system("command -v gnuplot > /dev/null 2>&1") != 0) {
    fmt::print(stderr, "note: gnuplot is not installed (Debian: gnuplot-nox); the report has no plots\n");
    return {};
  }
  Gnuplot g{fs::path(out) / "plots", {}};
  fs::create_directories(g.dir);
  const PlotData p = gather(g.dir, results);
  plot_sweep(g, p);
  plot_time(g, p.pts);
  plot_sensitivity(g, p);
  // The float fine-tuning with the QAT runs of the layer sets, and the QAT word-length sweep
  // apart (its PSNRs lie far below).
  std::vector<std::string> layer_runs, sweep_runs;
  for (const auto& [id, kind] : p.curves) (kind == "qat-sweep" ? sweep_runs : layer_runs).push_back(id);
  plot_curves(g, "training_curves", layer_runs, "float fine-tuning and QAT of the layer sets (epoch 0: the start)");
  plot_curves(g, "qat_sweep_curves", sweep_runs, "QAT of the whole model at N bits (epoch 0: post-training quantisation)");
  return g.made;
}

}  // namespace qsr::study
