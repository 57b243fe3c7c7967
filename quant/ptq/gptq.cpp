#include "quant/ptq/gptq.h"

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <fmt/core.h>

#include <algorithm>
#include <numeric>

#include "engine/autograd.h"
#include "engine/ops.h"

namespace qsr::quant {

namespace {

using MatD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic>;
using MatF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using VecD = Eigen::VectorXd;

constexpr int64_t kChunkRows = 2048;

// What conv i sees of its input a: a statically quantised input on its grid, else a.
Tensor layer_input(const QuantModel& q, size_t i, const Tensor& a) {
  const ActQuant& aq = q.acts[i];
  return aq.on && !aq.dynamic ? fake_quantize(a, aq.fmt, aq.params) : a;
}

// Sums over the sampled im2col rows of the inputs: H = sum x x^T and s = sum x (x: K values in
// HWIO order (ky, kx, ci), zero outside the image): each chunk of rows in single precision,
// their total in double, in a fixed order.
struct Moments {
  MatD h;
  VecD sum;
  int64_t rows = 0;
};

// Calls f(chunk) with row-major im2col chunks of at most kChunkRows sampled rows.
template <class F>
void im2col_chunks(const std::vector<Tensor>& xs, int k, int64_t stride, F&& f) {
  const int pad = k / 2;
  int64_t global = 0;
  for (const Tensor& x : xs) {
    const int64_t n = x.dim(0), h = x.dim(1), w = x.dim(2), c = x.dim(3), kk = int64_t(k) * k * c;
    MatF chunk(kChunkRows, kk);
    int64_t r = 0;
    const float* xp = x.f32();
    for (int64_t b = 0; b < n; ++b)
      for (int64_t oy = 0; oy < h; ++oy)
        for (int64_t ox = 0; ox < w; ++ox, ++global) {
          if (global % stride != 0) continue;
          float* row = chunk.row(r).data();
          for (int ky = 0; ky < k; ++ky) {
            const int64_t iy = oy + ky - pad;
            for (int kx = 0; kx < k; ++kx) {
              const int64_t ix = ox + kx - pad;
              float* dst = row + (int64_t(ky) * k + kx) * c;
              if (iy < 0 || iy >= h || ix < 0 || ix >= w) {
                std::fill(dst, dst + c, 0.f);
              } else {
                const float* src = xp + ((b * h + iy) * w + ix) * c;
                std::copy(src, src + c, dst);
              }
            }
          }
          if (++r == kChunkRows) {
            f(chunk);
            r = 0;
          }
        }
    if (r > 0) f(MatF(chunk.topRows(r)));
  }
}

Moments moments(const std::vector<Tensor>& xs, int k, int64_t stride, bool second) {
  const int64_t kk = int64_t(k) * k * xs.front().dim(3);
  Moments m;
  m.h = MatD::Zero(second ? kk : 0, second ? kk : 0);
  m.sum = VecD::Zero(kk);
  im2col_chunks(xs, k, stride, [&](const MatF& c) {
    m.rows += c.rows();
    m.sum += c.colwise().sum().transpose().cast<double>();
    if (second) m.h += (c.transpose() * c).cast<double>();  // a chunk in f32, the total in f64
  });
  return m;
}

int64_t positions(const std::vector<Tensor>& xs) {
  int64_t p = 0;
  for (const Tensor& x : xs) p += x.dim(0) * x.dim(1) * x.dim(2);
  return p;
}

void set_code(Tensor& codes, int64_t j, int32_t q) {
  switch (codes.dtype()) {
    case DType::i8: codes.data<int8_t>()[j] = int8_t(q); break;
    case DType::u8: codes.data<uint8_t>()[j] = uint8_t(q); break;
    case DType::i16: codes.data<int16_t>()[j] = int16_t(q); break;
    case DType::i32: codes.data<int32_t>()[j] = q; break;
    default: throw Error("gptq: integer codes expected");
  }
}

// The weight scales of one symmetric conv (per scale group: a channel, or the tensor), clipped to
// alpha * s, alpha in {1, 0.98, ..., 0.5}, whose nearest rounding has the smallest output error
// d^T H d (ties: the larger alpha).
std::vector<float> search_scales(const MatD& w, const MatD& h, const QFormat& fmt, const QParams& p) {
  const int64_t kk = w.rows(), cout = w.cols();
  const int64_t groups = int64_t(p.size());
  std::vector<double> best(size_t(groups), -1.0);
  std::vector<float> best_scale(p.scale);
  const std::vector<float> base = p.scale;
  for (int step = 0; step <= 25; ++step) {
    const float alpha = 1.f - 0.02f * float(step);
    std::vector<double> err(size_t(groups), 0.0);
    for (int64_t c = 0; c < cout; ++c) {
      const size_t g = groups == 1 ? 0 : size_t(c);
      const float s_try = base[g] * alpha;
      VecD d(kk);
      for (int64_t j = 0; j < kk; ++j)
        d(j) = w(j, c) - double(dequantize_value(quantize_value(float(w(j, c)), s_try, 0, fmt), s_try, 0));
      err[g] += d.dot(h * d);
    }
    for (size_t g = 0; g < size_t(groups); ++g)
      if (best[g] < 0 || err[g] < best[g]) {
        best[g] = err[g];
        best_scale[g] = base[g] * alpha;
      }
  }
  return best_scale;
}

// GPTQ's codes (HWIO order) of weights w (rows: the reduction, cols: output channels) with the
// output Hessian h; `quant(v, c)` gives v's code in channel c and `deq(code, c)` its value.
template <class Quant, class Deq>
std::vector<int32_t> gptq_codes(const MatD& w, MatD h, const GptqOptions& opt, int conv, Quant quant, Deq deq) {
  const int64_t kk = w.rows(), cout = w.cols();
  for (int64_t j = 0; j < kk; ++j)
    if (h(j, j) == 0) h(j, j) = 1;  // an input that is always zero: any code does
  std::vector<int64_t> perm(static_cast<size_t>(kk));
  std::iota(perm.begin(), perm.end(), 0);
  if (opt.act_order)
    std::stable_sort(perm.begin(), perm.end(), [&](int64_t a, int64_t b) { return h(a, a) > h(b, b); });
  MatD hp(kk, kk), wp(kk, cout);
  for (int64_t a = 0; a < kk; ++a) {
    wp.row(a) = w.row(perm[size_t(a)]);
    for (int64_t b = 0; b < kk; ++b) hp(a, b) = h(perm[size_t(a)], perm[size_t(b)]);
  }
  hp.diagonal().array() += opt.damp * hp.diagonal().mean();
  const MatD hinv = hp.llt().solve(MatD::Identity(kk, kk));
  Eigen::LLT<MatD> chol(hinv);
  QSR_CHECK(chol.info() == Eigen::Success, fmt::format("gptq: conv{}: the inverse Hessian is not positive definite", conv + 1));
  const MatD u = chol.matrixU();
  std::vector<int32_t> codes(size_t(kk * cout));
  Eigen::RowVectorXd err(cout);
  for (int64_t j = 0; j < kk; ++j) {
    const int64_t src = perm[size_t(j)];
    for (int64_t c = 0; c < cout; ++c) {
      const int32_t code = quant(wp(j, c), c);
      codes[size_t(src * cout + c)] = code;
      err(c) = (wp(j, c) - deq(code, c)) / u(j, j);
    }
    if (j + 1 < kk) wp.bottomRows(kk - j - 1).noalias() -= u.row(j).tail(kk - j - 1).transpose() * err;
  }
  return codes;
}

// GPTQ rounding of integer conv i, whose quantised-chain inputs are aq and float-chain inputs af
// (per image); its report, and the bias corrected when asked.
GptqLayerReport round_conv(QuantModel& q, size_t i, const std::vector<Tensor>& aq, const std::vector<Tensor>& af,
                           const GptqOptions& opt) {
  WeightQuant& wq = q.weights[i];
  const int k = int(q.kernels[i].dim(0));
  const int64_t cout = q.kernels[i].dim(3), kk = q.kernels[i].numel() / cout;
  std::vector<Tensor> xq;
  for (const Tensor& a : aq) xq.push_back(layer_input(q, i, a));
  const int64_t stride = std::max<int64_t>(1, (positions(xq) + opt.max_rows - 1) / opt.max_rows);
  Moments mq = moments(xq, k, stride, true);
  const double rows = double(mq.rows);

  MatD w(kk, cout);
  const float* kp = q.kernels[i].f32();
  for (int64_t j = 0; j < kk; ++j)
    for (int64_t c = 0; c < cout; ++c) w(j, c) = kp[j * cout + c];
  const QParams& p = wq.params;  // search_scales may change the scales below
  auto sc = [&](int64_t c) { return p.scale[p.size() == 1 ? 0 : size_t(c)]; };
  auto zp = [&](int64_t c) { return p.zero_point[p.size() == 1 ? 0 : size_t(c)]; };
  auto dq = [&](int32_t code, int64_t c) { return double(dequantize_value(code, sc(c), zp(c))); };
  auto quant = [&](double v, int64_t c) { return quantize_value(float(v), sc(c), zp(c), wq.fmt); };

  // Nearest rounding, for the report.
  MatD dnear(kk, cout);
  for (int64_t j = 0; j < kk; ++j)
    for (int64_t c = 0; c < cout; ++c) dnear(j, c) = w(j, c) - dq(quant(w(j, c), c), c);
  if (opt.scale_search && wq.fmt.scheme == Scheme::symmetric) wq.params.scale = search_scales(w, mq.h, wq.fmt, p);

  const std::vector<int32_t> codes = gptq_codes(w, mq.h, opt, int(i), quant, dq);
  MatD dg(kk, cout);
  int64_t changed = 0;
  wq.codes = wq.codes.clone();  // the storage may be shared with a copy of the model
  for (int64_t j = 0; j < kk; ++j)
    for (int64_t c = 0; c < cout; ++c) {
      const int32_t code = codes[size_t(j * cout + c)];
      dg(j, c) = w(j, c) - dq(code, c);
      changed += code != quant(w(j, c), c);
      set_code(wq.codes, j * cout + c, code);
    }
  GptqLayerReport rep;
  rep.layer = int(i);
  rep.err_nearest = (dnear.transpose() * mq.h * dnear).trace() / (rows * double(cout));
  rep.err_gptq = (dg.transpose() * mq.h * dg).trace() / (rows * double(cout));
  rep.changed = double(changed) / double(kk * cout);

  if (opt.bias_correction) {
    // mean(X_float) W - mean(X_q) W_q: the output shift the float bias absorbs.
    std::vector<Tensor> xf;
    for (const Tensor& a : af) xf.push_back(a);
    const Moments mf = moments(xf, k, stride, false);
    const MatD wqd = w - dg;
    const VecD shift = (mf.sum.transpose() / double(mf.rows) * w - mq.sum.transpose() / rows * wqd).transpose();
    Tensor b = q.biases[i].clone();
    for (int64_t c = 0; c < cout; ++c) b.f32()[c] += float(shift(c));
    q.biases[i] = b;
  }
  return rep;
}

}  // namespace

std::vector<GptqLayerReport> gptq_round(QuantModel& q, const std::vector<Tensor>& inputs, const GptqOptions& opt) {
  QSR_CHECK(!inputs.empty(), "gptq: no calibration images");
  QSR_CHECK(!q.needs_calibration(), "gptq: calibrate the activations first");
  QSR_CHECK(opt.damp > 0 && opt.max_rows > 0, "gptq: damping and row count must be positive");
  NoGradGuard ng;
  // Eigen's own threads would make the sums depend on the thread count.
  const int eigen_threads = Eigen::nbThreads();
  Eigen::setNbThreads(1);
  struct Restore {
    int n;
    ~Restore() { Eigen::setNbThreads(n); }
  } restore{eigen_threads};
  std::vector<GptqLayerReport> reports;
  std::vector<Tensor> aq, af;  // per image: the quantised model's and the float model's activations
  for (const Tensor& x : inputs) {
    QSR_CHECK(x.ndim() == 4 && x.dim(3) == q.cfg.channels, "gptq: inputs must be [n, h, w, channels]");
    aq.push_back(q.acts[0].on && !q.acts[0].dynamic ? fake_quantize(x, q.acts[0].fmt, q.acts[0].params) : x);
    af.push_back(x);
  }
  const std::vector<Tensor> float_biases = q.biases;
  for (size_t i = 0; i < q.kernels.size(); ++i) {
    if (q.weights[i].kind == WeightKind::integer) reports.push_back(round_conv(q, i, aq, af, opt));
    // Advance both chains by this conv.
    for (size_t m = 0; m < aq.size(); ++m) {
      aq[m] = q.forward_layer(int(i), aq[m]);
      af[m] = float_conv(af[m], q.kernels[i], float_biases[i], conv_activation(q.cfg, i), q.float_path);
    }
  }
  return reports;
}

}  // namespace qsr::quant
