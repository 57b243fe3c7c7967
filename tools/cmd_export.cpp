// `qsr export`: a quantised model for embedding (docs/EMBEDDED.md): --format c writes
// self-contained integer-only C99, --format engine the integer engine's lowering for the
// inference-only library qsr_infer (quant/infer/qsr_infer.h).
#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "engine/cpu.h"
#include "engine/fileio.h"
#include "engine/parse.h"
#include "engine/random.h"
#include "quant/export/export_c.h"
#include "quant/infer/qsr_infer.h"
#include "quant/lower/int_engine.h"
#include "quant/ptq/qmodel.h"
#include "tools/cli.h"

namespace qsr::cli {

namespace {

struct ExportArgs {
  std::string model, out, format = "c", name = "espcn";
  int width = 640;                 // the stream width the arena is reported for
  std::string golden;              // low-res size of the golden vectors (c: default 37x23; engine: none)
  std::string isa = "avx2";        // engine: the kernel layouts to lower for
  std::string weight_storage = "packed";  // c: weights of at most 4 bits two per byte, or "bytes"
  uint64_t seed = 1337;
};

// Golden 8-bit luma for the engine format: a random low-res image and the integer engine's
// output for it, OUT.golden_in.raw and OUT.golden_out.raw.
void write_engine_golden(const ExportArgs& a, const quant::QuantModel& q, const quant::LowerOptions& lo, int gw, int gh) {
  QSR_CHECK(q.cfg.channels == 1, "--golden: the engine format's golden images are luma; this model has " +
                                     std::to_string(q.cfg.channels) + " channels");
  Rng rng(a.seed);
  std::string in(size_t(gw) * gh, '\0');
  Tensor x = Tensor::empty({1, gh, gw, 1});
  for (size_t i = 0; i < in.size(); ++i) {
    in[i] = static_cast<char>(rng.below(256));
    x.f32()[i] = float(uint8_t(in[i])) * (1.f / 255.f);
  }
  const Tensor y = quant::IntEngine(q, lo).forward(x);
  std::string o(size_t(y.numel()), '\0');
  for (size_t i = 0; i < o.size(); ++i)
    o[i] = static_cast<char>(std::lround(std::clamp(y.f32()[i], 0.f, 1.f) * 255.f));
  write_file_atomic(a.out + ".golden_in.raw", in);
  write_file_atomic(a.out + ".golden_out.raw", o);
  fmt::print("wrote {0}.golden_in.raw ({1}x{2} bytes) and {0}.golden_out.raw ({3}x{4}): the integer engine's output\n", a.out,
             gw, gh, gw * q.cfg.scale, gh * q.cfg.scale);
}

// `qsr export --format engine`: the integer engine's lowering as a model file of the
// inference-only library (quant/infer/qsr_infer.h), checked by opening it with the library.
int export_engine(const ExportArgs& a, const quant::QuantModel& q, const quant::LowerOptions& lo, int gw, int gh) {
  QSR_CHECK(a.width <= 65536, "--width " + std::to_string(a.width) + ": the inference library takes rows up to 65536 pixels");
  const Isa isa = parse_isa(a.isa);
  const quant::IntEngine lowered(q, kernel_set_lowering(isa), lo);
  const std::vector<uint8_t> blob = lowered.infer_model();
  // The library's own check of what it will read (and the arena it will ask for), on the scalar
  // twin, which runs every layout (the file may be for another machine); a vector's storage has
  // operator new's 16-byte alignment, as the library needs.
  qsr_infer_model m;
  const int rc = qsr_infer_open(&m, blob.data(), blob.size(), QSR_INFER_FORCE_SCALAR);
  QSR_CHECK(rc == QSR_INFER_OK, std::string("the written model does not open: ") + qsr_infer_strerror(rc));
  const std::filesystem::path out(a.out);
  if (out.has_parent_path()) std::filesystem::create_directories(out.parent_path());
  write_file_atomic(a.out, std::string_view(reinterpret_cast<const char*>(blob.data()), blob.size()));
  int64_t weights = 0;
  for (const auto& L : lowered.layers()) weights += int64_t(L.k) * L.k * L.cin * L.cout;
  fmt::print("{}: {} ({}), lowered for {} layouts\n{}", a.model, q.mode, q.cfg.describe(), isa_name(isa), lowered.describe());
  fmt::print("wrote {}: {} bytes ({} weights packed for the kernels, requantisation tables)\n", a.out, blob.size(), weights);
  for (int band : {QSR_INFER_DEFAULT_BAND, 2})
    fmt::print("  arena for {}-pixel-wide rows, band {}: {} bytes (any height)\n", a.width, band,
               qsr_infer_arena_bytes(&m, a.width, band));
  if (gw > 0) write_engine_golden(a, q, lo, gw, gh);
  return 0;
}

// Flash of the C export: its code, when a C compiler is at hand to measure it (cc -Os), and
// const data, recorded in the sidecar; the description for the report.
std::string measure_code(const std::filesystem::path& d, const std::string& name, nlohmann::json& side) {
  std::string code = "unknown (no cc to compile it)";
  if (std::system("command -v cc > /dev/null 2>&1 && command -v size > /dev/null 2>&1") != 0) return code;
  const std::string obj = (d / (name + ".o.tmp")).string(), txt = (d / (name + ".size.tmp")).string();
  const std::string cmd = "cc -std=c99 -Os -c '" + (d / (name + ".c")).string() + "' -o '" + obj + "' && size -A '" + obj + "' > '" + txt + "'";
  if (std::system(cmd.c_str()) == 0) {
    std::ifstream in(txt);
    int64_t text = 0, rodata = 0;
    for (std::string line; std::getline(in, line);) {  // "section size addr" per line, after a header
      std::istringstream ls(line);
      std::string sec;
      int64_t sz = 0;
      if (!(ls >> sec >> sz)) continue;
      if (sec == ".text") text += sz;
      if (sec.rfind(".rodata", 0) == 0) rodata += sz;
    }
    side["code_bytes"] = text;
    side["rodata_bytes"] = rodata;
    code = fmt::format("{} bytes of code (cc -Os, .text), {} bytes of const data (.rodata)", text, rodata);
  }
  std::filesystem::remove(obj);
  std::filesystem::remove(txt);
  return code;
}

// `qsr export --format c`: NAME.h, NAME.c, NAME_golden.h, NAME_check.c and NAME.json in OUT.
int export_c(const ExportArgs& a, const quant::QuantModel& q, int gw, int gh) {
  const quant::CExport e = quant::export_c(q, a.name, a.width, gw, gh, a.seed, a.weight_storage == "packed");
  std::filesystem::create_directories(a.out);
  const std::filesystem::path d(a.out);
  write_file_atomic((d / (a.name + ".h")).string(), e.header);
  write_file_atomic((d / (a.name + ".c")).string(), e.source);
  write_file_atomic((d / (a.name + "_golden.h")).string(), e.golden);
  write_file_atomic((d / (a.name + "_check.c")).string(), e.check);
  nlohmann::json side = e.sidecar;
  const std::string code = measure_code(d, a.name, side);
  write_file_atomic((d / (a.name + ".json")).string(), side.dump(1) + "\n");
  fmt::print("{}: {} ({})\n  flash: {} bytes of weights and requantisation constants; {}\n"
             "  RAM: {} bytes of arena for {}-pixel-wide rows (line buffers; any height), plus the caller's input and output\n"
             "wrote {}/{}.h, {}.c, {}_golden.h ({}x{}), {}_check.c, {}.json\n",
             a.model, q.mode, q.cfg.describe(), e.weight_bytes, code, e.arena_bytes, a.width, a.out, a.name, a.name, a.name, gw, gh,
             a.name, a.name);
  return 0;
}

int run_export(const ExportArgs& a, const Env& env) {
  QSR_CHECK(a.format == "c" || a.format == "engine", "--format " + a.format + ": expected c or engine");
  QSR_CHECK(quant::is_quant_checkpoint(a.model), a.model + ": not a quantised model (qsr quantize or qsr train --qat make one)");
  const std::string golden = a.golden.empty() ? (a.format == "c" ? "37x23" : "") : a.golden;
  int gw = 0, gh = 0;
  if (!golden.empty()) {
    const auto g = parse_size(golden);
    QSR_CHECK(g && g->first >= 1 && g->second >= 1 && g->first <= 1024 && g->second <= 1024,
              "--golden " + golden + ": expected WxH, e.g. 37x23");
    std::tie(gw, gh) = *g;
  }
  quant::QuantModel q = quant::load_quant_model(a.model);
  q.float_path.algo = env.conv;
  quant::LowerOptions lo;
  lo.conv_algo = env.conv;
  return a.format == "engine" ? export_engine(a, q, lo, gw, gh) : export_c(a, q, gw, gh);
}

}  // namespace

Command add_export(CLI::App& app) {
  auto a = std::make_shared<ExportArgs>();
  auto* sub = app.add_subcommand(
      "export",
      "a quantised model for embedding (docs/EMBEDDED.md): --format c writes self-contained integer-only C99 (line-buffered "
      "forward, golden vectors, JSON sidecar for hardware); --format engine writes the integer engine's lowering for the "
      "inference-only library qsr_infer (quant/infer/qsr_infer.h)");
  sub->add_option("--format", a->format, "c (default) or engine")->check(CLI::IsMember({"c", "engine"}));
  sub->add_option("--model", a->model, "quantised checkpoint (every conv on the integer path: int8, int16x8, wNaM, qM.N)")->required();
  sub->add_option("--out", a->out, "c: output folder (NAME.h, NAME.c, NAME_golden.h, NAME_check.c, NAME.json); engine: the model file, e.g. espcn.qsri")->required();
  sub->add_option("--name", a->name, "c: C identifier prefix (default espcn)");
  sub->add_option("--width", a->width, "low-res row width the reported arena is for (default 640)")->check(CLI::Range(1, 1 << 20));
  sub->add_option("--golden", a->golden, "low-res size of the golden vectors, WxH (c: default 37x23; engine: OUT.golden_in.raw and OUT.golden_out.raw, 8-bit luma, only when given)");
  sub->add_option("--seed", a->seed, "seed of the golden input");
  sub->add_option("--weight-storage", a->weight_storage,
                  "c: packed (default: weights of at most 4 bits two per byte, half the flash, unpacked in the inner loop) "
                  "or bytes (one per int8_t: faster)")
      ->check(CLI::IsMember({"packed", "bytes"}));
  sub->add_option("--isa", a->isa, "engine: the kernel layouts to lower for: avx2 (default; runs on AVX2 and scalar kernels), avx512 (AVX-512 VNNI and scalar) or scalar (no Winograd: smaller)")
      ->check(CLI::IsMember({"avx2", "avx512", "scalar"}));
  return {sub, [a](const Env& env) { return run_export(*a, env); }};
}

}  // namespace qsr::cli
