// What the files of the study share (the command: study.h; the method: docs/STUDY.md).
//   plan.cpp        the rows and their ids, and the parsers of the settings that make them
//   run.cpp         one post-training or float row: build, score, time
//   train.cpp       the training rows (float fine-tuning, QAT) and the float baseline
//   mixed.cpp       the automatic mixed precision
//   resume.cpp      study.json, the rows already done, `qsr study merge`
//   report.cpp      README.md, results.csv, results.json
//   plots.cpp       the gnuplot plots
//   comparison.cpp  the visual comparison (plots/comparison.png)
//   study.cpp       `qsr study`: the settings, the prepared inputs, the loop over the rows
#pragma once
#include <chrono>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/stats.h"
#include "models/dataset.h"
#include "models/espcn.h"
#include "models/evaluate.h"
#include "models/train.h"
#include "models/upscale.h"
#include "quant/ptq/qmodel.h"
#include "quant/study/study.h"

namespace qsr::study {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;


// ---- plan.cpp

struct Row {
  std::string id, kind, mode, layers;  // layers: "all" or conv numbers, e.g. "13"
  bool per_channel = true;
};

// Layer subsets as conv numbers: every non-empty subset of n convs, the whole model ("all") first.
std::vector<std::string> subsets(int n, bool quick);
// The rows of a study, in order, from its settings (study.json).
std::vector<Row> plan(const json& m);
std::vector<int> layers_of(const std::string& s);  // "13" -> {0, 2}; "all" -> {} (every conv)
std::string layer_list(const std::string& digits);  // "23" -> "2,3"; "all" stays
// Parses a list of layer sets "all,1,23" (conv numbers as digits) for --qat-layers.
std::vector<std::string> parse_layer_sets(const std::string& s, int nconv);
// Parses --qat-bits: word lengths "3,4,6" (2..16), or "none" (no word-length sweep).
std::vector<int> parse_word_lengths(const std::string& s);
// "i/N" -> (i, N), 1 <= i <= N.
std::pair<int, int> parse_shard(const std::string& s);
// OUT/rows/<id>.json: the file of a row.
fs::path row_file(const std::string& out, const std::string& id);

// ---- run.cpp

// An evaluation set, prepared once (decoded, low-res made, bicubic scored) for every row.
struct EvalSet {
  std::string name;
  std::vector<EvalInput> inputs;
};
// The set `name`: the files eval_files(dir) gives for protocol p (every test image when `all`),
// scored under protocol `as` (p unless given).
EvalSet prepare_set(const std::string& name, const std::string& dir, EvalProtocol p, int scale, bool all = false,
                    std::optional<EvalProtocol> as = std::nullopt);

// Thrown when training was interrupted (Ctrl-C): the study stops, the row is not written.
struct Interrupted {};

// What every row needs: the settings, the float model, calibration images, the prepared
// evaluation sets, the timed inputs, and (loaded on first use) the training data.
struct Ctx {
  const StudyArgs& a;
  json manifest;
  Espcn* fmodel = nullptr;    // its convs run a.conv_algo
  std::vector<Tensor> calib;
  std::vector<EvalSet> sets;  // sets[0] is Set5
  int fw = 0, fh = 0;         // the timed frame (low-res)
  Tensor frame;               // the timed frame: fw x fh uniform random pixels (seed 7)
  Tensor example;             // the Keras example's first test image, low-res: the other timed input
  std::string bsds;           // the BSDS500 root
  std::unique_ptr<Dataset> train_ds;
  std::vector<ValItem> val;

  const Dataset& train_data();
};

// The mean PSNR of `net` on a prepared set.
double psnr_on(const Network& net, const EvalSet& set);
// A post-training quantised model of the float one: the mode, on `layers` (empty: all),
// calibrated on the study's images, weights rounded as --weight-rounding says.
std::shared_ptr<quant::QuantModel> ptq_model(Ctx& c, const std::string& mode, const std::vector<int>& layers, bool per_channel);
// The network a user gets for a quantised model: the integer engine (its float convs run
// conv_algo). Records engine and sizes in j.
Network engine_net(const std::shared_ptr<quant::QuantModel>& q, ConvAlgo conv_algo, json& j);
// The float model on the f32 engine. Records engine and sizes in j.
Network float_net(Espcn& m, json& j);
// Scores `net` on every set and times it: PSNR / SSIM per set, the frame and the example image.
void measure(const Network& net, Ctx& c, json& j);
// Runs one row: its JSON (throws on failure; Interrupted when training was interrupted).
json run_row(const Row& row, Ctx& c);

// ---- train.cpp

// The training rows: the float model fine-tuned, or QAT (train.cpp).
json run_train_row(const Row& row, Ctx& c, json j);
// --train-float N: the float baseline; returns its best checkpoint.
std::string train_float_baseline(const StudyArgs& a, const std::string& bsds, const std::string& arch);

// ---- mixed.cpp

json run_mixed_row(Ctx& c, json j);

// ---- resume.cpp

// The JSON in a file, or nothing when it does not parse.
std::optional<json> try_read_json(const fs::path& p);
// Writes OUT/study.json from c.manifest, after checking that a study already in OUT has the
// same settings.
void write_manifest(const Ctx& c);
// This shard's rows not yet done (in OUT/rows): every nshards-th from shard - 1.
std::vector<size_t> pending_rows(const std::vector<Row>& rows, const std::string& out, int shard, int nshards);
// What the visual comparison needs when no row runs: the calibration images and Set5.
void prepare_for_comparison(Ctx& c, const std::string& set5);

// ---- report.cpp

// The report of the rows present in out/rows; returns the number of failed rows.
int write_report(const std::string& out, Ctx* c);
// Rows with a Set5 PSNR (not failed), and that PSNR.
bool has_set5(const json& r);
double psnr_set5(const json& r);
// The per-channel wNaN sweep row of the shortest word length N within `budget` dB of the float
// PSNR `float_psnr` on Set5, N in *bits; null (and 0) when none is.
const json* shortest_sweep_within(const std::vector<json>& results, double float_psnr, double budget, int* bits = nullptr);

// ---- plots.cpp

// The gnuplot plots; returns the names of the plots made (plots/<name>.png).
std::vector<std::string> draw_plots(const std::string& out, const std::vector<json>& results);

// ---- comparison.cpp

// plots/comparison.png; returns the caption, or "" when a row it needs is missing.
std::string draw_comparison(const std::string& out, Ctx& c, const std::vector<json>& results, double budget);

}  // namespace qsr::study
