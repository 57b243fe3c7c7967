#include "engine/cpu_detect.h"

#include <cpuid.h>

#include <cstring>

namespace qsr {

namespace {
unsigned long long xgetbv0() {
  unsigned eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<unsigned long long>(edx) << 32) | eax;
}

void read_brand(CpuFlags& f) {
  unsigned ext = 0, b, c, d;
  __get_cpuid(0x80000000, &ext, &b, &c, &d);
  if (ext < 0x80000004) return;
  unsigned regs[12];
  for (unsigned i = 0; i < 3; ++i)
    __get_cpuid(0x80000002 + i, &regs[4 * i], &regs[4 * i + 1], &regs[4 * i + 2], &regs[4 * i + 3]);
  char raw[49] = {};
  std::memcpy(raw, regs, 48);
  const char* s = raw;
  while (*s == ' ') ++s;
  size_t n = std::strlen(s);
  while (n > 0 && s[n - 1] == ' ') --n;
  std::memcpy(f.brand, s, n);
  f.brand[n] = 0;
}
}  // namespace

CpuFlags cpu_detect() {
  CpuFlags f;
  unsigned a, b, c, d;
  if (!__get_cpuid(0, &a, &b, &c, &d)) return f;
  const unsigned max_leaf = a;
  std::memcpy(f.vendor, &b, 4);
  std::memcpy(f.vendor + 4, &d, 4);
  std::memcpy(f.vendor + 8, &c, 4);
  __get_cpuid(1, &a, &b, &c, &d);
  f.sse42 = c & bit_SSE4_2;
  f.fma = c & bit_FMA;
  f.f16c = c & bit_F16C;
  f.avx = c & bit_AVX;
  if (c & bit_OSXSAVE) {
    const unsigned long long xcr0 = xgetbv0();
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
  read_brand(f);
  if (!f.os_avx) f.avx = f.avx2 = f.fma = f.f16c = false;
  if (!f.os_avx512) f.avx512f = f.avx512bw = f.avx512vl = f.avx512dq = f.avx512vnni = f.avx512bf16 = f.avx512fp16 = false;
  return f;
}

const char* isa_id(Isa isa) {
  switch (isa) {
    case Isa::scalar: return "scalar";
    case Isa::avx2: return "avx2";
    case Isa::avx512: return "avx512";
  }
  return "?";
}

bool isa_from_id(const char* name, Isa* isa) {
  for (Isa i : kAllIsas)
    if (std::strcmp(name, isa_id(i)) == 0) {
      *isa = i;
      return true;
    }
  return false;
}

const char* isa_needs(Isa isa) {
  switch (isa) {
    case Isa::scalar: return "nothing";
    case Isa::avx2: return "AVX2, FMA and F16C";
    case Isa::avx512: return "AVX-512 F, BW, VL, DQ and VNNI";
  }
  return "?";
}

bool isa_runnable(Isa isa, const CpuFlags& f) {
  switch (isa) {
    case Isa::scalar: return true;
    case Isa::avx2: return f.avx2 && f.fma && f.f16c;
    case Isa::avx512:
      return f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq && f.avx512vnni && f.fma && f.f16c;
  }
  return false;
}

bool isa_built(Isa isa) {
  switch (isa) {
    case Isa::scalar: return true;
#ifdef QSR_HAVE_SIMD
    case Isa::avx2: return true;
#ifdef QSR_HAVE_INT_AVX512
    case Isa::avx512: return true;
#endif
#endif
    default: return false;
  }
}

IsaStatus isa_resolve(const char* requested, const CpuFlags& f, Isa* isa) {
  if (requested && *requested) {
    Isa want;
    if (!isa_from_id(requested, &want)) return IsaStatus::unknown_name;
    if (!isa_built(want)) return IsaStatus::not_built;
    if (!isa_runnable(want, f)) return IsaStatus::not_runnable;
    *isa = want;
    return IsaStatus::ok;
  }
  Isa best = Isa::scalar;
  for (Isa i : kAllIsas)
    if (isa_built(i) && isa_runnable(i, f)) best = i;
  *isa = best;
  return IsaStatus::ok;
}

}  // namespace qsr
