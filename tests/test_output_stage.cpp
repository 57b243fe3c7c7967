// A conv's output stage (quant/ptq/output_stage.h): the record's fields are the spec's output
// stage of the reference execution, recomputed here from quant/spec.h and checked against
// QuantModel::forward_layer on a brute-force integer conv; and every user reads the same record
// (the engine's lowering and `qsr info`, the C export's sidecar, the inference library's file).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <limits>

#include "quant/export/export_c.h"
#include "quant/infer/infer_format.h"
#include "quant/lower/int_engine.h"
#include "quant/ptq/output_stage.h"
#include "quant_test_util.h"
#include "test_util.h"

using namespace qsr;
using namespace qsr::quant;
using qsr_test::config;
using qsr_test::image;
using qsr_test::model;
using qsr_test::quantised;

namespace {

struct Case {
  const char* mode;
  bool per_channel;
  Rounding rounding;
};

int bits_for(int64_t bound) {
  int b = 1;
  while ((int64_t(1) << (b - 1)) - 1 < bound) ++b;
  return b;
}

// The spec's output stage of static conv i, recomputed from quant/spec.h.
void check_static_fields(const QuantModel& q, int i, const ConvOutputStage& st) {
  const size_t u = size_t(i);
  const ActQuant& ai = q.acts[u];
  const ActQuant& ao = q.acts[u + 1];
  const WeightQuant& wq = q.weights[u];
  const std::vector<int32_t> w = codes_to_int32(wq.codes);
  const int cout = int(q.kernels[u].dim(3));
  REQUIRE(st.cout == cout);
  REQUIRE_FALSE(st.dynamic);
  const int32_t zin = ai.params.zero_point[0];
  CHECK(st.zin == zin);
  const int64_t span = std::max<int64_t>(int64_t(ai.fmt.qmax()) - zin, int64_t(zin) - ai.fmt.qmin());
  CHECK(st.in_span == span);
  int64_t wmax = 0, bmax = 0, bound_max = 0;
  for (int c = 0; c < cout; ++c) {
    const size_t v = size_t(c);
    const double s_acc = double(ai.params.scale[0]) * double(wq.params.scale[wq.params.size() == 1 ? 0 : v]);
    const Multiplier m = quantize_multiplier(s_acc / double(ao.params.scale[0]));
    CHECK(st.mult[v].m0 == m.m0);
    CHECK(st.mult[v].shift == m.shift);
    const int32_t b = quantize_bias(q.biases[u].f32()[c], s_acc);
    CHECK(st.bias[v] == b);
    int64_t l1 = 0, sum = 0;
    for (size_t j = v; j < w.size(); j += size_t(cout)) l1 += std::abs(int64_t(w[j])), sum += w[j], wmax = std::max<int64_t>(wmax, std::abs(int64_t(w[j])));
    CHECK(st.w_l1[v] == l1);
    CHECK(st.bias_eff[v] == int64_t(b) - int64_t(zin) * sum);
    CHECK(st.acc_bound[v] == std::abs(int64_t(b)) + span * l1);
    bmax = std::max<int64_t>(bmax, std::abs(int64_t(b)));
    bound_max = std::max(bound_max, std::abs(int64_t(b)) + span * l1);
  }
  CHECK(st.zo == ao.params.zero_point[0]);
  const bool relu = conv_activation(q.cfg, u) == Activation::relu;
  CHECK(st.lo == (relu ? std::max(ao.fmt.qmin(), st.zo) : ao.fmt.qmin()));
  CHECK(st.hi == ao.fmt.qmax());
  CHECK(st.rounding == ao.fmt.rounding);
  CHECK(st.acc_bound_max == bound_max);
  CHECK(st.acc_bits == bits_for(bound_max));
  CHECK(st.worst_bits == accumulator_bits(st.k, st.cin, span, wmax, bmax));
  CHECK(st.worst_bits == q.accumulator_bits_of(i));
  CHECK(st.acc_bits <= st.worst_bits);  // the per-channel bound is never looser than the worst case
}

// Conv i by brute force on a's codes with the record's output stage: exactly forward_layer's
// output, and no partial sum of bias + sum (x - zin) w leaves the channel's acc_bound.
void check_against_reference(const QuantModel& q, int i, const ConvOutputStage& st, const Tensor& a) {
  const size_t u = size_t(i);
  const ActQuant& ai = q.acts[u];
  const std::vector<int32_t> x = codes_to_int32(quantize(a, ai.fmt, ai.params));
  const std::vector<int32_t> w = codes_to_int32(q.weights[u].codes);
  const Tensor ref = q.forward_layer(i, a);
  const int h = int(a.dim(1)), wd = int(a.dim(2)), k = st.k, cin = st.cin, cout = st.cout, pad = k / 2;
  const float so = q.acts[u + 1].params.scale[0];
  int64_t bad_bound = 0, bad_out = 0;
  for (int y = 0; y < h; ++y)
    for (int xo = 0; xo < wd; ++xo)
      for (int c = 0; c < cout; ++c) {
        int64_t acc = st.bias[size_t(c)];
        for (int ky = 0; ky < k; ++ky)
          for (int kx = 0; kx < k; ++kx) {
            const int iy = y + ky - pad, ix = xo + kx - pad;
            if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
            for (int ci = 0; ci < cin; ++ci) {
              acc += int64_t(x[(size_t(iy) * wd + ix) * cin + ci] - st.zin) * w[((size_t(ky) * k + kx) * cin + ci) * cout + c];
              bad_bound += std::abs(acc) > st.acc_bound[size_t(c)];
            }
          }
        const int32_t code = requantize_code(acc, st.mult[size_t(c)], st.zo, st.lo, st.hi, st.rounding);
        const float v = dequantize_value(code, so, st.zo);
        bad_out += std::memcmp(&v, ref.f32() + (size_t(y) * wd + xo) * cout + c, sizeof v) != 0;
      }
  CHECK(bad_bound == 0);
  CHECK(bad_out == 0);
}

// What the users of the record read: the engine's lowering (`qsr info`), the inference
// library's file and the C export's sidecar.
void check_users(const QuantModel& q, const std::vector<ConvOutputStage>& stages) {
  const IntEngine e(q);
  bool fits32 = true;
  for (size_t i = 0; i < stages.size(); ++i) {
    CHECK(e.layers()[i].acc_bits == stages[i].acc_bits);
    CHECK(e.layers()[i].wide == !stages[i].int32_folded);
    fits32 = fits32 && stages[i].acc_bits <= 32;
  }
  const std::vector<uint8_t> blob = e.infer_model();
  infer::Header H;
  std::memcpy(&H, blob.data(), sizeof H);
  for (size_t i = 0; i < stages.size(); ++i) {
    infer::ConvRecord R;
    std::memcpy(&R, blob.data() + H.records + i * sizeof R, sizeof R);
    CHECK(R.zo == stages[i].zo);
    CHECK(R.lo == stages[i].lo);
    CHECK(R.hi == stages[i].hi);
    CHECK(R.away == int32_t(stages[i].half_away()));
    CHECK(R.in_zp == stages[i].zin);
    CHECK(R.wide == int32_t(!stages[i].int32_folded));
  }
  if (!fits32) {
    REQUIRE_THROWS_WITH(export_c(q, "net", 16, 5, 4, 1), Catch::Contains("-bit accumulators"));
    return;
  }
  const CExport c = export_c(q, "net", 16, 5, 4, 1);
  for (size_t i = 0; i < stages.size(); ++i) {
    const nlohmann::json& conv = c.sidecar["convs"][i];
    CHECK(conv["accumulator_bits"].get<int>() == stages[i].acc_bits);
    std::vector<int32_t> m0, shift;
    for (const Multiplier& m : stages[i].mult) m0.push_back(m.m0), shift.push_back(m.shift);
    CHECK(conv["requantisation"]["m0"].get<std::vector<int32_t>>() == m0);
    CHECK(conv["requantisation"]["shift"].get<std::vector<int32_t>>() == shift);
    CHECK(conv["requantisation"]["lo"].get<int32_t>() == stages[i].lo);
    CHECK(conv["requantisation"]["hi"].get<int32_t>() == stages[i].hi);
  }
}

}  // namespace

TEST_CASE("output stage: the record is the reference's output stage and bound, for every user", "[quant]") {
  // Channel counts with tails (20, 12 and 9 outputs), ReLU on every conv but the last.
  const EspcnConfig cfg = config(3, {20, 12}, {5, 3, 3});
  auto m = model(cfg, qsr_test::base_seed() + 501);
  const Case cases[] = {{"int8", true, Rounding::half_even},    {"int16x8", true, Rounding::half_even},
                        {"w4a4", true, Rounding::half_even},    {"w3a12", true, Rounding::half_even},
                        {"q3.9", true, Rounding::half_even},    {"int8", false, Rounding::half_even},
                        {"w4a4", false, Rounding::half_away},   {"int8", true, Rounding::half_away},
                        {"w16a16", true, Rounding::half_even}};
  for (const Case& t : cases) {
    const QuantModel q = quantised(*m, t.mode, t.per_channel, t.rounding);
    INFO(t.mode << (t.per_channel ? " per-channel " : " per-tensor ") << rounding_name(t.rounding));
    Tensor a = image(qsr_test::base_seed() + 502, 1, 9, 11);
    a = fake_quantize(a, q.acts[0].fmt, q.acts[0].params);
    std::vector<ConvOutputStage> stages;
    for (int i = 0; i < int(q.kernels.size()); ++i) {
      INFO("conv" << i + 1);
      REQUIRE(q.integer_layer(i));
      stages.push_back(conv_output_stage(q, i));
      check_static_fields(q, i, stages.back());
      check_against_reference(q, i, stages.back(), a);
      a = q.forward_layer(i, a);
    }
    check_users(q, stages);
  }
}

TEST_CASE("output stage: dynamic-range convs, the two bounds, and convs without one", "[quant]") {
  const EspcnConfig cfg = config(2, {16, 8}, {5, 3, 3});
  auto m = model(cfg, qsr_test::base_seed() + 503);
  const QuantModel qd = quantised(*m, "dynamic-range");
  const IntEngine ed(qd);
  for (int i = 0; i < int(qd.kernels.size()); ++i) {
    INFO("conv" << i + 1);
    REQUIRE(qd.dynamic_layer(i));
    const ConvOutputStage st = conv_output_stage(qd, i);
    CHECK(st.dynamic);
    CHECK(st.mult.empty());
    const WeightQuant& wq = qd.weights[size_t(i)];
    const int64_t span = int64_t(qd.acts[size_t(i)].fmt.qmax()) - qd.acts[size_t(i)].fmt.qmin();
    CHECK(st.in_span == span);  // any zero point the run may choose
    for (int c = 0; c < st.cout; ++c) {
      CHECK(st.w_scale[size_t(c)] == double(wq.params.scale[wq.params.size() == 1 ? 0 : size_t(c)]));
      CHECK(st.bias_real[size_t(c)] == qd.biases[size_t(i)].f32()[c]);
      CHECK(st.acc_bound[size_t(c)] == span * st.w_l1[size_t(c)]);
    }
    CHECK(st.worst_bits == qd.accumulator_bits_of(i));
    CHECK(ed.layers()[size_t(i)].acc_bits == st.acc_bits);
  }
  // The worst case (every |w| at the conv's largest) and the per-channel bound are different
  // facts: with orthogonal weights the worst case is the looser.
  const QuantModel q16 = quantised(*m, "w16a16");
  bool looser = false, wide = false;
  for (int i = 0; i < int(q16.kernels.size()); ++i) {
    const ConvOutputStage st = conv_output_stage(q16, i);
    looser |= st.worst_bits > st.acc_bits;
    wide |= !st.int32_folded;
    CHECK(st.int32_folded == (st.acc_bound_max <= std::numeric_limits<int32_t>::max() &&
                              st.in_abs * *std::max_element(st.w_l1.begin(), st.w_l1.end()) <= std::numeric_limits<int32_t>::max() &&
                              std::all_of(st.bias_eff.begin(), st.bias_eff.end(), [](int64_t b) {
                                return std::abs(b) <= std::numeric_limits<int32_t>::max();
                              })));
  }
  CHECK(looser);
  CHECK(wide);  // 16-bit codes by 16-bit weights: int64 accumulators somewhere
  const QuantModel qf = quantised(*m, "bfloat16");
  CHECK(qf.accumulator_bits_of(0) == 0);
  REQUIRE_THROWS_WITH(conv_output_stage(qf, 0), Catch::Contains("conv1") && Catch::Contains("no integer output stage"));
}
