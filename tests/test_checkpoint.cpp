// Orthogonal initialiser (Keras semantics) and safetensors checkpoints:
// round trips, the on-disk layout, files laid out as Python's safetensors
// writes them, every refusal, and atomic saving.
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <algorithm>
#include <filesystem>
#include <functional>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/autograd.h"
#include "layers/init.h"
#include "models/checkpoint.h"
#include "models/espcn.h"
#include "tests/test_util.h"

using namespace qsr;
using Catch::Matchers::Contains;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// ---- helpers ----------------------------------------------------------------------

// A fresh directory under the system temp directory, removed at scope end.
class TempDir {
 public:
  TempDir() {
    static int counter = 0;
    path_ = fs::temp_directory_path() /
            ("qsr_test_checkpoint_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const fs::path& path() const { return path_; }
  // Names of entries that look like our temporary files.
  std::vector<std::string> temp_files() const {
    std::vector<std::string> r;
    for (auto& e : fs::directory_iterator(path_)) {
      std::string n = e.path().filename().string();
      if (n.find(".tmp") != std::string::npos) r.push_back(n);
    }
    return r;
  }

 private:
  fs::path path_;
};

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& b) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

void put_u64(std::vector<uint8_t>& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

// Bytes exactly as Python's safetensors lays a file out: u64 LE header length,
// the JSON header padded with spaces to a multiple of 8, then the data.
std::vector<uint8_t> safetensors_bytes(std::string header, const std::vector<uint8_t>& data, bool pad = true) {
  if (pad) header.append((8 - header.size() % 8) % 8, ' ');
  std::vector<uint8_t> out;
  put_u64(out, header.size());
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

template <class T> void append_le(std::vector<uint8_t>& out, const std::vector<T>& v) {
  const auto* p = reinterpret_cast<const uint8_t*>(v.data());  // the host is little-endian (checked in checkpoint.cpp)
  out.insert(out.end(), p, p + v.size() * sizeof(T));
}

// load_safetensors must refuse `path` with a one-line qsr::Error naming the
// file and containing every one of `parts`.
void expect_refusal(const std::string& path, const std::vector<std::string>& parts, bool model = false) {
  std::string msg;
  try {
    if (model)
      load_model(path);
    else
      load_safetensors(path);
  } catch (const Error& e) {
    msg = e.what();
  }
  INFO("message: " << msg);
  REQUIRE(!msg.empty());
  CHECK_THAT(msg, Contains(fs::path(path).filename().string()));
  CHECK(msg.find('\n') == std::string::npos);
  for (auto& p : parts) CHECK_THAT(msg, Contains(p));
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// The weight viewed as (rows x cols), cols = last dimension.
struct MatView {
  const float* p;
  int64_t rows, cols;
  double at(int64_t i, int64_t j) const { return p[i * cols + j]; }
};
MatView as_matrix(const Tensor& w) {
  int64_t cols = w.dim(w.ndim() - 1);
  return {w.f32(), w.numel() / cols, cols};
}

// max |G - gain^2 I| where G is the Gram matrix of the columns (rows >= cols)
// or of the rows (rows < cols).
double orthonormality_error(const Tensor& w, double gain = 1) {
  MatView m = as_matrix(w);
  const bool by_cols = m.rows >= m.cols;
  const int64_t n = by_cols ? m.cols : m.rows, len = by_cols ? m.rows : m.cols;
  double worst = 0;
  for (int64_t a = 0; a < n; ++a)
    for (int64_t b = a; b < n; ++b) {
      double s = 0;
      for (int64_t k = 0; k < len; ++k) s += by_cols ? m.at(k, a) * m.at(k, b) : m.at(a, k) * m.at(b, k);
      worst = std::max(worst, std::fabs(s - (a == b ? gain * gain : 0.0)));
    }
  return worst;
}

EspcnConfig odd_config() {
  EspcnConfig c;
  c.scale = 2;
  c.channels = 3;
  c.features = {16, 8};
  c.kernels = {3, 1, 5};
  c.activation = Activation::tanh;
  c.activate_last = false;
  return c;
}

void check_same_config(const EspcnConfig& a, const EspcnConfig& b) {
  CHECK(a.scale == b.scale);
  CHECK(a.channels == b.channels);
  CHECK(a.features == b.features);
  CHECK(a.kernels == b.kernels);
  CHECK(a.activation == b.activation);
  CHECK(a.activate_last == b.activate_last);
}

void check_same_weights(Espcn& a, Espcn& b) {
  auto pa = a.named_parameters(), pb = b.named_parameters();
  REQUIRE(pa.size() == pb.size());
  for (size_t i = 0; i < pa.size(); ++i) {
    INFO(pa[i].first);
    CHECK(pa[i].first == pb[i].first);
    CHECK(qsr_test::bitwise_equal(pa[i].second.value(), pb[i].second.value()));
  }
}

}  // namespace

// ---- orthogonal initialiser --------------------------------------------------------

TEST_CASE("orthogonal: orthonormal columns when rows >= cols", "[init]") {
  Rng rng(qsr_test::base_seed());
  Tensor w({3, 3, 64, 32});  // 576 x 32
  orthogonal_(w, rng);
  CHECK(orthonormality_error(w) < 1e-5);
  Tensor sq({1, 1, 16, 16});  // square: both rows and columns orthonormal
  orthogonal_(sq, rng);
  CHECK(orthonormality_error(sq) < 1e-5);
  MatView m = as_matrix(sq);
  double worst = 0;
  for (int64_t j = 0; j < 16; ++j)
    for (int64_t k = j; k < 16; ++k) {
      double s = 0;
      for (int64_t i = 0; i < 16; ++i) s += m.at(j, i) * m.at(k, i);
      worst = std::max(worst, std::fabs(s - (j == k ? 1.0 : 0.0)));
    }
  CHECK(worst < 1e-5);
}

TEST_CASE("orthogonal: orthonormal rows when rows < cols as in ESPCN conv1", "[init]") {
  Rng rng(qsr_test::base_seed());
  Tensor w({5, 5, 1, 64});  // 25 x 64
  orthogonal_(w, rng);
  CHECK(orthonormality_error(w) < 1e-5);
  Tensor last({3, 3, 32, 9});  // 288 x 9
  orthogonal_(last, rng);
  CHECK(orthonormality_error(last) < 1e-5);
}

TEST_CASE("orthogonal: gain and 2-D weights", "[init]") {
  Rng r1(7), r2(7);
  Tensor a({40, 10}), b({40, 10});
  orthogonal_(a, r1);
  orthogonal_(b, r2, 2.5f);
  CHECK(orthonormality_error(a) < 1e-5);
  CHECK(orthonormality_error(b, 2.5) < 1e-4);
  for (int64_t i = 0; i < a.numel(); ++i) CHECK(b.f32()[i] == Approx(2.5f * a.f32()[i]).margin(1e-6));
}

TEST_CASE("orthogonal: Keras QR semantics", "[init]") {
  // Keras draws A (max x min) row-major from the normal, takes Q with
  // sign(diag(R)) folded in, i.e. the unique Q whose R = Q^T A has a positive
  // diagonal; for rows < cols the weight is Q^T.
  for (auto shape : {Shape{3, 3, 4, 5}, Shape{5, 5, 1, 64}}) {
    const uint64_t seed = 99;
    Tensor w(shape);
    Rng rng(seed);
    orthogonal_(w, rng);
    MatView m = as_matrix(w);
    const bool transposed = m.rows < m.cols;
    const int64_t big = std::max(m.rows, m.cols), small = std::min(m.rows, m.cols);
    auto q = [&](int64_t i, int64_t j) { return transposed ? m.at(j, i) : m.at(i, j); };  // big x small
    Rng again(seed);
    std::vector<double> a(static_cast<size_t>(big * small));
    for (auto& x : a) x = again.normal();
    for (int64_t i = 0; i < small; ++i)
      for (int64_t j = 0; j < small; ++j) {
        double r = 0;  // (Q^T A)(i, j)
        for (int64_t k = 0; k < big; ++k) r += q(k, i) * a[static_cast<size_t>(k * small + j)];
        INFO("shape " << shape_str(shape) << " R(" << i << ", " << j << ") = " << r);
        if (i > j) CHECK(std::fabs(r) < 1e-4);
        if (i == j) CHECK(r > 1e-3);
      }
  }
}

TEST_CASE("orthogonal: deterministic per seed and seeds differ", "[init]") {
  Tensor a({3, 3, 8, 8}), b({3, 3, 8, 8}), c({3, 3, 8, 8});
  Rng r1(5), r2(5), r3(6);
  orthogonal_(a, r1);
  orthogonal_(b, r2);
  orthogonal_(c, r3);
  CHECK(qsr_test::bitwise_equal(a, b));
  CHECK(!qsr_test::bitwise_equal(a, c));
}

TEST_CASE("orthogonal: refuses 1-D weights", "[init]") {
  Rng rng(1);
  Tensor b({8});
  CHECK_THROWS_AS(orthogonal_(b, rng), Error);
}

TEST_CASE("orthogonal: Espcn init_orthogonal", "[init]") {
  Espcn m, m2, m3;
  m.init_orthogonal(42);
  m2.init_orthogonal(42);
  m3.init_orthogonal(43);
  check_same_weights(m, m2);
  CHECK(!qsr_test::bitwise_equal(m.convs[0]->weight.value(), m3.convs[0]->weight.value()));
  for (auto& c : m.convs) {
    INFO(c->describe());
    CHECK(orthonormality_error(c->weight.value()) < 1e-5);
    const Tensor& b = c->bias.value();
    for (int64_t i = 0; i < b.numel(); ++i) CHECK(b.f32()[i] == 0.f);
  }
  // Different layers draw from one stream: conv2 and conv3 differ in shape,
  // but two layers of the same shape must not repeat the same matrix.
  EspcnConfig cfg;
  cfg.features = {8, 8, 8};
  cfg.kernels = {3, 3, 3, 3};
  Espcn same(cfg);
  same.init_orthogonal(1);
  CHECK(!qsr_test::bitwise_equal(same.convs[1]->weight.value(), same.convs[2]->weight.value()));
}

// ---- safetensors -------------------------------------------------------------------

TEST_CASE("checkpoint: model round trip is bitwise", "[checkpoint]") {
  TempDir dir;
  for (const EspcnConfig& cfg : {EspcnConfig{}, odd_config()}) {
    Espcn m(cfg);
    m.init_orthogonal(3);
    // Non-zero biases too.
    Rng rng(11);
    for (auto& c : m.convs) qsr_test::fill_uniform(c->bias.value().f32(), c->bias.value().numel(), rng);
    const std::string path = dir.file("model.safetensors");
    save_model(path, m);
    auto back = load_model(path);
    check_same_config(back->config(), cfg);
    check_same_weights(m, *back);
    // The loaded model computes the same thing.
    Tensor x = qsr_test::random_tensor({1, 6, 5, cfg.channels}, rng, 0.f, 1.f);
    NoGradGuard ng;
    Var y1 = m.forward(Var(x)), y2 = back->forward(Var(x));
    CHECK(qsr_test::bitwise_equal(y1.value(), y2.value()));
  }
  CHECK(dir.temp_files().empty());
}

TEST_CASE("checkpoint: extra metadata and tensors round trip", "[checkpoint]") {
  TempDir dir;
  Espcn m;
  m.init_glorot(9);
  json extra = {{"epoch", 17},
                {"lr", 0.00125},
                {"note", "hello, world"},
                {"looks_like_json", "123"},
                {"flags", {true, false}},
                {"nested", {{"a", {1, 2, 3}}, {"b", nullptr}}},
                {"nothing", nullptr},
                {"unicode", "\xc3\xa9t\xc3\xa9"}};
  std::vector<std::pair<std::string, Tensor>> extra_t;
  for (auto& [name, v] : m.named_parameters()) {
    Tensor mm = v.value().clone();
    mm.fill(0.25f);
    extra_t.emplace_back("adam.m." + name, mm);
  }
  Tensor it = Tensor::zeros({1}, DType::i32);
  it.data<int32_t>()[0] = 1234;
  extra_t.emplace_back("adam.iterations", it);
  const std::string path = dir.file("resume.safetensors");
  save_model(path, m, extra, extra_t);

  Checkpoint raw;
  auto back = load_model(path, &raw);
  check_same_weights(m, *back);
  for (auto& [k, v] : extra.items()) {
    INFO(k);
    REQUIRE(raw.meta.contains(k));
    CHECK(raw.meta[k] == v);
  }
  CHECK(raw.meta["looks_like_json"].is_string());
  CHECK(raw.meta["format"] == "qsr-espcn");
  CHECK(raw.meta["format_version"] == "1");
  CHECK(raw.meta["architecture"] == espcn_config_to_json(m.config()));
  CHECK(!raw.meta.contains("qsr.json_keys"));
  // Parameters first, then the extras, in save order.
  REQUIRE(raw.tensors.size() == 8 + extra_t.size());
  CHECK(raw.tensors[0].first == "conv1.kernel");
  CHECK(raw.tensors[8].first == "adam.m.conv1.kernel");
  REQUIRE(raw.find("adam.iterations"));
  CHECK(raw.find("adam.iterations")->data<int32_t>()[0] == 1234);
  for (auto& [name, t] : extra_t) {
    INFO(name);
    REQUIRE(raw.find(name));
    CHECK(qsr_test::bitwise_equal(*raw.find(name), t));
  }
  CHECK(raw.find("nope") == nullptr);
}

TEST_CASE("checkpoint: every dtype and odd shapes round trip", "[checkpoint]") {
  TempDir dir;
  Rng rng(5);
  Checkpoint ck;
  ck.meta = {{"k", "v"}};
  Tensor f = qsr_test::random_tensor({2, 3}, rng);
  ck.tensors.emplace_back("f32", f);
  ck.tensors.emplace_back("f16", qsr_test::random_tensor({5}, rng).to(DType::f16));  // 10 bytes: unaligned after
  Tensor i8 = Tensor::zeros({3}, DType::i8);
  i8.data<int8_t>()[0] = -128, i8.data<int8_t>()[2] = 127;
  ck.tensors.emplace_back("i8", i8);
  Tensor u8 = Tensor::zeros({2, 2}, DType::u8);
  u8.data<uint8_t>()[3] = 255;
  ck.tensors.emplace_back("u8", u8);
  Tensor i16 = Tensor::zeros({1}, DType::i16);
  i16.data<int16_t>()[0] = -32768;
  ck.tensors.emplace_back("i16", i16);
  Tensor i32 = Tensor::zeros({}, DType::i32);  // a scalar
  i32.data<int32_t>()[0] = -7;
  ck.tensors.emplace_back("scalar", i32);
  ck.tensors.emplace_back("empty", Tensor::zeros({0, 4}));
  const std::string path = dir.file("all.safetensors");
  save_safetensors(path, ck);
  Checkpoint back = load_safetensors(path);
  CHECK(back.meta == ck.meta);
  REQUIRE(back.tensors.size() == ck.tensors.size());
  for (size_t i = 0; i < ck.tensors.size(); ++i) {
    INFO(ck.tensors[i].first);
    CHECK(back.tensors[i].first == ck.tensors[i].first);
    CHECK(qsr_test::bitwise_equal(back.tensors[i].second, ck.tensors[i].second));
  }
  // No metadata at all round trips too.
  Checkpoint bare;
  bare.tensors.emplace_back("x", f);
  save_safetensors(path, bare);
  Checkpoint b2 = load_safetensors(path);
  CHECK(b2.meta.is_object());
  CHECK(b2.meta.empty());
}

TEST_CASE("checkpoint: file layout follows safetensors", "[checkpoint]") {
  TempDir dir;
  Espcn m(odd_config());
  m.init_orthogonal(1);
  const std::string path = dir.file("layout.safetensors");
  save_model(path, m, {{"epoch", 3}, {"name", "run-a"}});
  std::vector<uint8_t> b = read_bytes(path);
  REQUIRE(b.size() >= 8);
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t(b[i]) << (8 * i);
  CHECK(n % 8 == 0);
  REQUIRE(8 + n <= b.size());
  std::string text(b.begin() + 8, b.begin() + 8 + static_cast<std::ptrdiff_t>(n));
  CHECK(text.front() == '{');
  const size_t close = text.find_last_of('}');
  CHECK(text.find_first_not_of(' ', close + 1) == std::string::npos);  // only space padding
  json h = json::parse(text);
  // Metadata: strings only; non-strings as JSON text, listed in qsr.json_keys.
  const json& md = h["__metadata__"];
  for (auto& [k, v] : md.items()) CHECK(v.is_string());
  CHECK(md["format"] == "qsr-espcn");
  CHECK(md["format_version"] == "1");
  CHECK(md["name"] == "run-a");
  CHECK(md["epoch"] == "3");
  CHECK(json::parse(md["architecture"].get<std::string>()) == espcn_config_to_json(m.config()));
  json keys = json::parse(md["qsr.json_keys"].get<std::string>());
  CHECK(keys == json({"architecture", "epoch"}));
  // Tensors: F32, HWIO shapes, contiguous offsets covering the data exactly, raw little-endian floats.
  uint64_t pos = 0;
  for (auto& [name, v] : m.named_parameters()) {
    INFO(name);
    REQUIRE(h.contains(name));
    const json& e = h[name];
    CHECK(e["dtype"] == "F32");
    CHECK(e["shape"].get<Shape>() == v.value().shape());
    CHECK(e["data_offsets"][0].get<uint64_t>() == pos);
    pos = e["data_offsets"][1].get<uint64_t>();
    const float* p = v.value().f32();
    CHECK(std::memcmp(b.data() + 8 + n + e["data_offsets"][0].get<uint64_t>(), p, v.value().nbytes()) == 0);
  }
  CHECK(h["conv1.kernel"]["shape"] == json({3, 3, 3, 16}));
  CHECK(h["conv3.kernel"]["shape"] == json({5, 5, 8, 12}));
  CHECK(8 + n + pos == b.size());
}

TEST_CASE("checkpoint: a file laid out by Python safetensors loads", "[checkpoint]") {
  // What safetensors.numpy.save_file({"b": int32 [3], "a": float32 [2, 2]},
  // metadata={"author": "x"}) produces: compact JSON, keys sorted, space padding;
  // the data in another order than the keys.
  TempDir dir;
  std::vector<uint8_t> data;
  append_le(data, std::vector<float>{1.5f, -2.f, 0.f, 3.25f});
  append_le(data, std::vector<int32_t>{7, -8, 9});
  std::string header =
      R"({"__metadata__":{"author":"x"},"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
      R"("b":{"dtype":"I32","shape":[3],"data_offsets":[16,28]}})";
  const std::string path = dir.file("python.safetensors");
  write_bytes(path, safetensors_bytes(header, data));
  Checkpoint ck = load_safetensors(path);
  CHECK(ck.meta == json({{"author", "x"}}));
  REQUIRE(ck.tensors.size() == 2);
  const Tensor* a = ck.find("a");
  const Tensor* b = ck.find("b");
  REQUIRE(a);
  REQUIRE(b);
  CHECK(a->shape() == Shape{2, 2});
  CHECK(a->f32()[3] == 3.25f);
  CHECK(b->dtype() == DType::i32);
  CHECK(b->data<int32_t>()[1] == -8);

  // Data order differing from key order, no metadata, no padding needed or given.
  std::vector<uint8_t> d2;
  append_le(d2, std::vector<int32_t>{1, 2});
  append_le(d2, std::vector<float>{4.f});
  std::string h2 = R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},"z":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}})";
  write_bytes(path, safetensors_bytes(h2, d2, false));
  Checkpoint ck2 = load_safetensors(path);
  REQUIRE(ck2.tensors.size() == 2);
  CHECK(ck2.tensors[0].first == "z");  // data-section order
  CHECK(ck2.find("a")->f32()[0] == 4.f);
  CHECK(ck2.meta.empty());

  // A model file written by another tool: metadata all strings, no qsr.json_keys.
  Espcn m;
  m.init_orthogonal(2);
  json h3 = json::object();
  h3["__metadata__"] = {{"format", "qsr-espcn"}, {"format_version", "1"},
                        {"architecture", espcn_config_to_json(m.config()).dump()}};
  std::vector<uint8_t> d3;
  for (auto& [name, v] : m.named_parameters()) {
    json shape = v.value().shape();
    h3[name] = {{"dtype", "F32"}, {"shape", shape}, {"data_offsets", {d3.size(), d3.size() + v.value().nbytes()}}};
    const auto* p = static_cast<const uint8_t*>(v.value().raw());
    d3.insert(d3.end(), p, p + v.value().nbytes());
  }
  write_bytes(path, safetensors_bytes(h3.dump(), d3));
  auto back = load_model(path);
  check_same_weights(m, *back);
}

TEST_CASE("checkpoint: refuses broken files", "[checkpoint]") {
  TempDir dir;
  const std::string path = dir.file("broken.safetensors");
  std::vector<uint8_t> f32x4;
  append_le(f32x4, std::vector<float>{1, 2, 3, 4});
  auto one = [](const std::string& entry) { return R"({"t":)" + entry + "}"; };

  SECTION("missing file") { expect_refusal(dir.file("absent.safetensors"), {"cannot open", "No such file"}); }
  SECTION("a directory") {
    fs::create_directory(dir.file("d.safetensors"));
    expect_refusal(dir.file("d.safetensors"), {"directory"});
  }
  SECTION("empty and too short") {
    write_bytes(path, {});
    expect_refusal(path, {"too short", "0 bytes"});
    write_bytes(path, {1, 0, 0});
    expect_refusal(path, {"too short", "3 bytes"});
  }
  SECTION("header length beyond the file") {
    std::vector<uint8_t> b = safetensors_bytes(one(R"({"dtype":"F32","shape":[4],"data_offsets":[0,16]})"), f32x4);
    b[0] = 0xff, b[1] = 0xff;
    write_bytes(path, b);
    expect_refusal(path, {"header length 65535", "past the end of the file"});
    std::vector<uint8_t> huge;
    put_u64(huge, ~uint64_t(0));
    write_bytes(path, huge);
    expect_refusal(path, {"header length", "past the end of the file"});
  }
  SECTION("header not JSON") {
    write_bytes(path, safetensors_bytes("{\"t\": nope\n}", f32x4));
    expect_refusal(path, {"not valid JSON"});
    write_bytes(path, safetensors_bytes("", {}));
    expect_refusal(path, {"not valid JSON"});
  }
  SECTION("header not an object") {
    write_bytes(path, safetensors_bytes("[1, 2, 3]", {}));
    expect_refusal(path, {"not a JSON object"});
  }
  SECTION("entry not an object") {
    write_bytes(path, safetensors_bytes(one("42"), {}));
    expect_refusal(path, {"tensor 't'", "not a JSON object"});
  }
  SECTION("missing dtype, shape or data_offsets") {
    write_bytes(path, safetensors_bytes(one(R"({"shape":[4],"data_offsets":[0,16]})"), f32x4));
    expect_refusal(path, {"tensor 't'", "missing 'dtype'"});
    write_bytes(path, safetensors_bytes(one(R"({"dtype":"F32","data_offsets":[0,16]})"), f32x4));
    expect_refusal(path, {"tensor 't'", "missing 'shape'"});
    write_bytes(path, safetensors_bytes(one(R"({"dtype":"F32","shape":[4]})"), f32x4));
    expect_refusal(path, {"tensor 't'", "missing 'data_offsets'"});
  }
  SECTION("unsupported dtype") {
    write_bytes(path, safetensors_bytes(one(R"({"dtype":"BF16","shape":[8],"data_offsets":[0,16]})"), f32x4));
    expect_refusal(path, {"tensor 't'", "unsupported dtype 'BF16'"});
    write_bytes(path, safetensors_bytes(one(R"({"dtype":"F64","shape":[2],"data_offsets":[0,16]})"), f32x4));
    expect_refusal(path, {"unsupported dtype 'F64'"});
    write_bytes(path, safetensors_bytes(one(R"({"dtype":7,"shape":[4],"data_offsets":[0,16]})"), f32x4));
    expect_refusal(path, {"'dtype' is not a string"});
  }
  SECTION("bad shape") {
    write_bytes(path, safetensors_bytes(one(R"({"dtype":"F32","shape":[-4],"data_offsets":[0,16]})"), f32x4));
    expect_refusal(path, {"tensor 't'", "'shape'", "non-negative"});
    write_bytes(path, safetensors_bytes(one(R"({"dtype":"F32","shape":[1.5],"data_offsets":[0,16]})"), f32x4));
    expect_refusal(path, {"'shape'"});
    write_bytes(path, safetensors_bytes(one(R"({"dtype":"F32","shape":4,"data_offsets":[0,16]})"), f32x4));
    expect_refusal(path, {"'shape' is not an array"});
  }
  SECTION("bad data_offsets") {
    write_bytes(path, safetensors_bytes(one(R"({"dtype":"F32","shape":[4],"data_offsets":[16,0]})"), f32x4));
    expect_refusal(path, {"'data_offsets' must be [begin, end]"});
    write_bytes(path, safetensors_bytes(one(R"({"dtype":"F32","shape":[4],"data_offsets":[0]})"), f32x4));
    expect_refusal(path, {"'data_offsets' must be [begin, end]"});
  }
  SECTION("offsets not matching dtype and shape") {
    write_bytes(path, safetensors_bytes(one(R"({"dtype":"F32","shape":[3],"data_offsets":[0,16]})"), f32x4));
    expect_refusal(path, {"tensor 't'", "hold 16 bytes", "F32", "[3]", "need 12"});
    write_bytes(path, safetensors_bytes(one(R"({"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,16]})"), f32x4));
    expect_refusal(path, {"need more than 2^64"});
  }
  SECTION("offsets out of range") {
    write_bytes(path, safetensors_bytes(one(R"({"dtype":"F32","shape":[8],"data_offsets":[0,32]})"), f32x4));
    expect_refusal(path, {"tensor 't'", "past the end of the data", "16 bytes"});
  }
  SECTION("overlapping tensors") {
    write_bytes(path, safetensors_bytes(
                          R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
                          f32x4));
    expect_refusal(path, {"'a' and 'b' overlap"});
  }
  SECTION("a gap between tensors") {
    write_bytes(path, safetensors_bytes(
                          R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
                          f32x4));
    expect_refusal(path, {"no tensor covers data bytes [4, 8]"});
  }
  SECTION("trailing bytes") {
    write_bytes(path, safetensors_bytes(one(R"({"dtype":"F32","shape":[3],"data_offsets":[0,12]})"), f32x4));
    expect_refusal(path, {"4 trailing bytes"});
  }
  SECTION("bad metadata") {
    write_bytes(path, safetensors_bytes(R"({"__metadata__":{"epoch":3}})", {}));
    expect_refusal(path, {"__metadata__ value 'epoch' is not a string"});
    write_bytes(path, safetensors_bytes(R"({"__metadata__":[]})", {}));
    expect_refusal(path, {"__metadata__ is not a JSON object"});
    write_bytes(path, safetensors_bytes(R"({"__metadata__":{"qsr.json_keys":"[\"e\"]","e":"{oops"}})", {}));
    expect_refusal(path, {"metadata 'e' is not valid JSON"});
    write_bytes(path, safetensors_bytes(R"({"__metadata__":{"qsr.json_keys":"[\"e\"]"}})", {}));
    expect_refusal(path, {"names 'e', which is missing"});
  }
  SECTION("control characters in names stay on one line") {
    write_bytes(path, safetensors_bytes(R"({"a\nb":{"dtype":"Q8","shape":[4],"data_offsets":[0,16]}})", f32x4));
    expect_refusal(path, {"'a\\x0ab'", "unsupported dtype 'Q8'"});
  }
}

TEST_CASE("checkpoint: load_model refuses other files", "[checkpoint]") {
  TempDir dir;
  const std::string path = dir.file("m.safetensors");
  Espcn m;
  m.init_orthogonal(4);

  SECTION("not a qsr checkpoint") {
    Checkpoint ck;
    ck.tensors.emplace_back("x", Tensor::zeros({2}));
    save_safetensors(path, ck);
    expect_refusal(path, {"not a qsr ESPCN checkpoint", "no 'format'"}, true);
    ck.meta = {{"format", "pytorch"}};
    save_safetensors(path, ck);
    expect_refusal(path, {"not a qsr ESPCN checkpoint", "'pytorch'"}, true);
  }
  SECTION("unknown version") {
    Checkpoint ck;
    ck.meta = {{"format", "qsr-espcn"}, {"format_version", "2"}, {"architecture", espcn_config_to_json(m.config())}};
    save_safetensors(path, ck);
    expect_refusal(path, {"unsupported format_version '2'"}, true);
  }
  SECTION("bad architecture") {
    Checkpoint ck;
    json arch = espcn_config_to_json(m.config());
    arch["scale"] = "three";
    ck.meta = {{"format", "qsr-espcn"}, {"format_version", "1"}, {"architecture", arch}};
    save_safetensors(path, ck);
    expect_refusal(path, {"architecture", "'scale' must be an integer"}, true);
    arch = espcn_config_to_json(m.config());
    arch["kernels"] = {5, 3};
    ck.meta["architecture"] = arch;
    save_safetensors(path, ck);
    expect_refusal(path, {"kernel size per conv"}, true);
    arch.erase("kernels");
    ck.meta["architecture"] = arch;
    save_safetensors(path, ck);
    expect_refusal(path, {"missing 'kernels'"}, true);
  }
  SECTION("missing, misshapen or non-F32 tensor") {
    Checkpoint ck;
    ck.meta = {{"format", "qsr-espcn"}, {"format_version", "1"}, {"architecture", espcn_config_to_json(m.config())}};
    for (auto& [name, v] : m.named_parameters())
      if (name != "conv3.bias") ck.tensors.emplace_back(name, v.value());
    save_safetensors(path, ck);
    expect_refusal(path, {"missing tensor 'conv3.bias'"}, true);

    ck.tensors.emplace_back("conv3.bias", Tensor::zeros({31}));
    save_safetensors(path, ck);
    expect_refusal(path, {"tensor 'conv3.bias'", "shape [31]", "expected [32]"}, true);

    ck.tensors.back().second = Tensor::zeros({32}).to(DType::f16);
    save_safetensors(path, ck);
    expect_refusal(path, {"tensor 'conv3.bias'", "dtype F16", "expected F32"}, true);

    ck.tensors.back().second = Tensor::zeros({32});
    save_safetensors(path, ck);
    CHECK_NOTHROW(load_model(path));
  }
}

TEST_CASE("checkpoint: save refuses bad input and leaves the old file", "[checkpoint]") {
  TempDir dir;
  const std::string path = dir.file("keep.safetensors");
  Espcn m;
  m.init_orthogonal(8);
  save_model(path, m);
  const std::vector<uint8_t> before = read_bytes(path);

  Checkpoint dup;
  dup.tensors.emplace_back("a", Tensor::zeros({1}));
  dup.tensors.emplace_back("a", Tensor::zeros({1}));
  CHECK_THAT(error_of([&] { save_safetensors(path, dup); }), Contains("keep.safetensors") && Contains("duplicate tensor name 'a'"));
  Checkpoint meta_name;
  meta_name.tensors.emplace_back("__metadata__", Tensor::zeros({1}));
  CHECK_THAT(error_of([&] { save_safetensors(path, meta_name); }), Contains("cannot name a tensor"));
  Checkpoint empty_name;
  empty_name.tensors.emplace_back("", Tensor::zeros({1}));
  CHECK_THAT(error_of([&] { save_safetensors(path, empty_name); }), Contains("must not be empty"));
  Checkpoint undefined;
  undefined.tensors.emplace_back("u", Tensor());
  CHECK_THAT(error_of([&] { save_safetensors(path, undefined); }), Contains("undefined"));
  Checkpoint reserved;
  reserved.meta = {{"qsr.json_keys", "[]"}};
  CHECK_THAT(error_of([&] { save_safetensors(path, reserved); }), Contains("reserved"));
  Checkpoint not_object;
  not_object.meta = json::array({1});
  CHECK_THAT(error_of([&] { save_safetensors(path, not_object); }), Contains("must be a JSON object"));
  CHECK_THAT(error_of([&] { save_model(path, m, {{"format", "x"}}); }), Contains("'format' is reserved"));
  std::vector<std::pair<std::string, Tensor>> clash{{"conv1.kernel", Tensor::zeros({1})}};
  CHECK_THAT(error_of([&] { save_model(path, m, json::object(), clash); }), Contains("duplicate tensor name 'conv1.kernel'"));

  CHECK(read_bytes(path) == before);
  CHECK(dir.temp_files().empty());
}

TEST_CASE("checkpoint: saving is atomic", "[checkpoint]") {
  TempDir dir;
  const std::string path = dir.file("atomic.safetensors");
  Espcn a, b(odd_config());
  a.init_orthogonal(1);
  b.init_orthogonal(2);

  // Save, then save a different model over it: the second replaces the first.
  save_model(path, a);
  CHECK(dir.temp_files().empty());
  save_model(path, b);
  CHECK(dir.temp_files().empty());
  auto back = load_model(path);
  check_same_config(back->config(), b.config());
  check_same_weights(b, *back);

  // Into a directory that does not exist: an error and no file anywhere.
  const std::string nowhere = (dir.path() / "no" / "such" / "dir" / "x.safetensors").string();
  std::string msg = error_of([&] { save_model(nowhere, a); });
  CHECK_THAT(msg, Contains("x.safetensors") && Contains("cannot write"));
  CHECK(!fs::exists(dir.path() / "no"));

  // The rename fails (the target is a non-empty directory) after the
  // temporary file was written: it is removed and the directory left alone.
  const std::string target = dir.file("taken.safetensors");
  fs::create_directory(target);
  write_bytes(target + "/inside", {1, 2, 3});
  msg = error_of([&] { save_model(target, a); });
  CHECK_THAT(msg, Contains("taken.safetensors") && Contains("cannot write") && Contains("rename"));
  CHECK(fs::is_directory(target));
  CHECK(dir.temp_files().empty());

  // A relative path in the current directory works too.
  const fs::path cwd = fs::current_path();
  fs::current_path(dir.path());
  save_model("relative.safetensors", a);
  fs::current_path(cwd);
  CHECK(fs::exists(dir.path() / "relative.safetensors"));
  CHECK(dir.temp_files().empty());
}
