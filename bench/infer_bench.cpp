// The inference-only library (quant/infer) against the integer engine it was lowered from, one
// thread each (the library has no threads), on one low-res frame: rounds alternate the two,
// each a median of `runs` runs, and the ratio is library / engine per round; the median ratio
// over the rounds is the result (docs/EMBEDDED.md). The outputs are checked to be identical.
//
//   qsr_infer_bench MODEL [WxH] [ROUNDS] [RUNS] [BAND...]
//     MODEL   a quantised checkpoint (qsr quantize), every conv on the integer path
//     WxH     low-res frame (default 640x360); ROUNDS (default 5), RUNS (default 5)
//     BAND    library bands to time (default 2 8 32)
// Environment: QSR_ISA=scalar times both on the scalar kernels.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "engine/cpu.h"
#include "engine/parallel.h"
#include "engine/stats.h"
#include "quant/infer/qsr_infer.h"
#include "quant/lower/int_engine.h"

using namespace qsr;

namespace {

template <class F>
double time_ms(int runs, F&& f) {
  std::vector<double> t;
  for (int i = 0; i < runs; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  return median(t);
}

}  // namespace

int main(int argc, char** argv) try {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MODEL [WxH] [ROUNDS] [RUNS] [BAND...]\n", argv[0]);
    return 2;
  }
  int w = 640, h = 360;
  if (argc > 2 && std::sscanf(argv[2], "%dx%d", &w, &h) != 2) throw Error(std::string("bad size ") + argv[2]);
  const int rounds = argc > 3 ? std::atoi(argv[3]) : 5, runs = argc > 4 ? std::atoi(argv[4]) : 5;
  std::vector<int> bands;
  for (int i = 5; i < argc; ++i) bands.push_back(std::atoi(argv[i]));
  if (bands.empty()) bands = {2, 8, 32};
  QSR_CHECK(rounds >= 1 && runs >= 1, "ROUNDS and RUNS must be positive");
  set_num_threads(1);

  const quant::QuantModel q = quant::load_quant_model(argv[1]);
  const quant::IntEngine engine(q);
  const Isa isa = engine.kernels().isa;
  // The model lowered for the kernels the engine runs (the library then picks the same table).
  const std::vector<uint8_t> blob = quant::IntEngine(q, kernel_set_lowering(isa)).infer_model();
  qsr_infer_model m;  // (a vector's storage is 16-byte aligned, as the library needs)
  const int rc = qsr_infer_open(&m, blob.data(), blob.size(), isa == Isa::scalar ? QSR_INFER_FORCE_SCALAR : 0);
  QSR_CHECK(rc == QSR_INFER_OK, qsr_infer_strerror(rc));
  qsr_infer_info info;
  qsr_infer_get_info(&m, &info);

  Rng rng(1337);
  Tensor x = Tensor::empty({1, h, w, 1});
  for (int64_t i = 0; i < x.numel(); ++i) x.f32()[i] = float(rng.below(256)) * (1.f / 255.f);
  Tensor ref = engine.forward(x);
  Tensor y = Tensor::zeros(ref.shape());
  std::printf("%s: %s, %dx%d frame, 1 thread; engine %s kernels, library %s kernels, model file %zu bytes\n", argv[1],
              q.mode.c_str(), w, h, engine.kernels().name, info.kernels, info.model_bytes);
  for (int band : bands) {
    const size_t bytes = qsr_infer_arena_bytes(&m, w, band);
    QSR_CHECK(bytes > 0, "bad band " + std::to_string(band));
    std::vector<double> arena(bytes / 8 + 1);
    auto lib = [&] {
      QSR_CHECK(qsr_infer_run_f32(&m, x.f32(), w, h, y.f32(), band, arena.data(), bytes) == QSR_INFER_OK, "run failed");
    };
    lib();
    QSR_CHECK(std::memcmp(y.f32(), ref.f32(), ref.nbytes()) == 0, "the library's output differs from the engine's");
    std::vector<double> ratios, tl, te;
    for (int r = 0; r < rounds; ++r) {
      const double e = time_ms(runs, [&] { ref = engine.forward(x); });
      const double l = time_ms(runs, lib);
      te.push_back(e), tl.push_back(l), ratios.push_back(l / e);
      std::printf("  band %d round %d: library %.1f ms, engine %.1f ms, library / engine %.3f\n", band, r + 1, l, e, l / e);
    }
    std::printf("band %d: arena %zu bytes; median library %.1f ms, engine %.1f ms; median library / engine ratio %.3f\n", band,
                bytes, median(tl), median(te), median(ratios));
  }
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "qsr_infer_bench: %s\n", e.what());
  return 1;
}
