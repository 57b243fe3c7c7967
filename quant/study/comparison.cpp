// The visual comparison of a study's report: plots/comparison.png (internal.h).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "models/image/color.h"
#include "models/image/image.h"
#include "models/image/resize.h"
#include "quant/study/internal.h"

namespace qsr::study {

namespace {

// A column of the comparison: a model and its label.
struct Col {
  std::string label;
  Network net;
};

// An image of Set5 and its 24x24 low-res window with the most gradient energy.
struct Pick {
  double energy;
  std::string path;
  int x, y;
  Image rgb;  // decoded once
};

// The window of `in` (on a grid of 4 low-res pixels) with the most gradient energy in luma;
// energy -1 when the image is smaller than a window.
Pick best_window(const EvalInput& in, int r, int side) {
  Image im = to_rgb(load_image(in.path));
  const Image y = bt601_luma_u8(im);
  Pick best{-1, in.path, 0, 0, {}};
  for (int y0 = 0; y0 + side <= y.height - y.height % r; y0 += r * 4)
    for (int x0 = 0; x0 + side <= y.width - y.width % r; x0 += r * 4) {
      double e = 0;
      for (int yy = y0; yy < y0 + side - 1; ++yy)
        for (int xx = x0; xx < x0 + side - 1; ++xx)
          e += std::abs(y.at(xx + 1, yy) - y.at(xx, yy)) + std::abs(y.at(xx, yy + 1) - y.at(xx, yy));
      if (e > best.energy) best = {e, in.path, x0, y0, {}};
    }
  if (best.energy >= 0) best.rgb = std::move(im);
  return best;
}

// The two images of Set5 whose best window has the most gradient energy, most first.
std::vector<Pick> pick_crops(const Ctx& c, int r, int side) {
  std::vector<Pick> picks;
  for (const auto& in : c.sets[0].inputs) {
    Pick p = best_window(in, r, side);
    if (p.energy >= 0) picks.push_back(std::move(p));
  }
  std::sort(picks.begin(), picks.end(), [](const Pick& p, const Pick& q) { return p.energy > q.energy; });
  if (picks.size() > 2) picks.resize(2);
  return picks;
}

// The grid: a row per pick; columns HR, bicubic, then the models; each crop enlarged `zoom` x
// (nearest), `gap` white pixels apart.
Image compose(const std::vector<Pick>& picks, const std::vector<Col>& cols, int r, int tile, int zoom, int gap) {
  const int ncol = 2 + int(cols.size());
  Image grid(ncol * tile + (ncol - 1) * gap, int(picks.size()) * tile + (int(picks.size()) - 1) * gap, 3);
  std::fill(grid.data.begin(), grid.data.end(), uint8_t(255));
  for (size_t row = 0; row < picks.size(); ++row) {
    const Image& rgb = picks[row].rgb;
    const Image hr = crop(rgb, rgb.width - rgb.width % r, rgb.height - rgb.height % r);
    const Image lr = resize_pillow_bicubic(hr, hr.width / r, hr.height / r);
    std::vector<Image> ups = {hr, resize_pillow_bicubic(lr, hr.width, hr.height)};
    for (const auto& col : cols) ups.push_back(upscale_image(col.net, lr, 0));
    for (size_t k = 0; k < ups.size(); ++k)
      for (int yy = 0; yy < tile; ++yy)
        for (int xx = 0; xx < tile; ++xx)
          for (int ch = 0; ch < 3; ++ch)
            grid.at(int(k) * (tile + gap) + xx, int(row) * (tile + gap) + yy, ch) =
                ups[k].at(picks[row].x + xx / zoom, picks[row].y + yy / zoom, ch);
  }
  return grid;
}

// The lowest-bit model within the budget: the mixed-precision row, else the shortest per-channel
// word length; null when none is.
const json* lowest_within(const std::vector<json>& results, double float_psnr, double budget) {
  const json* low = nullptr;
  for (const auto& r : results)
    if (has_set5(r) && r["id"] == "mixed" && float_psnr - psnr_set5(r) <= budget) low = &r;
  return low ? low : shortest_sweep_within(results, float_psnr, budget);
}

}  // namespace

// The visual comparison (plots/comparison.png): the same crops from HR, bicubic, float, int8
// and the lowest-bit model within the budget (the mixed-precision row, else the shortest
// per-channel word length), for the two Set5 images with the most detail. RGB: each model runs
// on the luma of the Pillow-bicubic low-res image, chroma upscaled bicubic (qsr upscale). Each
// crop is 3x enlarged (nearest) so single pixels show. Returns the caption, or "" when a row
// it needs is missing.
std::string draw_comparison(const std::string& out, Ctx& c, const std::vector<json>& results, double budget) {
  const json* f = nullptr;
  const json* i8 = nullptr;
  for (const auto& r : results) {
    if (!has_set5(r)) continue;
    if (r["id"] == "float") f = &r;
    if (r["id"] == "ptq-int8-all") i8 = &r;
  }
  if (!f || !i8) return "";
  const json* low = lowest_within(results, psnr_set5(*f), budget);
  std::vector<Col> cols;
  json tmp;
  cols.push_back({"float", network_of(*c.fmodel)});
  cols.push_back({"int8 (PTQ, whole model)", engine_net(ptq_model(c, "int8", {}, true), c.a.conv_algo, tmp)});
  if (low) cols.push_back({(*low)["mode"].get<std::string>() + " (" + (*low)["id"].get<std::string>() + ")",
                           engine_net(ptq_model(c, (*low)["mode"].get<std::string>(), {}, true), c.a.conv_algo, tmp)});
  const int r = c.fmodel->config().scale, side = 24 * r, zoom = 3, gap = 6, tile = side * zoom;
  const std::vector<Pick> picks = pick_crops(c, r, side);
  if (picks.empty()) return "";
  std::string names;
  for (size_t row = 0; row < picks.size(); ++row)
    names += fmt::format("{}`{}` at ({}, {})", row ? ", " : "", fs::path(picks[row].path).filename().string(), picks[row].x, picks[row].y);
  fs::create_directories(fs::path(out) / "plots");
  save_png(compose(picks, cols, r, tile, zoom, gap), (fs::path(out) / "plots" / "comparison.png").string());
  std::string cap = "Columns: HR, bicubic";
  auto p5 = [](const json* x) { return fmt::format("{:.2f} dB", psnr_set5(*x)); };
  cap += ", float (" + p5(f) + "), " + cols[1].label + " (" + p5(i8) + ")";
  if (low) cap += ", " + cols[2].label + " (" + p5(low) + "; the lowest-bit model within the budget)";
  return cap + fmt::format(" (Set5 PSNR). Crops of {}x{} HR pixels, {}x enlarged, from {}.", side, side, zoom, names);
}

}  // namespace qsr::study
