#include "engine/cpu.h"

#include <cstdlib>

#include "engine/parallel.h"
#include "engine/tensor.h"

namespace qsr {

namespace {
std::string not_available(Isa isa, IsaStatus st) {
  if (st == IsaStatus::not_built)
    return "the " + isa_name(isa) + " kernels are not compiled in this build (it was configured with -DQSR_SIMD=OFF)";
  return "this CPU cannot run the " + isa_name(isa) + " kernels (they need " + isa_needs(isa) + ")";
}
}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = cpu_detect();
  return f;
}

std::string isa_name(Isa isa) { return isa_id(isa); }

Isa parse_isa(const std::string& name) {
  Isa isa;
  if (!isa_from_id(name.c_str(), &isa))
    throw Error("unknown instruction set '" + name + "' (expected scalar, avx2 or avx512)");
  return isa;
}

bool isa_compiled(Isa isa) { return isa_built(isa); }

bool isa_supported(Isa isa) { return isa_built(isa) && isa_runnable(isa, cpu_features()); }

std::vector<Isa> available_isas() {
  std::vector<Isa> r;
  for (Isa i : kAllIsas)
    if (isa_supported(i)) r.push_back(i);
  return r;
}

Isa best_isa() { return available_isas().back(); }

void check_isa(Isa isa) {
  if (!isa_built(isa)) throw Error(not_available(isa, IsaStatus::not_built));
  if (!isa_runnable(isa, cpu_features())) throw Error(not_available(isa, IsaStatus::not_runnable));
}

Isa active_isa() {
  static const Isa isa = [] {
    const char* env = std::getenv("QSR_ISA");
    Isa r = Isa::scalar;
    const IsaStatus st = isa_resolve(env, cpu_features(), &r);
    if (st == IsaStatus::unknown_name) (void)parse_isa(env);  // throws, naming it
    if (st != IsaStatus::ok) throw Error("QSR_ISA=" + std::string(env) + ": " + not_available(parse_isa(env), st));
    return r;
  }();
  return isa;
}

std::string cpu_report() {
  const auto& f = cpu_features();
  std::string s;
  s += std::string("cpu: ") + (f.brand[0] ? f.brand : f.vendor) + "\n";
  s += "features:";
  auto add = [&](bool on, const char* n) {
    if (on) s += std::string(" ") + n;
  };
  add(f.sse42, "sse4.2");
  add(f.avx, "avx");
  add(f.avx2, "avx2");
  add(f.fma, "fma");
  add(f.f16c, "f16c");
  add(f.bmi2, "bmi2");
  add(f.avxvnni, "avx-vnni");
  add(f.avx512f, "avx512f");
  add(f.avx512dq, "avx512dq");
  add(f.avx512bw, "avx512bw");
  add(f.avx512vl, "avx512vl");
  add(f.avx512vnni, "avx512vnni");
  add(f.avx512bf16, "avx512bf16");
  add(f.avx512fp16, "avx512fp16");
  s += "\n";
  s += "kernels compiled:";
  for (Isa i : kAllIsas)
    if (isa_compiled(i)) s += " " + isa_name(i);
  s += "\nkernels runnable:";
  for (Isa i : available_isas()) s += " " + isa_name(i);
  s += "\nisa in use: " + isa_name(active_isa());
  const char* env = std::getenv("QSR_ISA");
  s += (env && *env) ? " (forced by QSR_ISA)" : " (best available; set QSR_ISA=scalar|avx2|avx512 to force)";
  s += "\nthreads: " + std::to_string(num_threads()) + (openmp_enabled() ? " (OpenMP)" : " (no OpenMP in this build)");
  return s + "\n";
}

}  // namespace qsr
