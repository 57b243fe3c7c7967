// The native integer engine (quant/lower/int_engine.h): its output equals the reference
// execution QuantModel::forward bit for bit, for every mode and word length, on every
// instruction set this machine runs, on random shapes with tails.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>

#include "engine/cpu.h"
#include "quant/lower/int_engine.h"
#include "quant/ptq/qmodel.h"
#include "quant_test_util.h"
#include "test_util.h"

using namespace qsr;
using namespace qsr::quant;
using qsr_test::config;
using qsr_test::image;
using qsr_test::model;
using qsr_test::quantised;

namespace {

// Bytes equal (so -0 vs +0 and NaN payloads count).
bool identical(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::memcmp(a.f32(), b.f32(), a.nbytes()) == 0;
}

int64_t mismatches(const Tensor& a, const Tensor& b) {
  int64_t n = 0;
  for (int64_t i = 0; i < a.numel(); ++i) n += std::memcmp(a.f32() + i, b.f32() + i, 4) != 0;
  return n;
}

// The kernel tables to test: every runnable ISA's, and the 16-lane (AVX-512 shapes) table
// emulated on AVX2, which covers the AVX-512 table's logic on machines without AVX-512.
std::vector<const KernelSet*> tables() {
  std::vector<const KernelSet*> t;
  for (Isa isa : available_isas()) t.push_back(&kernel_set(isa));
  if (isa_supported(Isa::avx2)) t.push_back(&kernel_set_w16_emulation());
  return t;
}

// The reference execution with its float convs on a kernel set's f32 table: what an engine built
// for that set must reproduce bit for bit (float convs differ between f32 tables in rounding).
Tensor reference_on(const QuantModel& q, const KernelSet& set, const Tensor& x) {
  QuantModel qs = q;
  qs.float_path.kernels = set.f32;
  return qs.forward(x);
}

// Every kernel set's engine, with each requantisation arithmetic lowering may choose,
// against the reference on a few random inputs.
void check_exact(const QuantModel& q, uint64_t seed, const std::string& what) {
  Rng r(seed);
  std::vector<Tensor> xs = {image(seed, 1, 1 + int(r.uniform() * 13), 1 + int(r.uniform() * 19)),
                            image(seed + 1, 2, 7, 9), image(seed + 2, 1, 3, 2), image(seed + 3, 1, 16, 31)};
  std::vector<std::vector<Tensor>> refs;  // per kernel set
  for (const KernelSet* kt : tables()) {
    refs.emplace_back();
    for (const Tensor& x : xs) refs.back().push_back(reference_on(q, *kt, x));
  }
  // Passes: the general 64-bit requantisation, the 64-bit one with int32 clamps, then as
  // lowering chooses; without the u8 path; with it wherever it is exact (split pairs too),
  // with and without reordered channels.
  const char* pass_name[] = {"", "", "", ", no u8 path", ", u8 path forced", ", u8 path forced, channels in model order"};
  for (int pass = 0; pass < 6; ++pass) {
    const int rq = pass < 2 ? 2 - pass : 0;
    LowerOptions o;
    o.min_requant = rq;
    o.allow_u8 = pass != 3;
    o.force_u8 = pass >= 4;
    o.allow_winograd = pass < 4;  // (Winograd takes the convs it can before the u8 path)
    o.allow_pairing = pass != 5;
    for (size_t t = 0; t < tables().size(); ++t) {
      const KernelSet* kt = tables()[t];
      IntEngine e(q, *kt, o);
      REQUIRE(&e.kernel_set() == kt);  // every layer runs on the set it was built for
      for (size_t i = 0; i < xs.size(); ++i) {
        const Tensor got = e.forward(xs[i]);
        INFO(what << " on the " << kt->name << " kernels, requantisation path >= " << rq
                  << pass_name[pass]
                  << ", input " << shape_str(xs[i].shape()) << ": " << mismatches(refs[t][i], got) << " of "
                  << refs[t][i].numel() << " values differ\n"
                  << e.describe());
        REQUIRE(identical(refs[t][i], got));
      }
    }
  }
}

std::vector<EspcnConfig> configs() {
  std::vector<EspcnConfig> v;
  EspcnConfig espcn;  // the real one: 5x5/64, 3x3/64, 3x3/32, 3x3/9 (16-blocks, 8-block + 1 dot)
  v.push_back(espcn);
  EspcnConfig a;  // x2: last conv 4 channels (8-block), odd widths
  a.scale = 2;
  a.features = {17, 7};  // 17: a 16-block + 1 dot; 7 channels: padded to 8 in the next conv's input
  a.kernels = {3, 5, 3};
  v.push_back(a);
  EspcnConfig b;  // x3: 10 and 26 channels (8-block + 2 dots, 16-block + 8-block + 2 dots)
  b.features = {26, 10};
  b.kernels = {5, 1, 3};
  v.push_back(b);
  return v;
}

}  // namespace

TEST_CASE("int engine: bit-exact with the reference for the PTQ modes", "[int]") {
  const auto cfgs = configs();
  const std::vector<std::string> modes = {"int8", "int16x8", "dynamic-range", "w8a8", "float16"};
  for (size_t c = 0; c < cfgs.size(); ++c) {
    auto m = model(cfgs[c], qsr_test::base_seed() + 10 * c);
    for (const auto& mode : modes) {
      const QuantModel q = quantised(*m, mode);
      check_exact(q, qsr_test::base_seed() + 31 * c, mode + " on " + cfgs[c].describe());
    }
  }
}

TEST_CASE("int engine: bit-exact for word lengths 2..16, per tensor and per channel, both roundings", "[int]") {
  const EspcnConfig cfg = config(2, {20, 12}, {5, 3, 3});
  auto m = model(cfg, qsr_test::base_seed() + 3);
  const std::vector<std::pair<int, int>> wa = {{2, 2},  {3, 5},  {4, 4},   {5, 3},   {6, 8},  {8, 2},   {7, 12},
                                               {12, 7}, {8, 16}, {16, 8},  {10, 10}, {13, 15}, {16, 16}, {2, 16}};
  int k = 0;
  for (auto [wb, ab] : wa) {
    const std::string mode = "w" + std::to_string(wb) + "a" + std::to_string(ab);
    const bool per_channel = k % 3 != 1;
    const Rounding rr = k % 2 ? Rounding::half_away : Rounding::half_even;
    const QuantModel q = quantised(*m, mode, per_channel, rr);
    check_exact(q, qsr_test::base_seed() + 100 + k, mode + (per_channel ? " per-channel " : " per-tensor ") + rounding_name(rr));
    ++k;
  }
}

TEST_CASE("int engine: bit-exact for fixed point, layer subsets and float layers between integer ones", "[int]") {
  const EspcnConfig cfg = config(3, {16, 9}, {5, 3, 3});
  auto m = model(cfg, qsr_test::base_seed() + 5);
  for (const std::string mode : {"q4.4", "q2.6", "q6.10", "q3.13"})
    check_exact(quantised(*m, mode), qsr_test::base_seed() + 200, mode);
  check_exact(quantised(*m, "int8", true, Rounding::half_even, {0, 2}), qsr_test::base_seed() + 201, "int8 conv1,conv3");
  check_exact(quantised(*m, "int16x8", true, Rounding::half_even, {1}), qsr_test::base_seed() + 202, "int16x8 conv2");
  check_exact(quantised(*m, "dynamic-range", true, Rounding::half_even, {1, 2}), qsr_test::base_seed() + 203,
              "dynamic-range conv2,conv3");
  check_exact(quantised(*m, "a8"), qsr_test::base_seed() + 204, "a8 (float weights, quantised activations)");
  check_exact(quantised(*m, "w6"), qsr_test::base_seed() + 205, "w6 (weights only)");
  check_exact(quantised(*m, "bfloat16"), qsr_test::base_seed() + 206, "bfloat16");
  // Mixed precision: each conv requantises between its own input and output word lengths.
  check_exact(quantised(*m, "w6.3.8a8.5.12.7"), qsr_test::base_seed() + 207, "mixed w6.3.8a8.5.12.7");
  check_exact(quantised(*m, "w2.16.4a16.3.8.2", false), qsr_test::base_seed() + 208, "mixed w2.16.4a16.3.8.2 per tensor");
}

TEST_CASE("int engine: lowering proves the accumulator width and goes to int64 only when needed", "[int]") {
  const EspcnConfig cfg = config(2, {32, 16}, {5, 3, 3});
  auto m = model(cfg, qsr_test::base_seed() + 9);
  {
    IntEngine e(quantised(*m, "int8"));
    for (const auto& l : e.layers()) {
      CHECK(l.path == LayerPath::integer);
      CHECK_FALSE(l.wide);
      CHECK(l.acc_bits <= 31);
    }
  }
  {
    // 16-bit codes times 16-bit weights over 288 products: beyond int32, so int64, still exact.
    const QuantModel q = quantised(*m, "w16a16");
    IntEngine e(q);
    bool any_wide = false;
    for (const auto& l : e.layers()) any_wide |= l.wide;
    CHECK(any_wide);
    // The bound uses each channel's sum of |w| (the reference's worst case, every |w| at the maximum, is looser).
    for (size_t i = 0; i < e.layers().size(); ++i) CHECK(e.layers()[i].acc_bits <= q.accumulator_bits_of(int(i)));
  }
  {
    IntEngine e(quantised(*m, "dynamic-range"));
    for (const auto& l : e.layers()) CHECK(l.path == LayerPath::dynamic);
    IntEngine f(quantised(*m, "bfloat16"));
    for (const auto& l : f.layers()) CHECK(l.path == LayerPath::f32);
  }
}

TEST_CASE("int engine: refuses what it cannot run, with the reason", "[int]") {
  const EspcnConfig cfg = config(2, {8}, {3, 3});
  auto m = model(cfg, qsr_test::base_seed() + 11);
  QuantModel q = quantised(*m, "int8");
  QuantModel u = q;
  u.acts[1].fmt.is_signed = false;
  u.acts[1].fmt.bits = 16;  // u16 codes do not fit int16
  REQUIRE_THROWS_WITH(IntEngine(u), Catch::Contains("int16") && Catch::Contains("conv1"));
  QuantModel nc = quantised(*m, "int8");
  nc.acts[1].params = {};
  REQUIRE_THROWS_WITH(IntEngine(nc), Catch::Contains("calibrated"));
  IntEngine e(q);
  REQUIRE_THROWS_WITH(e.forward(Tensor({1, 4, 4, 3})), Catch::Contains("input must be"));
}

TEST_CASE("int engine: every kernel table equals the scalar twin on random architectures, modes and shapes", "[int]") {
  Rng r(qsr_test::base_seed() + 77);
  const std::vector<std::string> modes = {"int8", "int16x8", "dynamic-range", "w2a2", "w3a4", "w4a4", "w5a7",
                                          "w7a8", "w8a7", "w6a6", "w4a8", "w8a4", "w12a12", "q3.5", "float16"};
  const int kernels[] = {1, 3, 5};
  for (int trial = 0; trial < 12; ++trial) {
    EspcnConfig cfg;
    cfg.scale = 2 + int(r.below(2));
    const int nf = 1 + int(r.below(2));
    cfg.features.clear();
    cfg.kernels.clear();
    for (int f = 0; f < nf; ++f) cfg.features.push_back(1 + int(r.below(40)));
    for (int f = 0; f <= nf; ++f) cfg.kernels.push_back(kernels[r.below(3)]);
    cfg.kernels[0] = 5;
    auto m = model(cfg, qsr_test::base_seed() + 500 + trial);
    const std::string mode = modes[r.below(modes.size())];
    const bool per_channel = r.below(4) != 0;
    const Rounding rr = r.below(2) ? Rounding::half_away : Rounding::half_even;
    const QuantModel q = quantised(*m, mode, per_channel, rr);
    const Tensor x = image(qsr_test::base_seed() + 600 + trial, 1 + int(r.below(2)), 1 + int(r.below(23)), 1 + int(r.below(41)));
    const Tensor ref = reference_on(q, kernel_set(Isa::scalar), x);
    const Tensor twin = IntEngine(q, Isa::scalar).forward(x);
    INFO("trial " << trial << ": " << cfg.describe() << ", " << mode << (per_channel ? " per-channel " : " per-tensor ")
                  << rounding_name(rr) << ", input " << shape_str(x.shape()));
    REQUIRE(identical(ref, twin));
    for (const KernelSet* kt : tables()) {
      IntEngine e(q, *kt);
      INFO(kt->name << "\n" << e.describe());
      // Integer layers: the twin's codes; float layers: the reference on the set's f32 table.
      REQUIRE(identical(reference_on(q, *kt, x), e.forward(x)));
    }
  }
}

TEST_CASE("int engine: the u8 path splits pairs that could saturate vpmaddubsw, exactly", "[int]") {
  // Adversarial weights: large, mostly one sign per pair, so that after per-channel int8
  // quantisation most pairs sum past 128 and full-range u8 inputs (the constant image, the
  // ReLU outputs) drive vpmaddubsw's int16 to its limits.
  const EspcnConfig cfg = config(3, {32, 24}, {5, 3, 3});
  auto m = model(cfg, qsr_test::base_seed() + 13);
  Rng r(qsr_test::base_seed() + 14);
  for (auto& c : m->convs) {
    float* w = c->weight.value().f32();
    const int64_t n = c->weight.value().numel();
    for (int64_t i = 0; i < n; ++i) w[i] = (r.below(5) ? 1.f : -1.f) * r.uniform(0.6f, 1.f) * 0.2f;
  }
  const QuantModel q = quantised(*m, "int8");
  const std::vector<Tensor> xs = {Tensor::full({1, 9, 13, 1}, 1.f), Tensor::full({1, 5, 6, 1}, 0.f), image(31, 2, 11, 17)};
  std::vector<Tensor> refs;
  for (const Tensor& x : xs) refs.push_back(q.forward(x));
  for (int pairing = 0; pairing < 2; ++pairing) {
    LowerOptions o;
    o.allow_winograd = false;
    o.force_u8 = true;
    o.allow_pairing = pairing == 1;
    for (const KernelSet* kt : tables()) {
      IntEngine e(q, *kt, o);
      INFO(kt->name << (pairing ? ", channels reordered" : ", channels in model order") << "\n" << e.describe());
      for (size_t i = 0; i < xs.size(); ++i) CHECK(identical(refs[i], e.forward(xs[i])));
      for (const auto& l : e.layers()) {
        CHECK(l.u8);
        // 8-lane tables split; the VNNI one (vpdpbusd, no int16 intermediate) never needs to.
        if (kt->isa == Isa::avx512) CHECK(l.split_pairs == 0);
        else CHECK(l.split_pairs > 0);
      }
    }
  }
}

TEST_CASE("int engine: channel pairing and the requantisation choice on the real ESPCN int8", "[int]") {
  EspcnConfig espcn;
  auto m = model(espcn, qsr_test::base_seed() + 15);
  const QuantModel q = quantised(*m, "int8");
  for (Isa isa : available_isas()) {
    if (isa == Isa::avx512) continue;  // the VNNI table never splits pairs
    LowerOptions o;
    o.force_u8 = true;  // (in model order, a conv may be cheaper on the int16 path)
    o.allow_winograd = false;
    o.allow_pairing = false;
    IntEngine plain(q, isa, o);
    o.allow_pairing = true;
    IntEngine paired(q, isa, o);
    INFO(int_kernels(isa).name << "\nmodel order:\n" << plain.describe() << "reordered:\n" << paired.describe());
    int64_t before = 0, after = 0;
    for (size_t i = 1; i < 4; ++i) {
      const auto& a = plain.layers()[i];
      const auto& b = paired.layers()[i];
      CHECK(b.u8);
      before += a.split_pairs, after += b.split_pairs;
      CHECK(b.split_pairs <= a.split_pairs);
      // int8 codes, shifts well below 44: the double requantisation is exact (quant/lower/lower_conv.cpp).
      CHECK(b.requant == "double");
    }
    CHECK(after < before);
    const Tensor x = image(41, 1, 14, 19);
    CHECK(identical(q.forward(x), paired.forward(x)));
  }
}

TEST_CASE("int engine: Winograd F(2x2, 3x3) is exact, on odd sizes, batches and every word length it takes", "[int]") {
  if (!isa_supported(Isa::avx2)) return;  // the AVX2 table runs it; the others run the direct form
  const EspcnConfig cfg = config(2, {32, 16, 48}, {5, 3, 3, 3});  // 32->16 and 16->48 are 3x3 with cin, cout % 16 == 0
  auto m = model(cfg, qsr_test::base_seed() + 17);
  const std::vector<std::string> modes = {"int8", "w8a8", "w6a8", "w4a4", "w8a12", "w12a10", "q4.4", "w2a2", "dynamic-range"};
  int k = 0, taken = 0;
  for (const auto& mode : modes) {
    const bool per_channel = k % 3 != 2;
    const Rounding rr = k % 2 ? Rounding::half_away : Rounding::half_even;
    const QuantModel q = quantised(*m, mode, per_channel, rr);
    LowerOptions force, none;
    force.force_winograd = true;
    none.allow_winograd = false;
    IntEngine wino(q, Isa::avx2, force);
    IntEngine direct(q, Isa::avx2, none);
    INFO(mode << (per_channel ? " per-channel " : " per-tensor ") << rounding_name(rr) << "\n" << wino.describe());
    taken += wino.layers()[1].winograd && wino.layers()[2].winograd;
    CHECK_FALSE(wino.layers()[0].winograd);  // 5x5
    for (const Tensor& x : {image(71 + k, 1, 1, 1), image(72 + k, 2, 7, 9), image(73 + k, 1, 10, 3), image(74 + k, 1, 13, 50)}) {
      const Tensor ref = q.forward(x);
      CHECK(identical(ref, wino.forward(x)));
      CHECK(identical(ref, direct.forward(x)));
    }
    ++k;
  }
  CHECK(taken >= 7);  // the 8-bit and narrower modes and dynamic-range all take it
  // The real ESPCN in int8: conv2 and conv3 (64->64, 64->32).
  EspcnConfig espcn;
  auto e = model(espcn, qsr_test::base_seed() + 19);
  IntEngine ie(quantised(*e, "int8"), Isa::avx2);
  CHECK(ie.layers()[1].winograd);
  CHECK(ie.layers()[2].winograd);
  CHECK_FALSE(ie.layers()[3].winograd);  // 9 output channels
}
