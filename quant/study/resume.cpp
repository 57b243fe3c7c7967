// A study kept between runs: its settings (OUT/study.json), the rows already done
// (OUT/rows/<id>.json), and `qsr study merge`, which joins the folders of shards (internal.h).
#include <fmt/format.h>

#include <fstream>
#include <sstream>

#include "engine/fileio.h"
#include "models/checkpoint.h"
#include "quant/study/internal.h"

namespace qsr::study {

namespace {

json read_json(const fs::path& p) {  // (json::exception when it does not parse)
  std::ifstream in(p);
  return json::parse(in);
}

}  // namespace

std::optional<json> try_read_json(const fs::path& p) {
  try {
    return read_json(p);
  } catch (const json::exception&) {
    return std::nullopt;
  }
}

// (The same study; --budget may be new.)
void write_manifest(const Ctx& c) {
  const std::string& out = c.a.out;
  const fs::path mf = fs::path(out) / "study.json";
  fs::create_directories(fs::path(out) / "rows");
  if (fs::exists(mf)) {
    const json old = try_read_json(mf).value_or(json());
    for (const char* k : {"model", "quick", "weight_rounding", "calibration_images", "nconv", "sets", "frame", "qat", "mixed", "train_float"})
      QSR_CHECK(old.contains(k) && old[k] == c.manifest[k],
                fmt::format("{} holds a study with other settings ({} differs); use another --out", out, k));
  }
  write_file_atomic(mf.string(), c.manifest.dump(1) + "\n");
}

std::vector<size_t> pending_rows(const std::vector<Row>& rows, const std::string& out, int shard, int nshards) {
  std::vector<size_t> mine;
  int kept = 0;
  for (size_t i = size_t(shard - 1); i < rows.size(); i += size_t(nshards)) {
    const fs::path file = row_file(out, rows[i].id);
    bool done = false;
    if (fs::exists(file)) {
      const std::optional<json> j = try_read_json(file);
      done = j && j->is_object() && j->value("id", "") == rows[i].id;
    }
    if (done) ++kept;
    else mine.push_back(i);
  }
  if (kept) fmt::print(stderr, "study: {} rows already in {}/rows are kept\n", kept, out);
  return mine;
}

void prepare_for_comparison(Ctx& c, const std::string& set5) {
  if (c.calib.empty()) c.calib = quant::calibration_inputs(c.bsds, c.fmodel->config().scale, c.a.calib_images);
  if (c.sets.empty()) c.sets.push_back(prepare_set("set5", set5, EvalProtocol::y, c.fmodel->config().scale));
}

namespace {

// Copies the rows of dirs[1..] that dirs[0] lacks into it (after checking the settings); returns
// how many.
int copy_rows(const std::vector<std::string>& dirs) {
  auto settings = [](const std::string& d) {
    json j = read_json(fs::path(d) / "study.json");
    j.erase("data"), j.erase("model");
    return j;
  };
  const json first = settings(dirs[0]);
  int copied = 0;
  for (size_t k = 1; k < dirs.size(); ++k) {
    QSR_CHECK(settings(dirs[k]) == first, dirs[k] + ": a study with other settings than " + dirs[0]);
    for (const auto& e : fs::directory_iterator(fs::path(dirs[k]) / "rows")) {
      const fs::path dst = fs::path(dirs[0]) / "rows" / e.path().filename();
      if (e.path().extension() != ".json" || fs::exists(dst)) continue;
      std::ifstream in(e.path());
      std::stringstream ss;
      ss << in.rdbuf();
      write_file_atomic(dst.string(), ss.str());
      ++copied;
    }
  }
  return copied;
}

}  // namespace

// Copies the rows of dirs[1..] into dirs[0] (same study settings) and writes its report.
int cmd_study_merge(const std::vector<std::string>& dirs, ConvAlgo conv_algo) {
  QSR_CHECK(!dirs.empty(), "qsr study merge: name the study folders (the first receives the others' rows)");
  for (const auto& d : dirs) QSR_CHECK(fs::exists(fs::path(d) / "study.json"), d + ": no study.json (not a qsr study folder)");
  const int copied = copy_rows(dirs);
  fmt::print(stderr, "study merge: {} rows copied into {}\n", copied, dirs[0]);
  // The visual comparison needs the model and the data named in study.json: when they are at hand.
  const json m = read_json(fs::path(dirs[0]) / "study.json");
  StudyArgs a;
  a.out = dirs[0];
  a.from = m.value("model", "");
  a.data = m.value("data", "");
  a.weight_rounding = m.value("weight_rounding", "nearest");
  a.calib_images = m.value("calibration_images", 8);
  a.quick = m.value("quick", false);
  a.conv_algo = conv_algo;
  const std::string set5 = (fs::path(a.data) / "Set5").string(), bsds = (fs::path(a.data) / "BSDS500").string();
  if (!fs::exists(a.from) || !fs::is_directory(set5) || !fs::is_directory(bsds)) {
    fmt::print(stderr, "note: the model or data of {} is not at hand; the report has no visual comparison\n", dirs[0]);
    return write_report(dirs[0], nullptr) ? 1 : 0;
  }
  auto fmodel = load_model(a.from);
  fmodel->set_conv_algo(conv_algo);
  Ctx c{a, m, fmodel.get(), {}, {}, 0, 0, {}, {}, bsds, {}, {}};
  prepare_for_comparison(c, set5);
  return write_report(dirs[0], &c) ? 1 : 0;
}

}  // namespace qsr::study
