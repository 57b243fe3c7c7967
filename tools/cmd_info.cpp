// `qsr info`: the CPU, the kernel paths and the thread count; with a model file, its layers,
// formats and size, and how the native engine runs it.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <memory>
#include <string>

#include "engine/cpu.h"
#include "engine/kernels/int/int_kernels.h"
#include "models/checkpoint.h"
#include "models/espcn.h"
#include "quant/lower/int_engine.h"
#include "quant/ptq/qmodel.h"
#include "tools/cli.h"

#ifndef QSR_VERSION
#define QSR_VERSION "0.0.0"
#endif

namespace qsr::cli {

namespace {

int info_quant_model(const std::string& path, ConvAlgo conv) {
  const quant::QuantModel q = quant::load_quant_model(path);
  fmt::print("{}: {}\n", path, q.describe());
  try {  // how the native engine runs it
    quant::LowerOptions o;
    o.conv_algo = conv;
    fmt::print("{}", quant::IntEngine(q, o).describe());
  } catch (const Error& e) {
    fmt::print("the native engine cannot run this model ({}); eval, upscale and bench need --simulate\n", e.what());
  }
  return 0;
}

int info_model(const std::string& path, ConvAlgo conv) {
  if (quant::is_quant_checkpoint(path)) return info_quant_model(path, conv);
  Checkpoint raw;
  std::unique_ptr<Espcn> m = load_model(path, &raw);
  int64_t params = 0, bytes = 0;
  fmt::print("{}: float ESPCN x{} ({})\n", path, m->config().scale, m->config().describe());
  for (auto& [name, v] : m->named_parameters()) {
    params += v.value().numel();
    bytes += int64_t(v.value().nbytes());
    fmt::print("  {:<14s} {:<16s} f32\n", name, shape_str(v.value().shape()));
  }
  fmt::print("  {} parameters, {} bytes as f32; {} MAC per low-res pixel\n", params, bytes, m->config().macs_per_lr_pixel());
  if (raw.meta.contains("trained")) fmt::print("  trained: {}\n", raw.meta["trained"].dump());
  if (raw.meta.contains("command")) fmt::print("  command: {}\n", raw.meta["command"].get<std::string>());
  return 0;
}

int info_machine(ConvAlgo conv) {
  fmt::print("qsr {}\n{}", QSR_VERSION, cpu_report());
  fmt::print("3x3 convolutions: {} (QSR_CONV=direct|winograd|auto; auto: Winograd F(4x4,3x3) when training, direct for inference)\n",
             conv_algo_name(conv));
  fmt::print("quantised models: the native engine, {} integer kernels (int16 pairs and u8 quads; QSR_ISA picks them too); "
             "--simulate runs the reference execution\n",
             quant::int_kernels().name);
  return 0;
}

}  // namespace

Command add_info(CLI::App& app) {
  auto model = std::make_shared<std::string>();
  auto* sub = app.add_subcommand("info", "print the CPU features, the kernel path in use and the thread count; with a model file, its layers, formats and size");
  sub->add_option("model", *model, "a float or quantised checkpoint (.safetensors)");
  return {sub, [model](const Env& env) { return model->empty() ? info_machine(env.conv) : info_model(*model, env.conv); }};
}

}  // namespace qsr::cli
