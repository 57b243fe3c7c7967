#include "tools/cli.h"

#include <fmt/core.h>

#include <cstdlib>
#include <filesystem>

#include "engine/tensor.h"

namespace qsr::cli {

const char* const kModelHelp =
    "model checkpoint (.safetensors); default: $QSR_MODEL, else the shipped x3 model models/pretrained/espcn_x3.safetensors";
const char* const kSimulateHelp =
    "quantised models: run the reference execution (quant/ptq/qmodel.h) instead of the integer engine (the default); "
    "both give the same numbers (qsr verify checks it), the engine much faster";

namespace {
// The shipped x3 model, under the working directory or under the source tree this binary was
// built from.
constexpr const char* kPretrained = "models/pretrained/espcn_x3.safetensors";
}  // namespace

std::string resolve_model(const std::string& given, int scale) {
  if (!given.empty()) return given;
  if (const char* env = std::getenv("QSR_MODEL"); env && *env) return env;
  QSR_CHECK(scale == 0 || scale == 3,
            fmt::format("no pretrained model for x{} ships with qsr (only x3); pass --model", scale));
  for (const std::string& p : {std::string(kPretrained), std::string(QSR_SOURCE_DIR) + "/" + kPretrained}) {
    if (std::filesystem::exists(p)) {
      fmt::print(stderr, "model: {} (the shipped x3 model; --model picks another)\n", p);
      return p;
    }
  }
  throw Error(fmt::format("no --model given and the shipped model {} was not found (looked in . and {}); pass --model",
                          kPretrained, QSR_SOURCE_DIR));
}

}  // namespace qsr::cli
