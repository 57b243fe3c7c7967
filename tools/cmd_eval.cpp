// `qsr eval`: PSNR/SSIM of a model against bicubic under the keras or y protocol.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <memory>
#include <string>

#include "models/evaluate.h"
#include "models/upscale.h"
#include "quant/lower/network.h"
#include "tools/cli.h"

namespace qsr::cli {

namespace {

struct EvalArgs {
  std::string model, data, protocol = "y";
  int scale = 0, tile = 256;
  bool all = false, json = false, simulate = false;
};

void print_table(const EvalResult& res, int r) {
  fmt::print("{:<24s} {:>12s} {:>12s} {:>10s} {:>10s} {:>9s}\n", "image", "PSNR bicubic", "PSNR model", "SSIM bic.",
             "SSIM model", "ms");
  for (auto& im : res.images)
    fmt::print("{:<24s} {:>12.4f} {:>12.4f} {:>10.4f} {:>10.4f} {:>9.1f}\n", im.name, im.psnr_bicubic, im.psnr_model,
               im.ssim_bicubic, im.ssim_model, im.seconds * 1e3);
  fmt::print("{:<24s} {:>12.4f} {:>12.4f} {:>10.4f} {:>10.4f}\n", "mean", res.mean_psnr_bicubic, res.mean_psnr_model,
             res.mean_ssim_bicubic, res.mean_ssim_model);
  fmt::print("protocol {}, x{}, {} images: model {:+.4f} dB over bicubic\n", res.protocol, r, res.images.size(),
             res.mean_psnr_model - res.mean_psnr_bicubic);
}

int run_eval(const EvalArgs& a, const Env& env) {
  quant::LowerOptions lo;
  lo.conv_algo = env.conv;
  quant::LoadedNet ln = quant::load_network(resolve_model(a.model, a.scale), a.simulate, lo);
  const int r = ln.net.cfg.scale;
  QSR_CHECK(a.scale == 0 || a.scale == r, fmt::format("--scale {} does not match the model's scale {}", a.scale, r));
  EvalOptions eo;
  eo.protocol = parse_eval_protocol(a.protocol);
  eo.scale = r;
  eo.all = a.all;
  Upscaler up = [&](const Tensor& x) { return upscale_tensor(ln.net, x, a.tile); };
  EvalResult res = evaluate(a.data, eo, up);
  if (a.json)
    fmt::print("{}\n", eval_result_json(res));
  else
    print_table(res, r);
  return 0;
}

}  // namespace

Command add_eval(CLI::App& app) {
  auto a = std::make_shared<EvalArgs>();
  auto* sub = app.add_subcommand("eval", "PSNR/SSIM of a model against bicubic under the keras or y protocol");
  sub->add_option("--model", a->model, kModelHelp);
  sub->add_option("--data", a->data, "y: a folder of images (e.g. Set5); keras: the BSDS500 root or its test folder")->required();
  sub->add_option("--protocol", a->protocol, "keras (the Keras example's procedure) or y (standard SR: MATLAB Y, bicubic, shave r)")
      ->check(CLI::IsMember({"keras", "y"}));
  sub->add_option("--scale", a->scale, "must match the model (default: the model's)");
  sub->add_flag("--all", a->all, "keras: every test image instead of sorted [50:60]");
  sub->add_flag("--json", a->json, "print one JSON object");
  sub->add_option("--tile", a->tile, "low-res tile size for large images (0: whole image)")->check(CLI::NonNegativeNumber);
  sub->add_flag("--simulate", a->simulate, kSimulateHelp);
  return {sub, [a](const Env& env) { return run_eval(*a, env); }};
}

}  // namespace qsr::cli
