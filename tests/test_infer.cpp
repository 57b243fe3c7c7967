// The inference-only library (quant/infer/qsr_infer.h): on models lowered by the integer
// engine (IntEngine::infer_model), its row pipeline gives the engine's output bit for bit,
// for every lowering target, kernel table, band and image size; bad models, arenas and
// arguments get their status.
#include <catch2/catch.hpp>

#include <cstring>

#include "engine/cpu.h"
#include "quant/infer/infer_format.h"
#include "quant/infer/qsr_infer.h"
#include "quant/lower/int_engine.h"
#include "quant_test_util.h"
#include "test_util.h"

using namespace qsr;
using namespace qsr::quant;
using qsr_test::config;
using qsr_test::image;
using qsr_test::model;
using qsr_test::quantised;

namespace {

// Bytes at a 64-byte boundary (`shift` bytes past one), as a model file read into memory.
struct Aligned {
  std::vector<uint8_t> raw;
  uint8_t* p = nullptr;
  explicit Aligned(const std::vector<uint8_t>& bytes, size_t shift = 0) : raw(bytes.size() + 128) {
    p = raw.data() + (64 - reinterpret_cast<uintptr_t>(raw.data()) % 64) % 64 + shift;
    std::memcpy(p, bytes.data(), bytes.size());
  }
};

std::vector<uint8_t> lowered(const QuantModel& q, Isa isa) { return IntEngine(q, kernel_set_lowering(isa)).infer_model(); }

// The library's output for x (f32, [1, h, w, c]).
Tensor run_library(const qsr_infer_model& m, const Tensor& x, int band, int* status = nullptr) {
  qsr_infer_info info;
  REQUIRE(qsr_infer_get_info(&m, &info) == QSR_INFER_OK);
  const int h = int(x.dim(1)), w = int(x.dim(2)), r = info.scale;
  Tensor y = Tensor::zeros({1, h * r, w * r, x.dim(3)});
  const size_t bytes = qsr_infer_arena_bytes(&m, w, band);
  REQUIRE(bytes > 0);
  std::vector<double> arena(bytes / sizeof(double) + 1);
  const int rc = qsr_infer_run_f32(&m, x.f32(), w, h, y.f32(), band, arena.data(), bytes);
  if (status) *status = rc;
  else REQUIRE(rc == QSR_INFER_OK);
  return y;
}

bool identical(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::memcmp(a.f32(), b.f32(), a.nbytes()) == 0;
}

// Every lowering target, on the table the library picks and on the scalar one, several bands
// and sizes (odd heights: a Winograd band of odd rows).
void check_library(const QuantModel& q, uint64_t seed, const std::string& what) {
  const IntEngine engine(q);
  const std::vector<Tensor> xs = {image(seed, 1, 23, 17), image(seed + 1, 1, 1, 1), image(seed + 2, 1, 40, 3),
                                  image(seed + 3, 1, 9, 30)};
  std::vector<Tensor> refs;
  for (const Tensor& x : xs) refs.push_back(engine.forward(x));
  for (Isa isa : {Isa::avx2, Isa::scalar, Isa::avx512}) {
    INFO(what << ", lowered for " << isa_name(isa));
    const Aligned blob(lowered(q, isa));
    for (unsigned flags : {0u, unsigned(QSR_INFER_FORCE_SCALAR)}) {
      qsr_infer_model m;
      REQUIRE(qsr_infer_open(&m, blob.p, blob.raw.size() - 128, flags) == QSR_INFER_OK);
      qsr_infer_info info;
      REQUIRE(qsr_infer_get_info(&m, &info) == QSR_INFER_OK);
      for (int band : {1, 2, 5, 0, 64})
        for (size_t i = 0; i < xs.size(); ++i) {
          INFO(what << ", lowered for " << isa_name(isa) << ", " << info.kernels << " kernels, band " << band << ", image "
                    << i);
          CHECK(identical(run_library(m, xs[i], band), refs[i]));
        }
    }
  }
}

}  // namespace

TEST_CASE("inference library: the integer engine's output, bit for bit, on every lowering and band") {
  const uint64_t seed = qsr_test::base_seed() + 700;
  // 3x3 convs of 32->16 and 16->48: Winograd in the avx2 lowering; 5x5 on one channel.
  auto m = model(config(2, {32, 16, 48}, {5, 3, 3, 3}), seed);
  for (const std::string mode : {"int8", "int16x8", "w4a4", "w7a8", "w2a2", "q3.5", "w6.3.8.4a8.5.12.7.9"})
    check_library(quantised(*m, mode), seed + 1, mode);
  check_library(quantised(*m, "int8", false, Rounding::half_away), seed + 2, "int8 per tensor, half away");
  check_library(quantised(*m, "w16a16"), seed + 3, "w16a16 (int64 accumulators)");
  // Odd channel counts: 8-channel tails and dot-product channels, scale 3.
  auto odd = model(config(3, {13, 10}, {3, 1, 5}), seed + 4);
  for (const std::string mode : {"int8", "w5a7", "int16x8"}) check_library(quantised(*odd, mode), seed + 5, mode + " (odd)");
}

TEST_CASE("inference library: 8-bit images and row callbacks") {
  auto m = model(config(3, {16, 8}, {5, 3, 3}), qsr_test::base_seed() + 710);
  const QuantModel q = quantised(*m, "int8");
  const Aligned blob(lowered(q, Isa::avx2));
  qsr_infer_model lib;
  REQUIRE(qsr_infer_open(&lib, blob.p, blob.raw.size() - 128, 0) == QSR_INFER_OK);
  const int w = 21, h = 11, stride = 25, ostride = 70;
  std::vector<uint8_t> in(size_t(stride) * h, 0);
  Tensor x = Tensor::empty({1, h, w, 1});
  Rng r(5);
  for (int y = 0; y < h; ++y)
    for (int i = 0; i < w; ++i) {
      in[size_t(y) * stride + i] = uint8_t(r.below(256));
      x.f32()[y * w + i] = float(in[size_t(y) * stride + i]) * (1.f / 255.f);
    }
  const Tensor ref = IntEngine(q).forward(x);
  std::vector<uint8_t> out(size_t(ostride) * h * 3, 7);
  const size_t bytes = qsr_infer_arena_bytes(&lib, w, 4);
  std::vector<double> arena(bytes / 8 + 1);
  REQUIRE(qsr_infer_run_u8(&lib, in.data(), w, h, stride, out.data(), ostride, 4, arena.data(), bytes) == QSR_INFER_OK);
  int64_t diff = 0;
  for (int y = 0; y < 3 * h; ++y) {
    for (int i = 0; i < 3 * w; ++i)
      diff += out[size_t(y) * ostride + i] !=
              uint8_t(std::lround(std::clamp(ref.f32()[y * 3 * w + i], 0.f, 1.f) * 255.f));
    for (int i = 3 * w; i < ostride; ++i) diff += out[size_t(y) * ostride + i] != 7;  // past the row: untouched
  }
  CHECK(diff == 0);

  // Callbacks: rows read and written once each, in order; an error stops the run.
  struct Ctx {
    int next_in = 0, next_out = 0, fail_at = -1;
    bool in_order = true;
  } ctx;
  auto rd = [](void* c, int y, float* row) {
    Ctx& k = *static_cast<Ctx*>(c);
    k.in_order = k.in_order && y == k.next_in++;
    for (int i = 0; i < 21; ++i) row[i] = float(i) / 21.f;
    return y == k.fail_at ? 1 : 0;
  };
  auto wr = [](void* c, int y, const float*) {
    Ctx& k = *static_cast<Ctx*>(c);
    k.in_order = k.in_order && y == k.next_out++;
    return 0;
  };
  REQUIRE(qsr_infer_run_rows(&lib, w, h, 4, rd, wr, &ctx, arena.data(), bytes) == QSR_INFER_OK);
  CHECK(ctx.in_order);
  CHECK(ctx.next_in == h);
  CHECK(ctx.next_out == 3 * h);
  ctx = Ctx{};
  ctx.fail_at = 6;
  CHECK(qsr_infer_run_rows(&lib, w, h, 4, rd, wr, &ctx, arena.data(), bytes) == QSR_INFER_E_CALLBACK);
  CHECK(ctx.next_in == 7);
}

TEST_CASE("inference library: bad models, arenas and arguments get their status") {
  auto m = model(config(2, {16, 8}, {3, 3, 3}), qsr_test::base_seed() + 720);
  const QuantModel q = quantised(*m, "int8");
  const std::vector<uint8_t> good = lowered(q, Isa::avx2);
  auto open = [](const std::vector<uint8_t>& bytes, size_t shift = 0) {
    const Aligned a(bytes, shift);
    qsr_infer_model lib;
    return qsr_infer_open(&lib, a.p, bytes.size(), 0);
  };
  // Rewrites the checksum, so that only the change is wrong.
  auto resum = [](std::vector<uint8_t> b) {
    const uint32_t s = infer::fnv1a(b.data() + 32, b.size() - 32);
    std::memcpy(b.data() + offsetof(infer::Header, checksum), &s, 4);
    return b;
  };
  CHECK(open(good) == QSR_INFER_OK);
  CHECK(open(good, 8) == QSR_INFER_E_ALIGN);
  std::vector<uint8_t> b = good;
  b[0] = 'X';
  CHECK(open(b) == QSR_INFER_E_MAGIC);
  CHECK(open(std::vector<uint8_t>(good.begin(), good.begin() + 100)) == QSR_INFER_E_SIZE);
  CHECK(open(std::vector<uint8_t>(good.begin(), good.end() - 64)) == QSR_INFER_E_SIZE);
  b = good;
  b[8] = 2;  // version
  CHECK(open(b) == QSR_INFER_E_VERSION);
  b = good;
  b[b.size() / 2] ^= 1;
  CHECK(open(b) == QSR_INFER_E_CHECKSUM);
  // Inconsistent records, with a valid checksum: a kernel size, a channel count, an array's length.
  const size_t rec = sizeof(infer::Header);
  b = good;
  b[rec + offsetof(infer::ConvRecord, k)] = 4;
  CHECK(open(resum(b)) == QSR_INFER_E_MODEL);
  b = good;
  b[rec + sizeof(infer::ConvRecord) + offsetof(infer::ConvRecord, cin)] = 15;
  CHECK(open(resum(b)) == QSR_INFER_E_MODEL);
  b = good;
  b[rec + offsetof(infer::ConvRecord, beff) + offsetof(infer::ArrayRef, count)] += 1;
  CHECK(open(resum(b)) == QSR_INFER_E_MODEL);
  b = good;
  b[rec + offsetof(infer::ConvRecord, m0) + offsetof(infer::ArrayRef, offset)] += 64;
  CHECK(open(resum(b)) == QSR_INFER_E_MODEL);
  // A file of another kind.
  std::vector<uint8_t> other(4096, 0);
  std::memcpy(other.data(), "{\"__metadata__\"", 15);
  CHECK(open(other) == QSR_INFER_E_MAGIC);
  for (int s : {QSR_INFER_E_MAGIC, QSR_INFER_E_CHECKSUM, QSR_INFER_E_ARENA})
    CHECK(std::string(qsr_infer_strerror(s)).find('\n') == std::string::npos);

  const Aligned a(good);
  qsr_infer_model lib;
  REQUIRE(qsr_infer_open(&lib, a.p, good.size(), 0) == QSR_INFER_OK);
  const Tensor x = image(1, 1, 6, 7);
  Tensor y = Tensor::zeros({1, 12, 14, 1});
  const size_t bytes = qsr_infer_arena_bytes(&lib, 7, 3);
  std::vector<double> arena(bytes / 8 + 2);
  CHECK(qsr_infer_run_f32(&lib, x.f32(), 7, 6, y.f32(), 3, arena.data(), bytes - 1) == QSR_INFER_E_ARENA);
  CHECK(qsr_infer_run_f32(&lib, x.f32(), 7, 6, y.f32(), 3, reinterpret_cast<char*>(arena.data()) + 4, bytes) == QSR_INFER_E_ALIGN);
  CHECK(qsr_infer_run_f32(&lib, x.f32(), 0, 6, y.f32(), 3, arena.data(), bytes) == QSR_INFER_E_ARG);
  CHECK(qsr_infer_run_f32(&lib, x.f32(), 7, 0, y.f32(), 3, arena.data(), bytes) == QSR_INFER_E_ARG);
  CHECK(qsr_infer_run_f32(&lib, x.f32(), 7, 6, y.f32(), -1, arena.data(), bytes) == QSR_INFER_E_ARG);
  CHECK(qsr_infer_arena_bytes(&lib, 0, 0) == 0);
  // The arena does not grow with the height; it grows with the band.
  CHECK(qsr_infer_arena_bytes(&lib, 640, 2) < qsr_infer_arena_bytes(&lib, 640, 8));
  qsr_infer_model unopened;
  std::memset(&unopened, 0, sizeof unopened);
  CHECK(qsr_infer_arena_bytes(&unopened, 7, 3) == 0);
  CHECK(qsr_infer_run_f32(&unopened, x.f32(), 7, 6, y.f32(), 3, arena.data(), bytes) == QSR_INFER_E_ARG);
  // A failed open leaves the model unusable.
  b = good;
  b[0] = 'X';
  const Aligned bad(b);
  CHECK(qsr_infer_open(&lib, bad.p, b.size(), 0) == QSR_INFER_E_MAGIC);
  CHECK(qsr_infer_run_f32(&lib, x.f32(), 7, 6, y.f32(), 3, arena.data(), bytes) == QSR_INFER_E_ARG);
}

TEST_CASE("inference library: models off the integer path are refused when lowered") {
  auto m = model(config(2, {16, 8}, {3, 3, 3}), qsr_test::base_seed() + 730);
  for (const std::string mode : {"dynamic-range", "float16", "a8"}) {
    INFO(mode);
    CHECK_THROWS_WITH(lowered(quantised(*m, mode), Isa::avx2), Catch::Contains("conv1") && Catch::Contains("integer convs only"));
  }
  // Only some convs quantised: the float ones are named.
  CHECK_THROWS_WITH(lowered(quantised(*m, "int8", true, Rounding::half_even, {0, 1}), Isa::avx2), Catch::Contains("conv3"));
}
