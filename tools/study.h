// `qsr study`: the comparison the project reproduces, measured by this engine, as one command.
// This first part runs the post-training rows: the float model; dynamic-range, float16, int8
// and int16x8 for the whole model and for every non-empty subset of its convs; the word
// length sweep wN / aN / wNaN, N = 2..16 (per channel, and wNaN per tensor); fixed point;
// the per-layer sensitivity (only conv k at b bits). Shards (--shard i/N) run a
// deterministic slice of the rows; `qsr study merge` joins the shards' folders. Each row: PSNR and SSIM on Set5 and
// Set14 (`y` protocol) and BSDS500 test[50:60] (`keras` protocol), the time of one 640x360
// low-res frame on the integer engine, the stored weight bytes. Rows are written one file
// each (DIR/rows/<id>.json, atomically), so a rerun skips the rows already done; a failed row
// is recorded with its error and the rest continue. The report: DIR/README.md (a Markdown
// table), DIR/results.csv and DIR/results.json.
#pragma once
#include <string>
#include <vector>

namespace qsr::cli {

struct StudyArgs {
  std::string data;                      // holds Set5/, Set14/ and BSDS500/
  std::string out;                       // the output folder
  std::string from;                      // the float model
  std::string weight_rounding = "nearest";
  int calib_images = 8;
  bool quick = false;                    // whole model only, bits 4 and 8, Set5 only, 100x100 frames
  std::string shard;                     // "i/N": run rows i-1, i-1+N, ... only
  double budget_db = 0.1;                // the summary's PSNR budget against float (Set5)
};
int cmd_study(const StudyArgs& a);
// Copies the rows of dirs[1..] into dirs[0] (same study settings) and writes its report.
int cmd_study_merge(const std::vector<std::string>& dirs);

}  // namespace qsr::cli
