// Quantised models (quant/ptq/qmodel.h): modes, calibration, the integer reference
// path against the float simulation, files.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "models/checkpoint.h"
#include "quant/ptq/gptq.h"
#include "quant/ptq/qmodel.h"
#include "quant_test_util.h"
#include "test_util.h"

using namespace qsr;
using namespace qsr::quant;
namespace fs = std::filesystem;

namespace {

std::unique_ptr<Espcn> tiny_model(uint64_t seed) { return qsr_test::tiny_quant_model(seed); }

// A smooth random image in [0, 1] (so activations look like an image's).
Tensor image(uint64_t seed, int h = 11, int w = 13) {
  Rng r(seed);
  Tensor t({1, h, w, 1});
  const float a = r.uniform(0.1f, 0.5f), b = r.uniform(0.1f, 0.5f);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      t.f32()[y * w + x] = std::clamp(0.5f + 0.3f * std::sin(a * x + b * y) + r.uniform(-0.1f, 0.1f), 0.f, 1.f);
  return t;
}

std::vector<Tensor> calib_set() {
  std::vector<Tensor> v;
  for (uint64_t i = 0; i < 4; ++i) v.push_back(image(qsr_test::base_seed() + 100 + i));
  return v;
}

Tensor float_forward(Espcn& m, const Tensor& x) {
  NoGradGuard ng;
  return m.forward(Var(x)).value();
}

// The float simulation of q: dequantised weights in f32, fake quantisation on every quantised
// activation (what the float path computes for every layer).
Tensor simulate(const QuantModel& q, const Tensor& x) {
  NoGradGuard ng;
  Tensor a = x;
  if (q.acts[0].on) a = fake_quantize(a, q.acts[0].fmt, q.acts[0].params);
  for (size_t i = 0; i < q.kernels.size(); ++i) {
    Var y = conv2d_relu(Var(a), Var(q.effective_kernel(int(i))), Var(q.biases[i]));
    a = y.value();
    if (q.acts[i + 1].on) a = fake_quantize(a, q.acts[i + 1].fmt, q.acts[i + 1].params);
  }
  return pixel_shuffle(Var(a), q.cfg.scale).value();
}

QuantModel make(Espcn& m, const std::string& mode, std::vector<int> layers = {}) {
  QuantRequest r;
  r.mode = mode;
  r.layers = std::move(layers);
  QuantModel q(m, r);
  if (q.needs_calibration()) q.calibrate(calib_set());
  return q;
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  double d = 0;
  for (int64_t i = 0; i < a.numel(); ++i) d = std::max(d, double(std::abs(a.f32()[i] - b.f32()[i])));
  return d;
}

double psnr_vs(const Tensor& a, const Tensor& b) {
  double se = 0;
  for (int64_t i = 0; i < a.numel(); ++i) se += double(a.f32()[i] - b.f32()[i]) * double(a.f32()[i] - b.f32()[i]);
  return se == 0 ? 200 : 10 * std::log10(1.0 / (se / double(a.numel())));
}

// Summed mean squared error of q's output against the float model's over the images.
double mse_vs_float(const QuantModel& q, Espcn& m, const std::vector<Tensor>& images) {
  double se = 0;
  for (const Tensor& x : images) se += std::pow(10.0, -psnr_vs(q.forward(x), float_forward(m, x)) / 10);
  return se;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() && std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

}  // namespace

TEST_CASE("quant model: layer lists", "[quant]") {
  CHECK(parse_layers("all", 4) == std::vector<int>{0, 1, 2, 3});
  CHECK(parse_layers("conv1,conv3", 4) == std::vector<int>{0, 2});
  CHECK(parse_layers("4,2,2", 4) == std::vector<int>{1, 3});
  CHECK_THROWS_WITH(parse_layers("conv5", 4), Catch::Contains("outside conv1..conv4"));
  CHECK_THROWS_WITH(parse_layers("dense", 4), Catch::Contains("'dense' is not a conv name"));
}

TEST_CASE("quant model: modes set the formats TFLite names", "[quant]") {
  auto m = tiny_model(1);
  QuantRequest r;
  r.mode = "int8";
  QuantModel q(*m, r);
  CHECK(q.needs_calibration());
  for (auto& w : q.weights) {
    CHECK(w.kind == WeightKind::integer);
    CHECK(w.fmt.bits == 8);
    CHECK(w.fmt.per_channel);
    CHECK(w.fmt.narrow);
    CHECK(w.codes.dtype() == DType::i8);
  }
  for (auto& a : q.acts) CHECK((a.on && !a.dynamic && a.fmt.bits == 8 && a.fmt.scheme == Scheme::affine));
  CHECK_THROWS_WITH(q.forward(image(1)), Catch::Contains("not calibrated"));

  r.mode = "int16x8";
  QuantModel q16(*m, r);
  CHECK(q16.acts[2].fmt.bits == 16);
  CHECK(q16.acts[2].fmt.scheme == Scheme::symmetric);
  CHECK(q16.weights[1].fmt.bits == 8);

  r.mode = "dynamic-range";
  QuantModel qd(*m, r);
  CHECK_FALSE(qd.needs_calibration());
  CHECK(qd.acts[0].dynamic);
  CHECK_FALSE(qd.acts[3].on);  // outputs stay float
  CHECK_FALSE(qd.tile_invariant());

  r.mode = "w4";
  QuantModel qw(*m, r);
  for (auto& a : qw.acts) CHECK_FALSE(a.on);
  CHECK(qw.weights[0].fmt.bits == 4);

  r.mode = "a6";
  QuantModel qa(*m, r);
  CHECK(qa.weights[0].kind == WeightKind::f32);
  CHECK(qa.acts[1].fmt.bits == 6);

  r.mode = "q3.5";
  QuantModel qf(*m, r);
  CHECK_FALSE(qf.needs_calibration());
  CHECK(qf.acts[1].params.scale[0] == 1.f / 32);
  CHECK(qf.weights[0].fmt.scheme == Scheme::fixed_point);
  CHECK(qf.weights[0].params.scale[0] == 1.f / 32);

  // Mixed precision: a word length per conv's weights and per activation tensor a0..aL.
  r.mode = "w6.3.8a8.5.12.7";
  QuantModel qm(*m, r);
  for (int i = 0; i < 3; ++i) CHECK(qm.weights[size_t(i)].fmt.bits == std::vector<int>{6, 3, 8}[size_t(i)]);
  for (int j = 0; j < 4; ++j) CHECK((qm.acts[size_t(j)].on && qm.acts[size_t(j)].fmt.bits == std::vector<int>{8, 5, 12, 7}[size_t(j)]));
  CHECK(qm.weights[1].fmt.per_channel);
  CHECK(qm.acts[2].fmt.scheme == Scheme::affine);
  r.mode = "w6.3a8.5.12.7";
  CHECK_THROWS_WITH(QuantModel(*m, r), Catch::Contains("gives 2 weight word lengths; the model has 3"));
  r.mode = "w6.3.8a8.5.12";
  CHECK_THROWS_WITH(QuantModel(*m, r), Catch::Contains("gives 3 activation word lengths; the model has 4"));
  r.mode = "w6.3.8a8.5.17.7";
  CHECK_THROWS_WITH(QuantModel(*m, r), Catch::Contains("2..16"));
  r.mode = "w6.3.8a8.5.12.7";
  r.layers = {1};
  CHECK_THROWS_WITH(QuantModel(*m, r), Catch::Contains("--layers must be all"));
  r.layers = {};

  r.mode = "w1a8";
  CHECK_THROWS_WITH(QuantModel(*m, r), Catch::Contains("2..16"));
  r.mode = "int7";
  CHECK_THROWS_WITH(QuantModel(*m, r), Catch::Contains("unknown quantisation mode 'int7'"));

  r.mode = "int8";
  r.layers = {1};
  QuantModel qs(*m, r);
  CHECK(qs.weights[0].kind == WeightKind::f32);
  CHECK(qs.weights[1].kind == WeightKind::integer);
  CHECK(qs.weights[2].kind == WeightKind::f32);
  CHECK((!qs.acts[0].on && qs.acts[1].on && qs.acts[2].on && !qs.acts[3].on));
}

TEST_CASE("quant model: float16 / bfloat16 are the float model with rounded weights", "[quant]") {
  auto m = tiny_model(2);
  const Tensor x = image(7);
  for (const char* mode : {"float16", "bfloat16"}) {
    QuantModel q = make(*m, mode);
    auto ref = tiny_model(2);
    for (size_t i = 0; i < ref->convs.size(); ++i) {
      Tensor& k = ref->convs[i]->weight.value();
      k = std::string(mode) == "float16" ? round_to_f16(k) : round_to_bf16(k);
    }
    CHECK(same_bits(q.forward(x), float_forward(*ref, x)));
    CHECK(max_abs_diff(q.forward(x), float_forward(*m, x)) < (std::string(mode) == "float16" ? 2e-3 : 2e-2));
  }
}

TEST_CASE("quant model: the integer path equals the float simulation up to rounding", "[quant]") {
  auto m = tiny_model(3);
  for (const char* mode : {"int8", "w8a8", "w4a8", "w6a6", "int16x8", "w16a16", "w3a12", "q3.9"}) {
    INFO(mode);
    QuantModel q = make(*m, mode);
    for (size_t i = 0; i < q.kernels.size(); ++i) CHECK(q.integer_layer(int(i)));
    // Layer by layer on the same input (on a_i's grid): the integer path and the float
    // simulation lie on the same output grid and differ by at most one step, where the
    // simulation's float rounding of s_in * s_w * acc + b differs from the integer path's
    // (Q31 multiplier, bias rounded to the accumulator's scale).
    Tensor a = fake_quantize(image(11), q.acts[0].fmt, q.acts[0].params);
    for (size_t i = 0; i < q.kernels.size(); ++i) {
      const Tensor yi = q.forward_layer(int(i), a);
      const Tensor ys = fake_quantize(conv2d_relu(Var(a), Var(q.effective_kernel(int(i))), Var(q.biases[i])).value(),
                                      q.acts[i + 1].fmt, q.acts[i + 1].params);
      const float step = q.acts[i + 1].params.scale[0];
      CHECK(max_abs_diff(yi, ys) <= step * 1.01);
      int64_t same = 0;
      for (int64_t j = 0; j < yi.numel(); ++j) same += yi.f32()[j] == ys.f32()[j];
      CHECK(double(same) >= 0.95 * double(yi.numel()));
      a = yi;
    }
    // The whole model is close to the float model at these word lengths.
    const Tensor x = image(11);
    const double min_psnr = std::string(mode) == "w3a12" ? 12.0 : std::string(mode) == "w4a8" ? 25.0 : 35.0;
    CHECK(psnr_vs(q.forward(x), float_forward(*m, x)) > min_psnr);
    CHECK(psnr_vs(simulate(q, x), float_forward(*m, x)) > min_psnr);
  }
  QuantModel wide = make(*m, "w16a16");
  CHECK(wide.accumulator_bits_of(1) > 32);
  CHECK(wide.describe().find("accumulates in int64 where that bound exceeds int32") != std::string::npos);
  QuantModel narrow = make(*m, "int8");
  CHECK(narrow.accumulator_bits_of(1) <= 32);
}

TEST_CASE("quant model: dynamic range and layer subsets run", "[quant]") {
  auto m = tiny_model(4);
  const Tensor x = image(12);
  QuantModel qd = make(*m, "dynamic-range");
  CHECK(qd.dynamic_layer(0));
  CHECK(psnr_vs(qd.forward(x), float_forward(*m, x)) > 35);
  QuantModel qs = make(*m, "w4a4", {0, 2});
  CHECK(qs.integer_layer(0));
  CHECK_FALSE(qs.integer_layer(1));
  CHECK(qs.integer_layer(2));
  const Tensor y = qs.forward(x);
  CHECK(y.shape() == Shape{1, 22, 26, 1});
}

TEST_CASE("quant model: files round-trip bit for bit and bad files are refused", "[quant]") {
  qsr_test::TempDir dir("quant_model");
  auto m = tiny_model(5);
  const Tensor x = image(13);
  for (const char* mode : {"int8", "float16", "bfloat16", "dynamic-range", "q2.6", "w5a10", "a8"}) {
    INFO(mode);
    QuantModel q = make(*m, mode);
    const std::string p = (dir.path / (std::string(mode) + ".safetensors")).string();
    save_quant_model(p, q);
    CHECK(is_quant_checkpoint(p));
    QuantModel r = load_quant_model(p);
    CHECK(r.mode == q.mode);
    CHECK(same_bits(r.forward(x), q.forward(x)));
    CHECK(r.stored_bytes() == q.stored_bytes());
  }
  // A float model is not a quantised one.
  const std::string fp = (dir.path / "float.safetensors").string();
  save_model(fp, *m);
  CHECK_FALSE(is_quant_checkpoint(fp));
  CHECK_THROWS_WITH(load_quant_model(fp), Catch::Contains("not a qsr quantised model"));
  // Codes outside their format, a missing activation scale.
  QuantModel q = make(*m, "w4a8");
  Checkpoint c;
  const std::string good = (dir.path / "good.safetensors").string();
  save_quant_model(good, q);
  c = load_safetensors(good);
  for (auto& [name, t] : c.tensors)
    if (name == "conv2.kernel") t.data<int8_t>()[0] = 100;
  const std::string bad1 = (dir.path / "bad1.safetensors").string();
  save_safetensors(bad1, c);
  CHECK_THROWS_WITH(load_quant_model(bad1), Catch::Contains("codes outside its format"));
  c = load_safetensors(good);
  std::erase_if(c.tensors, [](auto& e) { return e.first == "a2.scale"; });
  const std::string bad2 = (dir.path / "bad2.safetensors").string();
  save_safetensors(bad2, c);
  CHECK_THROWS_WITH(load_quant_model(bad2), Catch::Contains("a2 parameters are missing"));
  // Sizes: 4-bit weights pack to an eighth of f32.
  CHECK(q.packed_bits() < make(*m, "float16").packed_bits());
}

TEST_CASE("quant model: the model's input and output take the image range [0, 1]", "[quant]") {
  auto m = tiny_model(3);
  QuantModel q = make(*m, "int8");
  for (size_t j : {size_t(0), q.acts.size() - 1}) {
    CHECK(q.acts[j].params.scale[0] == Approx(1.0 / 255));
    CHECK(q.acts[j].params.zero_point[0] == -128);  // real 0 is the lowest code
  }
}

TEST_CASE("quant model: GPTQ rounding lowers the output error layer by layer and end to end", "[quant]") {
  auto m = tiny_model(4);
  const std::vector<Tensor> calib = calib_set();
  for (const std::string mode : {"w4a8", "w3", "int8"}) {
    INFO(mode);
    QuantModel nearest = make(*m, mode);
    QuantModel g = nearest;
    GptqOptions opt;
    opt.bias_correction = false;
    opt.scale_search = false;
    const auto rep = gptq_round(g, calib, opt);
    REQUIRE(rep.size() == 3);
    for (const auto& r : rep) {
      INFO("conv" << r.layer + 1);
      CHECK(r.err_gptq <= r.err_nearest);
      CHECK(r.changed > 0);
      const WeightQuant& a = nearest.weights[size_t(r.layer)];
      const WeightQuant& b = g.weights[size_t(r.layer)];
      CHECK(a.params.scale == b.params.scale);  // only the codes move
      CHECK(b.codes.dtype() == a.codes.dtype());
      const Tensor codes = dequantize(b.codes, QParams{std::vector<float>(b.params.size(), 1.f), b.params.zero_point});
      for (int64_t j = 0; j < codes.numel(); ++j) {
        CHECK(codes.f32()[j] >= float(b.fmt.qmin()));
        CHECK(codes.f32()[j] <= float(b.fmt.qmax()));
      }
    }
    // End to end against the float model, on the calibration images.
    CHECK(mse_vs_float(g, *m, calib) < mse_vs_float(nearest, *m, calib));
  }
}

TEST_CASE("quant model: GPTQ's error report is the layer's real output error", "[quant]") {
  auto m = tiny_model(5);
  QuantModel q = make(*m, "w5a8");
  const std::vector<Tensor> calib = calib_set();
  const Tensor w_float = q.kernels[0];
  const Tensor w_nearest = q.effective_kernel(0);
  const auto rep = gptq_round(q, calib, GptqOptions{});
  const Tensor w_gptq = q.effective_kernel(0);
  // conv1 sees the input on its 8-bit grid; the bias cancels out of the difference.
  NoGradGuard ng;
  double se_n = 0, se_g = 0;
  int64_t count = 0;
  const Tensor zero = Tensor::zeros({w_float.dim(3)});
  for (const Tensor& x : calib) {
    const Tensor xq = fake_quantize(x, q.acts[0].fmt, q.acts[0].params);
    const Tensor yf = conv2d(Var(xq), Var(w_float), Var(zero)).value();
    const Tensor yn = conv2d(Var(xq), Var(w_nearest), Var(zero)).value();
    const Tensor yg = conv2d(Var(xq), Var(w_gptq), Var(zero)).value();
    for (int64_t i = 0; i < yf.numel(); ++i) {
      se_n += std::pow(double(yf.f32()[i]) - yn.f32()[i], 2);
      se_g += std::pow(double(yf.f32()[i]) - yg.f32()[i], 2);
    }
    count += yf.numel();
  }
  CHECK(rep[0].err_nearest == Approx(se_n / double(count)).epsilon(1e-3));
  CHECK(rep[0].err_gptq == Approx(se_g / double(count)).epsilon(1e-3));
}

TEST_CASE("quant model: GPTQ is deterministic, leaves float layers alone and needs calibration", "[quant]") {
  auto m = tiny_model(6);
  const std::vector<Tensor> calib = calib_set();
  QuantModel base = make(*m, "w6a8", {1});
  QuantModel a = base, b = base;
  {
    qsr_test::ThreadCount t(1);
    gptq_round(a, calib);
  }
  {
    qsr_test::ThreadCount t(2);
    gptq_round(b, calib);
  }
  CHECK(same_bits(a.weights[1].codes, b.weights[1].codes));
  CHECK(same_bits(a.biases[1], b.biases[1]));
  CHECK_FALSE(same_bits(a.biases[1], base.biases[1]));  // bias correction moved it
  for (int i : {0, 2}) {
    CHECK(same_bits(a.kernels[size_t(i)], base.kernels[size_t(i)]));
    CHECK(same_bits(a.biases[size_t(i)], base.biases[size_t(i)]));
  }
  QuantRequest r;
  r.mode = "int8";
  QuantModel uncalibrated(*m, r);
  CHECK_THROWS_WITH(gptq_round(uncalibrated, calib), Catch::Contains("calibrate"));
}

TEST_CASE("quant model: GPTQ's scale search clips only to lower the output error", "[quant]") {
  auto m = tiny_model(7);
  const std::vector<Tensor> calib = calib_set();
  QuantModel base = make(*m, "w3a8");
  QuantModel plain = base, searched = base;
  GptqOptions opt;
  opt.scale_search = false;
  const auto rp = gptq_round(plain, calib, opt);
  opt.scale_search = true;
  const auto rs = gptq_round(searched, calib, opt);
  bool clipped = false;
  for (size_t i = 0; i < base.weights.size(); ++i) {
    const auto& s0 = base.weights[i].params.scale;
    const auto& s1 = searched.weights[i].params.scale;
    REQUIRE(s0.size() == s1.size());
    for (size_t c = 0; c < s0.size(); ++c) {
      CHECK(s1[c] <= s0[c]);
      CHECK(s1[c] >= 0.49f * s0[c]);
      clipped |= s1[c] < s0[c];
    }
    CHECK(searched.weights[i].params.zero_point == base.weights[i].params.zero_point);
    // Reported against min-max's nearest rounding (on conv1, whose inputs are the same in both).
    if (i == 0) CHECK(rs[i].err_nearest == Approx(rp[i].err_nearest));
  }
  CHECK(clipped);  // at 3 bits some channel prefers a clipped grid
  CHECK(mse_vs_float(searched, *m, calib) < mse_vs_float(plain, *m, calib));
}
