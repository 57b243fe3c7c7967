// `qsr study`: the comparison the project reproduces, measured by this engine, as one command
// (docs/STUDY.md). Rows: the float model (given, or trained first); dynamic-range, float16,
// int8 and int16x8 for the whole model and for every non-empty subset of its convs; the word
// length sweep wN / aN / wNaN, N = 2..16 (per channel, and wNaN per tensor); fixed point; the
// per-layer sensitivity (only conv k at b bits); the float model fine-tuned, QAT of the layer
// sets and a QAT word-length sweep (with training curves); the automatic mixed precision.
// Each row: PSNR and SSIM on Set5, Set14 and the BSDS500 test set (`y` protocol) and BSDS500
// test[50:60] (`keras` protocol), the time of a 640x360 low-res frame and of the Keras
// example's test image on the engine a user gets, the stored and packed weight bytes, the
// time to build it. Rows are written one file each (DIR/rows/<id>.json, atomically), so a
// rerun skips the rows already done; a failed row is recorded with its error and the rest
// continue. Shards (--shard i/N) run a deterministic slice of the rows; `qsr study merge`
// joins the shards' folders. The report: DIR/README.md (tables, summary, plots, the visual
// comparison), DIR/results.csv and DIR/results.json.
#pragma once
#include <string>
#include <vector>

#include "engine/ops.h"

namespace qsr::study {

struct StudyArgs {
  std::string data;                      // holds Set5/, Set14/ and BSDS500/
  std::string out;                       // the output folder
  std::string from;                      // the float model
  std::string weight_rounding = "nearest";
  int calib_images = 8;
  bool quick = false;                    // whole model only, bits 4 and 8, Set5 only, 100x100 frames
  std::string shard;                     // "i/N": run rows i-1, i-1+N, ... only
  double budget_db = 0.1;                // the summary's PSNR budget against float (Set5); also the mixed precision's
  // Quantisation-aware training rows (docs/STUDY.md).
  bool qat = true;
  std::string qat_mode = "int8";         // as qsr train --qat
  std::string qat_layers;                // layer sets "all,1,23"; empty: all and every non-empty subset (--quick: all)
  std::string qat_bits;                  // the QAT word-length sweep "3,4,5,6" (--quick: 4), or "none"
  int qat_epochs = 0, qat_steps = 0;     // 0: 4 x 25 (--quick: 2 x 10)
  int qat_batch = 32, qat_crop = 144;    // batch, high-res crop side
  float qat_lr = 1e-4f;                  // Adam, cosine decay to lr / 100 (the layer-set rows)
  float qat_sweep_lr = 3e-4f;            // the same for the word-length sweep's rows
  bool qat_learn_scale = false;          // LSQ activation scales
  bool mixed = true;                     // the automatic mixed-precision row
  int train_float = 0;                   // > 0: train the float baseline first (Keras recipe, this many epochs)
  // The 3x3 convs' algorithm of every model the study builds: the float models, the quantised
  // models' float path and the integer engines (the program passes QSR_CONV's value).
  ConvAlgo conv_algo = ConvAlgo::automatic;
};
int cmd_study(const StudyArgs& a);
// Copies the rows of dirs[1..] into dirs[0] (same study settings) and writes its report (its
// visual comparison's models run conv_algo).
int cmd_study_merge(const std::vector<std::string>& dirs, ConvAlgo conv_algo = ConvAlgo::automatic);

}  // namespace qsr::study

