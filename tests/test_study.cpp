// The study (quant/study): the ids of its rows, and the conv algorithm it is given.
#include <catch2/catch.hpp>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/random.h"
#include "models/espcn.h"
#include "models/image/image.h"
#include "quant/study/internal.h"
#include "quant/study/study.h"

using namespace qsr;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> ids_of(const json& manifest) {
  std::vector<std::string> ids;
  for (const auto& r : study::plan(manifest)) ids.push_back(r.id);
  return ids;
}

json read_json(const fs::path& p) {
  std::ifstream in(p);
  return json::parse(in);
}

}  // namespace

TEST_CASE("study: the rows of a --quick study of a 3-conv model, in order") {
  const json m = {{"nconv", 3},
                  {"quick", true},
                  {"qat", {{"enabled", true}, {"mode", "int8"}, {"layers", {"all"}}, {"bits", {4}}}},
                  {"mixed", true}};
  const std::vector<std::string> want = {
      "float",          "ptq-dynamic-range-all", "ptq-float16-all", "ptq-int8-all",    "ptq-int16x8-all", "sweep-w4a4",
      "sweep-w4",       "sweep-a4",              "sweep-w8a8",      "sweep-w8",        "sweep-a8",        "sweep-pt-w4a4",
      "sweep-pt-w8a8",  "fixed-q2.6",            "sens-conv1-w4a4", "sens-conv2-w4a4", "sens-conv3-w4a4", "finetune-float",
      "qat-int8-all",   "qat-sweep-w4a4",        "mixed"};
  CHECK(ids_of(m) == want);
  // The full study: the four modes on all 7 layer sets, 15 word lengths x 3 + 15 per tensor,
  // 5 fixed-point formats, 3 convs x 7 sensitivity bits; no training rows, no mixed precision.
  const json full = {{"nconv", 3}, {"quick", false}};
  CHECK(ids_of(full).size() == 1 + 4 * 7 + 15 * 3 + 15 + 5 + 3 * 7);
  CHECK(ids_of(full)[5] == "ptq-dynamic-range-12");
}

TEST_CASE("study: the float models and the float paths run the conv algorithm given") {
  // The shipped x3 model on one 200x200 grey image (smooth shapes and noise) as Set5 and BSDS500:
  // Winograd's last bits flip some of the 8-bit output pixels that direct convolution gives,
  // and move the calibrated activation ranges.
  const fs::path root = fs::temp_directory_path() / ("qsr_test_study_" + std::to_string(::getpid()));
  fs::remove_all(root);
  Image im(200, 200, 1);
  Rng rng(11);
  for (int y = 0; y < im.height; ++y)
    for (int x = 0; x < im.width; ++x)
      im.at(x, y) = uint8_t(std::clamp(128 + 60 * std::sin(x * 0.07) * std::cos(y * 0.05) + rng.uniform(-40.f, 40.f), 0.0, 255.0));
  for (const char* sub : {"Set5", "BSDS500"}) {
    fs::create_directories(root / sub);
    save_png(im, (root / sub / "im.png").string());
  }
  // Set5 PSNR of the float row and of the int8 row (calibrated on the quantised model's float
  // path, run on the integer engine), per algorithm.
  auto run = [&](ConvAlgo algo, const std::string& name) {
    study::StudyArgs a;
    a.data = root.string();
    a.out = (root / name).string();
    a.from = std::string(QSR_SOURCE_DIR) + "/models/pretrained/espcn_x3.safetensors";
    a.calib_images = 1;
    a.quick = true;
    a.qat = false;
    a.mixed = false;
    a.shard = "1/3";  // rows 0, 3, ...: float, ptq-int8-all, ...
    a.conv_algo = algo;
    REQUIRE(study::cmd_study(a) == 0);
    const json f = read_json(fs::path(a.out) / "rows" / "float.json"), h = read_json(fs::path(a.out) / "rows" / "ptq-int8-all.json");
    return std::pair<double, double>{f["psnr"]["set5"].get<double>(), h["psnr"]["set5"].get<double>()};
  };
  const auto automatic = run(ConvAlgo::automatic, "auto"), direct = run(ConvAlgo::direct, "direct"),
             winograd = run(ConvAlgo::winograd, "winograd");
  fs::remove_all(root);
  CHECK(automatic == direct);  // (automatic: direct for inference)
  CHECK(winograd.first != direct.first);
  CHECK(winograd.second != direct.second);
  CHECK(std::abs(winograd.first - direct.first) < 1e-3);
  CHECK(std::abs(winograd.second - direct.second) < 1e-3);
}
