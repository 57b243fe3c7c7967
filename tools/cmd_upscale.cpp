// `qsr upscale`: upscale an image (PNG or JPEG in, PNG out).
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <memory>
#include <string>

#include "models/image/image.h"
#include "models/upscale.h"
#include "quant/lower/network.h"
#include "tools/cli.h"

namespace qsr::cli {

namespace {

struct UpscaleArgs {
  std::string model, in, out;
  int tile = 256;
  bool simulate = false;
};

int run_upscale(const UpscaleArgs& a, const Env& env) {
  quant::LowerOptions lo;
  lo.conv_algo = env.conv;
  quant::LoadedNet ln = quant::load_network(resolve_model(a.model, 0), a.simulate, lo);
  Image im = load_image(a.in);
  auto t = Clock::now();
  Image up = upscale_image(ln.net, im, a.tile);
  double s = seconds_since(t);
  save_png(up, a.out);
  fmt::print("{} ({}x{}) -> {} ({}x{}) in {:.1f} ms\n", a.in, im.width, im.height, a.out, up.width, up.height, s * 1e3);
  return 0;
}

}  // namespace

Command add_upscale(CLI::App& app) {
  auto a = std::make_shared<UpscaleArgs>();
  auto* sub = app.add_subcommand("upscale", "upscale an image (PNG or JPEG in, PNG out)");
  sub->add_option("--model", a->model, kModelHelp);
  sub->add_option("input", a->in, "input image")->required();
  sub->add_option("output", a->out, "output PNG")->required();
  sub->add_option("--tile", a->tile, "low-res tile size (0: whole image); the result does not depend on it")->check(CLI::NonNegativeNumber);
  sub->add_flag("--simulate", a->simulate, kSimulateHelp);
  return {sub, [a](const Env& env) { return run_upscale(*a, env); }};
}

}  // namespace qsr::cli
