// `qsr study` and `qsr study merge`: the comparison the project reproduces, measured
// (quant/study/study.h, docs/STUDY.md).
#include <CLI/CLI.hpp>

#include <memory>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "quant/study/study.h"
#include "tools/cli.h"

namespace qsr::cli {

namespace {

struct StudyCommand {
  qsr::study::StudyArgs args;
  std::vector<std::string> merge_dirs;
  CLI::App* merge = nullptr;
};

int run_study(StudyCommand& s, const Env& env) {
  if (*s.merge) return qsr::study::cmd_study_merge(s.merge_dirs, env.conv);
  qsr::study::StudyArgs& sa = s.args;
  QSR_CHECK(!sa.data.empty() && !sa.out.empty(), "qsr study needs --data DIR and --out DIR (see qsr study --help)");
  sa.from = resolve_model(sa.from, 0);
  sa.conv_algo = env.conv;
  return qsr::study::cmd_study(sa);
}

void add_qat_options(CLI::App* study, qsr::study::StudyArgs& sa) {
  study->add_flag("--no-qat", [&sa](int64_t) { sa.qat = false; }, "no training rows (float fine-tuning, QAT)");
  study->add_option("--qat-mode", sa.qat_mode, "the QAT rows' mode, as qsr train --qat (default int8, i.e. W8A8)");
  study->add_option("--qat-layers", sa.qat_layers,
                    "QAT layer sets, comma-separated, each all or conv numbers like 23 (default: all and every non-empty subset; --quick: all)");
  study->add_option("--qat-bits", sa.qat_bits, "the QAT word-length sweep: wNaN of the whole model for these N (default 3,4,5,6; --quick: 4), or none");
  study->add_option("--qat-epochs", sa.qat_epochs, "QAT (and float fine-tuning) epochs per row (default 4; --quick: 2)")->check(CLI::PositiveNumber);
  study->add_option("--qat-steps", sa.qat_steps, "steps per epoch (default 25; --quick: 10)")->check(CLI::PositiveNumber);
  study->add_option("--qat-batch", sa.qat_batch, "batch size (default 32)")->check(CLI::PositiveNumber);
  study->add_option("--qat-crop", sa.qat_crop, "high-res training crop side, a multiple of the scale (default 144)")->check(CLI::PositiveNumber);
  study->add_option("--qat-lr", sa.qat_lr, "Adam learning rate of the layer-set rows, cosine decay to 1/100 (default 1e-4)")->check(CLI::PositiveNumber);
  study->add_option("--qat-sweep-lr", sa.qat_sweep_lr, "the same for the word-length sweep's rows (default 3e-4)")->check(CLI::PositiveNumber);
  study->add_flag("--qat-learn-scale", sa.qat_learn_scale, "learn the activation scales (LSQ) in QAT");
}

}  // namespace

Command add_study(CLI::App& app) {
  auto s = std::make_shared<StudyCommand>();
  qsr::study::StudyArgs& sa = s->args;
  auto* study = app.add_subcommand(
      "study",
      "the comparison, measured: float, post-training dynamic-range / float16 / int8 / int16x8 and QAT of the whole model "
      "and of every layer subset, word-length sweeps, fixed point, per-layer sensitivity, automatic mixed precision; "
      "PSNR/SSIM, frame time, weight bytes, training curves, a visual comparison; resumable, shardable (docs/STUDY.md)");
  study->add_option("--data", sa.data, "a folder holding Set5/, Set14/ and BSDS500/ (as ../shared/data)");
  study->add_option("--out", sa.out, "output folder: rows/<id>.json (one per row, kept between runs), study.json, README.md, results.csv, results.json");
  study->add_option("--budget", sa.budget_db, "the summary's PSNR budget: the fastest row and the shortest word length within this many dB of float on Set5 (default 0.1)")
      ->check(CLI::NonNegativeNumber);
  study->add_option("--shard", sa.shard, "i/N: run only rows i-1, i-1+N, ... (a cluster job array runs N of them; then `qsr study merge`)");
  s->merge = study->add_subcommand("merge", "join shards: copy the rows of the other study folders into the first and write its report");
  s->merge->add_option("dirs", s->merge_dirs, "study folders (same settings); the first receives the rows")->required();
  study->add_option("--from", sa.from, "the float model (default: the shipped x3 model)");
  study->add_flag("--quick", sa.quick, "a few minutes: the whole model only, bits 4 and 8, one fixed-point format, sensitivity at 4 bits, short QAT, Set5 only, 100x100 frames");
  study->add_option("--calib-images", sa.calib_images, "BSDS500 training images to calibrate on (default 8)")->check(CLI::PositiveNumber);
  study->add_option("--weight-rounding", sa.weight_rounding, "nearest (default) or gptq")->check(CLI::IsMember({"nearest", "gptq"}));
  add_qat_options(study, sa);
  study->add_flag("--no-mixed", [&sa](int64_t) { sa.mixed = false; }, "no automatic mixed-precision row");
  study->add_option("--train-float", sa.train_float,
                    "train the float baseline first, by the Keras example's recipe for this many epochs (100 is the example's; "
                    "about 7 s per epoch on 2 cores), instead of using --from")
      ->check(CLI::PositiveNumber);
  return {study, [s](const Env& env) { return run_study(*s, env); }};
}

}  // namespace qsr::cli
