// The shipped model (models/pretrained/espcn_x3.safetensors): it loads as the
// default ESPCN x3 and, when ../shared/data exists, still reaches the scores
// docs/TRAINING.md reports (a regression check of the whole inference path).
#include <catch2/catch.hpp>

#include <filesystem>

#include "models/checkpoint.h"
#include "models/evaluate.h"
#include "models/upscale.h"
#include "test_util.h"

using namespace qsr;
namespace fs = std::filesystem;

namespace {
const std::string kModel = std::string(QSR_SOURCE_DIR) + "/models/pretrained/espcn_x3.safetensors";
const std::string kData = QSR_SHARED_DATA_DIR;
}  // namespace

TEST_CASE("pretrained: the shipped x3 model loads and is the default architecture", "[pretrained]") {
  REQUIRE(fs::exists(kModel));
  Checkpoint raw;
  auto m = load_model(kModel, &raw);
  CHECK(m->config().describe() == EspcnConfig{}.describe());
  CHECK(raw.meta.contains("command"));
  REQUIRE(raw.meta.contains("data"));
  CHECK(raw.meta["data"]["protocol"] == "bsds");
}

TEST_CASE("pretrained: Set5 and Set14 x3 scores (y protocol)", "[pretrained]") {
  if (!fs::is_directory(kData + "/Set5") || !fs::is_directory(kData + "/Set14")) {
    WARN("skipped: " << kData << " has no Set5/Set14");
    return;
  }
  auto m = load_model(kModel);
  Upscaler up = [&](const Tensor& x) { return upscale_tensor(*m, x, 0); };
  EvalOptions o;
  o.protocol = EvalProtocol::y;
  o.scale = 3;
  if (qsr_test::kSmall) {  // sanitizer builds: one image, the path only
    auto files = eval_files(kData + "/Set5", o);
    REQUIRE(!files.empty());
    NamedImage im{files.front(), load_image(files.front())};
    EvalImage e = evaluate_y_image(im, 3, up);
    CHECK(e.psnr_model > e.psnr_bicubic);
    return;
  }
  EvalResult s5 = evaluate(kData + "/Set5", o, up);
  EvalResult s14 = evaluate(kData + "/Set14", o, up);
  CHECK(s5.mean_psnr_bicubic == Approx(30.3922).margin(0.005));
  CHECK(s5.mean_psnr_model >= 32.3);
  CHECK(s14.mean_psnr_model >= 29.0);
}
