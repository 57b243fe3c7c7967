#include "engine/cpu.h"

#include <cpuid.h>

#include <cstdlib>
#include <cstring>
#include <string_view>

#include "engine/parallel.h"
#include "engine/tensor.h"

namespace qsr {

namespace {
uint64_t xgetbv0() {
  uint32_t eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<uint64_t>(edx) << 32) | eax;
}

CpuFeatures detect() {
  CpuFeatures f;
  unsigned a, b, c, d;
  if (!__get_cpuid(0, &a, &b, &c, &d)) return f;
  unsigned max_leaf = a;
  char vendor[13] = {};
  std::memcpy(vendor, &b, 4);
  std::memcpy(vendor + 4, &d, 4);
  std::memcpy(vendor + 8, &c, 4);
  f.vendor = vendor;
  __get_cpuid(1, &a, &b, &c, &d);
  f.sse42 = c & bit_SSE4_2;
  f.fma = c & bit_FMA;
  f.f16c = c & bit_F16C;
  bool osxsave = c & bit_OSXSAVE;
  f.avx = c & bit_AVX;
  if (osxsave) {
    uint64_t xcr0 = xgetbv0();
    f.os_avx = (xcr0 & 0x6) == 0x6;
    f.os_avx512 = (xcr0 & 0xe6) == 0xe6;
  }
  if (max_leaf >= 7) {
    __cpuid_count(7, 0, a, b, c, d);
    f.avx2 = b & bit_AVX2;
    f.bmi2 = b & bit_BMI2;
    f.avx512f = b & bit_AVX512F;
    f.avx512dq = b & bit_AVX512DQ;
    f.avx512bw = b & bit_AVX512BW;
    f.avx512vl = b & bit_AVX512VL;
    f.avx512vnni = c & bit_AVX512VNNI;
    f.avx512fp16 = d & (1u << 23);
    __cpuid_count(7, 1, a, b, c, d);
    f.avxvnni = a & (1u << 4);
    f.avx512bf16 = a & (1u << 5);
  }
  unsigned ext = 0;
  __get_cpuid(0x80000000, &ext, &b, &c, &d);
  if (ext >= 0x80000004) {
    unsigned regs[12];
    for (unsigned i = 0; i < 3; ++i) __get_cpuid(0x80000002 + i, &regs[4 * i], &regs[4 * i + 1], &regs[4 * i + 2], &regs[4 * i + 3]);
    char brand[49] = {};
    std::memcpy(brand, regs, 48);
    std::string_view bv(brand);
    size_t first = bv.find_first_not_of(' '), last = bv.find_last_not_of(' ');
    if (first != std::string_view::npos) f.brand = std::string(bv.substr(first, last - first + 1));
  }
  if (!f.os_avx) f.avx = f.avx2 = f.fma = f.f16c = false;
  if (!f.os_avx512) f.avx512f = f.avx512bw = f.avx512vl = f.avx512dq = f.avx512vnni = f.avx512bf16 = f.avx512fp16 = false;
  return f;
}

bool cpu_can_run(Isa isa) {
  const auto& f = cpu_features();
  switch (isa) {
    case Isa::scalar: return true;
    case Isa::avx2: return f.avx2 && f.fma && f.f16c;
    case Isa::avx512: return f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq && f.fma && f.f16c;
  }
  return false;
}

Isa resolve_active() {
  const char* env = std::getenv("QSR_ISA");
  if (!env || !*env) return best_isa();
  Isa want = parse_isa(env);
  QSR_CHECK(isa_compiled(want), "QSR_ISA=" + std::string(env) +
                                    ": this build has no such kernels (it was configured with -DQSR_SIMD=OFF)");
  QSR_CHECK(cpu_can_run(want), "QSR_ISA=" + std::string(env) + ": this CPU cannot run it (" +
                                   (want == Isa::avx2 ? "needs AVX2, FMA and F16C" : "needs AVX-512 F, BW, VL and DQ") +
                                   ")");
  return want;
}
}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detect();
  return f;
}

std::string isa_name(Isa isa) {
  switch (isa) {
    case Isa::scalar: return "scalar";
    case Isa::avx2: return "avx2";
    case Isa::avx512: return "avx512";
  }
  return "?";
}

Isa parse_isa(const std::string& name) {
  if (name == "scalar") return Isa::scalar;
  if (name == "avx2") return Isa::avx2;
  if (name == "avx512") return Isa::avx512;
  throw Error("unknown instruction set '" + name + "' (expected scalar, avx2 or avx512)");
}

bool isa_compiled(Isa isa) {
#ifdef QSR_HAVE_SIMD
  (void)isa;
  return true;
#else
  return isa == Isa::scalar;
#endif
}

bool isa_supported(Isa isa) { return isa_compiled(isa) && cpu_can_run(isa); }

std::vector<Isa> available_isas() {
  std::vector<Isa> r;
  for (Isa i : {Isa::scalar, Isa::avx2, Isa::avx512})
    if (isa_supported(i)) r.push_back(i);
  return r;
}

Isa best_isa() {
  if (isa_supported(Isa::avx512)) return Isa::avx512;
  if (isa_supported(Isa::avx2)) return Isa::avx2;
  return Isa::scalar;
}

Isa active_isa() {
  static const Isa isa = resolve_active();
  return isa;
}

std::string cpu_report() {
  const auto& f = cpu_features();
  std::string s;
  s += "cpu: " + (f.brand.empty() ? f.vendor : f.brand) + "\n";
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
  for (Isa i : {Isa::scalar, Isa::avx2, Isa::avx512})
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
