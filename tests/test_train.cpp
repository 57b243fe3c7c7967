// The training loop: learning, logs and checkpoints, exact resume after an
// interruption (SIGINT raised mid-epoch), early stopping, NaN handling.
#include <catch2/catch.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/ops.h"
#include "models/checkpoint.h"
#include "models/train.h"
#include "models/upscale.h"
#include "train_test_util.h"

#include <cstring>

using namespace qsr;
namespace fs = std::filesystem;

namespace {

using qsr_test::SyntheticSource;
using qsr_test::val_set;

EspcnConfig tiny() {
  EspcnConfig c;
  c.scale = 2;
  c.features = {8, 8};
  c.kernels = {3, 3, 3};
  c.activate_last = false;
  return c;
}

fs::path fresh_dir(const std::string& name) { return qsr_test::fresh_dir("qsr_test_train", name); }
std::vector<float> weights(Espcn& m) { return qsr_test::param_values(m); }

int count_lines(const fs::path& p) {
  std::ifstream f(p);
  int n = 0;
  std::string l;
  while (std::getline(f, l)) ++n;
  return n;
}

}  // namespace

TEST_CASE("train: learns, logs every epoch and writes checkpoints", "[train]") {
  Espcn m(tiny());
  m.init_orthogonal(1);
  SyntheticSource src;
  TrainOptions o;
  o.epochs = 6;
  o.lr = 3e-3f;
  o.out_dir = fresh_dir("learn").string();
  o.progress = false;
  TrainResult r = train_espcn(m, src, val_set(), o);
  REQUIRE(r.history.size() == 6);
  CHECK(r.stop_reason == "completed");
  CHECK(r.history.back().loss < r.history.front().loss);
  CHECK(std::isfinite(r.history.back().val_psnr));
  CHECK(count_lines(fs::path(o.out_dir) / "log.csv") == 7);
  CHECK(count_lines(fs::path(o.out_dir) / "log.jsonl") == 6);
  REQUIRE(fs::exists(r.best_path));
  REQUIRE(fs::exists(r.last_path));
  // The model ends with the best-by-loss weights, which are what best.safetensors holds.
  auto best = load_model(r.best_path);
  CHECK(weights(*best) == weights(m));
  for (auto& e : fs::directory_iterator(o.out_dir)) CHECK(e.path().string().find(".tmp.") == std::string::npos);
  fs::remove_all(o.out_dir);
}

TEST_CASE("train: an interrupted run resumes to exactly the uninterrupted result", "[train]") {
  TrainOptions o;
  o.lr_schedule = GENERATE(std::string("constant"), std::string("cosine"));
  o.lr_min = o.lr_schedule == "cosine" ? 1e-4f : 0.f;
  o.epochs = 3;
  o.lr = 3e-3f;
  o.progress = false;
  o.seed = 5;
  // Uninterrupted.
  Espcn a(tiny());
  a.init_orthogonal(3);
  SyntheticSource sa;
  o.out_dir = fresh_dir("full").string();
  train_espcn(a, sa, val_set(), o);
  // Interrupted by SIGINT in the middle of epoch 2, then resumed by a fresh process state.
  Espcn b(tiny());
  b.init_orthogonal(3);
  SyntheticSource sb;
  sb.raise_at = 5;
  TrainOptions ob = o;
  ob.out_dir = fresh_dir("resume").string();
  TrainResult r1 = train_espcn(b, sb, val_set(), ob);
  REQUIRE(r1.stop_reason == "interrupted");
  CHECK(r1.history.size() == 1);
  Espcn c(tiny());
  c.init_orthogonal(77);  // resume must overwrite every weight
  SyntheticSource sc;
  ob.resume = true;
  TrainResult r2 = train_espcn(c, sc, val_set(), ob);
  CHECK(r2.stop_reason == "completed");
  CHECK(r2.history.size() == 3);
  CHECK(weights(c) == weights(a));
  // Resuming with another seed is refused.
  ob.seed = 6;
  Espcn d(tiny());
  SyntheticSource sd;
  CHECK_THROWS_WITH(train_espcn(d, sd, val_set(), ob), Catch::Contains("seed"));
  fs::remove_all(o.out_dir);
  fs::remove_all(ob.out_dir);
}

TEST_CASE("train: the cosine learning-rate schedule", "[train]") {
  TrainOptions o;
  o.lr = 1e-3f;
  CHECK(scheduled_lr(o, 0, 100) == 1e-3f);
  CHECK(scheduled_lr(o, 99, 100) == 1e-3f);  // constant by default
  o.lr_schedule = "cosine";
  o.lr_min = 1e-5f;
  CHECK(scheduled_lr(o, 0, 100) == Approx(1e-3));
  CHECK(scheduled_lr(o, 50, 100) == Approx((1e-3 + 1e-5) / 2));
  CHECK(scheduled_lr(o, 100, 100) == Approx(1e-5));
  for (int g = 1; g < 100; ++g) CHECK(scheduled_lr(o, g, 100) < scheduled_lr(o, g - 1, 100));
  // Resuming a cosine run with another length would change the schedule: refused.
  Espcn m(tiny());
  SyntheticSource src;
  o.epochs = 2;
  o.progress = false;
  o.out_dir = fresh_dir("cosine").string();
  train_espcn(m, src, val_set(), o);
  o.epochs = 4;
  o.resume = true;
  CHECK_THROWS_WITH(train_espcn(m, src, val_set(), o), Catch::Contains("--epochs"));
  o.lr_schedule = "constant";
  CHECK_THROWS_WITH(train_espcn(m, src, val_set(), o), Catch::Contains("schedule"));
  o.resume = false;
  o.lr_schedule = "step";
  CHECK_THROWS_WITH(train_espcn(m, src, val_set(), o), Catch::Contains("unknown learning-rate schedule"));
  o.lr_schedule = "cosine";
  o.lr_min = 2e-3f;
  CHECK_THROWS_WITH(train_espcn(m, src, val_set(), o), Catch::Contains("--lr-min"));
  fs::remove_all(o.out_dir);
}

TEST_CASE("train: early stopping on the training loss", "[train]") {
  Espcn m(tiny());
  m.init_orthogonal(2);
  SyntheticSource src;
  src.fixed = true;  // the same batches every epoch ...
  TrainOptions o;
  o.epochs = 20;
  o.patience = 2;
  o.lr = 1e-30f;  // ... and updates far below float resolution: the loss never improves after epoch 1
  o.out_dir = fresh_dir("early").string();
  o.progress = false;
  TrainResult r = train_espcn(m, src, val_set(), o);
  CHECK(r.stop_reason == "early stopping");
  CHECK(r.history.size() == 3);
  CHECK(r.best_epoch == 1);
  fs::remove_all(o.out_dir);
}

TEST_CASE("train: --monitor val_psnr keeps the epoch with the best validation PSNR", "[train]") {
  Espcn m(tiny());
  m.init_orthogonal(3);
  SyntheticSource src;
  TrainOptions o;
  o.epochs = 5;
  o.lr = 3e-2f;  // large steps: the validation PSNR moves both ways
  o.patience = 0;
  o.monitor = "val_psnr";
  o.out_dir = fresh_dir("monitor").string();
  o.progress = false;
  TrainResult r = train_espcn(m, src, val_set(), o);
  REQUIRE(r.history.size() == 5);
  size_t best = 0;
  for (size_t i = 1; i < r.history.size(); ++i)
    if (r.history[i].val_psnr > r.history[best].val_psnr) best = i;
  CHECK(r.best_epoch == int(best) + 1);
  CHECK(r.best_loss == -r.history[best].val_psnr);
  CHECK(weights(*load_model(r.best_path)) == weights(m));
  CHECK(validate(m, val_set()).second == Approx(r.history[best].val_psnr).epsilon(1e-9));
  // Resuming under the other monitor is refused; an unknown monitor is an error.
  o.monitor = "loss";
  o.resume = true;
  o.epochs = 6;
  CHECK_THROWS_WITH(train_espcn(m, src, val_set(), o), Catch::Contains("resume with the same --monitor"));
  o.monitor = "psnr";
  o.resume = false;
  CHECK_THROWS_WITH(train_espcn(m, src, val_set(), o), Catch::Contains("unknown --monitor 'psnr'"));
  fs::remove_all(o.out_dir);
}

TEST_CASE("train: a NaN loss stops with a clear error and keeps the last good checkpoint", "[train]") {
  Espcn m(tiny());
  m.init_orthogonal(2);
  SyntheticSource src;
  TrainOptions o;
  o.epochs = 1;
  o.out_dir = fresh_dir("nan").string();
  o.progress = false;
  train_espcn(m, src, val_set(), o);
  auto before = fs::last_write_time(fs::path(o.out_dir) / "last.safetensors");
  src.nan = true;
  o.epochs = 3;
  o.resume = true;
  CHECK_THROWS_WITH(train_espcn(m, src, val_set(), o), Catch::Contains("loss became") && Catch::Contains("last.safetensors"));
  CHECK(fs::last_write_time(fs::path(o.out_dir) / "last.safetensors") == before);
  CHECK_NOTHROW(load_model(o.out_dir + "/last.safetensors"));
  fs::remove_all(o.out_dir);
}

TEST_CASE("train: bad options are errors", "[train]") {
  Espcn m(tiny());
  SyntheticSource src;
  TrainOptions o;
  o.out_dir = fresh_dir("bad").string();
  o.progress = false;
  o.epochs = 0;
  CHECK_THROWS_AS(train_espcn(m, src, val_set(), o), Error);
  o.epochs = 1;
  o.lr = -1;
  CHECK_THROWS_AS(train_espcn(m, src, val_set(), o), Error);
  o.lr = 1e-3f;
  o.resume = true;
  CHECK_THROWS_WITH(train_espcn(m, src, val_set(), o), Catch::Contains("no checkpoint"));
  fs::remove_all(o.out_dir);
}

TEST_CASE("upscale: tiled inference equals whole-image inference bit for bit", "[upscale]") {
  EspcnConfig cfg;  // the default x3 ESPCN: receptive radius 2 + 1 + 1 + 1
  Espcn m(cfg);
  m.init_orthogonal(11);
  for (auto& c : m.convs)
    for (int64_t i = 0; i < c->bias.value().numel(); ++i) c->bias.value().f32()[i] = 0.01f * float(i % 7);
  CHECK(receptive_radius(cfg) == 5);
  Rng rng(3);
  Tensor x({1, 29, 37, 1});
  for (int64_t i = 0; i < x.numel(); ++i) x.f32()[i] = rng.uniform(0.f, 1.f);
  Tensor whole = upscale_tensor(m, x, 0);
  REQUIRE(whole.shape() == Shape{1, 87, 111, 1});
  for (int tile : {6, 11, 16, 40}) {
    INFO("tile " << tile);
    Tensor t = upscale_tensor(m, x, tile);
    REQUIRE(t.shape() == whole.shape());
    CHECK(std::memcmp(t.f32(), whole.f32(), whole.nbytes()) == 0);
  }
  CHECK_THROWS_AS(upscale_tensor(m, Tensor({2, 4, 4, 1}), 0), Error);
}

TEST_CASE("upscale: grey and RGB images", "[upscale]") {
  Espcn m(EspcnConfig{});
  m.init_orthogonal(5);
  Image grey(13, 9, 1), rgb(13, 9, 3);
  for (size_t i = 0; i < grey.data.size(); ++i) grey.data[i] = uint8_t(i * 7);
  for (size_t i = 0; i < rgb.data.size(); ++i) rgb.data[i] = uint8_t(i * 5);
  Image g = upscale_image(m, grey, 4), c = upscale_image(m, rgb, 4);
  CHECK((g.width == 39 && g.height == 27 && g.channels == 1));
  CHECK((c.width == 39 && c.height == 27 && c.channels == 3));
  CHECK(upscale_image(m, rgb, 0) == c);
}
