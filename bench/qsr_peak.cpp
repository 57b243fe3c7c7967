// qsr_peak: the machine's arithmetic peak, measured with register-only
// microbenchmarks (no memory traffic in the timed loops).
//
//   qsr_peak [--threads 1,2 ...] [--reps 5] [--seconds 0.2] [--json]
//
// For every thread count T every variant runs the same fixed loop on T threads
// at once (std::thread, released together); the rate is
//   T * iterations * MACs per iteration / wall time
// and the number reported is the median of --reps measurements of about
// --seconds each. A MAC is one multiply-add (one lane product added into an
// accumulator); the variants count:
//
//   fma_f32          vfmadd213ps ymm                      8 MAC / instruction
//   vpmaddwd         vpmaddwd ymm + vpaddd ymm (s16*s16 pairs -> s32)
//                                                         16 MAC / vpmaddwd
//   vpmaddubsw       vpmaddubsw ymm + vpaddw ymm (u8*s8 pairs -> s16, the
//                    accumulation in int16)               32 MAC / vpmaddubsw
//   vpmaddubsw_i32   vpmaddubsw + vpmaddwd(ones) + vpaddd (u8*s8 -> s32, the
//                    usual int8 path without VNNI)        32 MAC / vpmaddubsw
//   vnni_vpdpwssd    vpdpwssd zmm (AVX512-VNNI)           32 MAC / instruction
//   vnni_vpdpbusd    vpdpbusd zmm (AVX512-VNNI)           64 MAC / instruction
//
// Every loop has 12 independent accumulator chains, unrolled twice (24 MAC
// instructions per iteration). The kernels are inline assembly inside
// functions with a target attribute, so the file needs no global -m flags;
// each variant runs only when __builtin_cpu_supports says the CPU has it,
// otherwise its value is null in the JSON.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "engine/stats.h"

#if !defined(__x86_64__)
#error "qsr_peak measures x86-64 SIMD peaks"
#endif
#include <cpuid.h>

namespace {

// ---- kernels ---------------------------------------------------------------
// Accumulators: registers 0..11. Operands: 12 and 13. Temporaries: 14, 15.
#define QSR_R12(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11)
#define QSR_CLOBBER_YMM                                                                 \
  "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",      \
      "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15"

constexpr int kInstrPerIter = 24;  // 12 chains x 2

// acc = acc * 0.9999999 + 1e-7: stays near 1, never denormal or infinite.
#define QSR_FMA(i) "vfmadd213ps %%ymm13, %%ymm12, %%ymm" #i "\n\t"
#define QSR_INIT_YMM(i) "vmovaps %%ymm13, %%ymm" #i "\n\t"
__attribute__((target("avx2,fma"), noinline)) void k_fma_f32(std::uint64_t n) {
  const float b = 0.9999999f, c = 1e-7f;
  asm volatile(
      "vbroadcastss %[b], %%ymm12\n\t"
      "vbroadcastss %[c], %%ymm13\n\t"
      QSR_R12(QSR_INIT_YMM)
      ".p2align 5\n"
      "1:\n\t"
      QSR_R12(QSR_FMA) QSR_R12(QSR_FMA)
      "dec %[n]\n\t"
      "jnz 1b\n\t"
      "vzeroupper\n\t"
      : [n] "+r"(n)
      : [b] "m"(b), [c] "m"(c)
      : QSR_CLOBBER_YMM, "cc", "memory");
}

// t = madd(a, b) (16 s16 products, summed in pairs); acc += t. Two temporaries
// alternate; register renaming removes the false dependencies.
#define QSR_MADDWD_A(i) "vpmaddwd %%ymm13, %%ymm12, %%ymm14\n\tvpaddd %%ymm14, %%ymm" #i ", %%ymm" #i "\n\t"
#define QSR_MADDWD_B(i) "vpmaddwd %%ymm13, %%ymm12, %%ymm15\n\tvpaddd %%ymm15, %%ymm" #i ", %%ymm" #i "\n\t"
#define QSR_ZERO_YMM(i) "vpxor %%ymm" #i ", %%ymm" #i ", %%ymm" #i "\n\t"
__attribute__((target("avx2,fma"), noinline)) void k_vpmaddwd(std::uint64_t n) {
  const std::uint32_t a = 0x00030005u, b = 0x0007fffdu;  // int16 pairs
  asm volatile(
      "vpbroadcastd %[a], %%ymm12\n\t"
      "vpbroadcastd %[b], %%ymm13\n\t"
      QSR_R12(QSR_ZERO_YMM)
      ".p2align 5\n"
      "1:\n\t"
      QSR_R12(QSR_MADDWD_A) QSR_R12(QSR_MADDWD_B)
      "dec %[n]\n\t"
      "jnz 1b\n\t"
      "vzeroupper\n\t"
      : [n] "+r"(n)
      : [a] "m"(a), [b] "m"(b)
      : QSR_CLOBBER_YMM, "cc", "memory");
}

// t = maddubs(u8 a, s8 b) (32 products, summed in pairs into s16); acc += t (s16).
#define QSR_MADDUBSW_A(i) "vpmaddubsw %%ymm13, %%ymm12, %%ymm14\n\tvpaddw %%ymm14, %%ymm" #i ", %%ymm" #i "\n\t"
#define QSR_MADDUBSW_B(i) "vpmaddubsw %%ymm13, %%ymm12, %%ymm15\n\tvpaddw %%ymm15, %%ymm" #i ", %%ymm" #i "\n\t"
__attribute__((target("avx2,fma"), noinline)) void k_vpmaddubsw(std::uint64_t n) {
  const std::uint32_t a = 0x03050709u, b = 0x01fe02fdu;  // u8 / s8 quads
  asm volatile(
      "vpbroadcastd %[a], %%ymm12\n\t"
      "vpbroadcastd %[b], %%ymm13\n\t"
      QSR_R12(QSR_ZERO_YMM)
      ".p2align 5\n"
      "1:\n\t"
      QSR_R12(QSR_MADDUBSW_A) QSR_R12(QSR_MADDUBSW_B)
      "dec %[n]\n\t"
      "jnz 1b\n\t"
      "vzeroupper\n\t"
      : [n] "+r"(n)
      : [a] "m"(a), [b] "m"(b)
      : QSR_CLOBBER_YMM, "cc", "memory");
}

// t = maddubs(a, b); t = madd(t, ones); acc += t (s32): the u8*s8 -> s32 path.
// ymm15 holds the int16 ones, ymm14 is the only temporary.
#define QSR_MADDUBSW_I32(i)                                                   \
  "vpmaddubsw %%ymm13, %%ymm12, %%ymm14\n\tvpmaddwd %%ymm15, %%ymm14, %%ymm14\n\t" \
  "vpaddd %%ymm14, %%ymm" #i ", %%ymm" #i "\n\t"
__attribute__((target("avx2,fma"), noinline)) void k_vpmaddubsw_i32(std::uint64_t n) {
  const std::uint32_t a = 0x03050709u, b = 0x01fe02fdu, one = 0x00010001u;
  asm volatile(
      "vpbroadcastd %[a], %%ymm12\n\t"
      "vpbroadcastd %[b], %%ymm13\n\t"
      "vpbroadcastd %[one], %%ymm15\n\t"
      QSR_R12(QSR_ZERO_YMM)
      ".p2align 5\n"
      "1:\n\t"
      QSR_R12(QSR_MADDUBSW_I32) QSR_R12(QSR_MADDUBSW_I32)
      "dec %[n]\n\t"
      "jnz 1b\n\t"
      "vzeroupper\n\t"
      : [n] "+r"(n)
      : [a] "m"(a), [b] "m"(b), [one] "m"(one)
      : QSR_CLOBBER_YMM, "cc", "memory");
}

// AVX512-VNNI: acc += dot(a, b) in one instruction, zmm (16 s32 lanes).
#define QSR_ZERO_ZMM(i) "vpxord %%zmm" #i ", %%zmm" #i ", %%zmm" #i "\n\t"
#define QSR_DPWSSD(i) "vpdpwssd %%zmm13, %%zmm12, %%zmm" #i "\n\t"
#define QSR_DPBUSD(i) "vpdpbusd %%zmm13, %%zmm12, %%zmm" #i "\n\t"
__attribute__((target("avx512f,avx512bw,avx512vnni"), noinline)) void k_vpdpwssd(std::uint64_t n) {
  const std::uint32_t a = 0x00030005u, b = 0x0007fffdu;
  asm volatile(
      "vpbroadcastd %[a], %%zmm12\n\t"
      "vpbroadcastd %[b], %%zmm13\n\t"
      QSR_R12(QSR_ZERO_ZMM)
      ".p2align 5\n"
      "1:\n\t"
      QSR_R12(QSR_DPWSSD) QSR_R12(QSR_DPWSSD)
      "dec %[n]\n\t"
      "jnz 1b\n\t"
      "vzeroupper\n\t"
      : [n] "+r"(n)
      : [a] "m"(a), [b] "m"(b)
      : QSR_CLOBBER_YMM, "cc", "memory");
}
__attribute__((target("avx512f,avx512bw,avx512vnni"), noinline)) void k_vpdpbusd(std::uint64_t n) {
  const std::uint32_t a = 0x03050709u, b = 0x01fe02fdu;
  asm volatile(
      "vpbroadcastd %[a], %%zmm12\n\t"
      "vpbroadcastd %[b], %%zmm13\n\t"
      QSR_R12(QSR_ZERO_ZMM)
      ".p2align 5\n"
      "1:\n\t"
      QSR_R12(QSR_DPBUSD) QSR_R12(QSR_DPBUSD)
      "dec %[n]\n\t"
      "jnz 1b\n\t"
      "vzeroupper\n\t"
      : [n] "+r"(n)
      : [a] "m"(a), [b] "m"(b)
      : QSR_CLOBBER_YMM, "cc", "memory");
}

bool has_avx2_fma() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
bool has_avx512_vnni() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vnni");
}

struct Variant {
  const char* key;        // JSON key, without the _gmacs suffix
  void (*fn)(std::uint64_t);
  double macs_per_iter;   // MACs of one loop iteration
  bool (*supported)();
};

const Variant kVariants[] = {
    {"fma_f32", k_fma_f32, kInstrPerIter * 8.0, has_avx2_fma},
    {"vpmaddwd", k_vpmaddwd, kInstrPerIter * 16.0, has_avx2_fma},
    {"vpmaddubsw", k_vpmaddubsw, kInstrPerIter * 32.0, has_avx2_fma},
    {"vpmaddubsw_i32", k_vpmaddubsw_i32, kInstrPerIter * 32.0, has_avx2_fma},
    {"vnni_vpdpwssd", k_vpdpwssd, kInstrPerIter * 32.0, has_avx512_vnni},
    {"vnni_vpdpbusd", k_vpdpbusd, kInstrPerIter * 64.0, has_avx512_vnni},
};

// ---- timing ----------------------------------------------------------------
using Clock = std::chrono::steady_clock;

// Runs fn(iters) on `threads` threads released together; returns wall seconds
// from the release to the last thread's end.
double run_parallel(void (*fn)(std::uint64_t), std::uint64_t iters, int threads) {
  if (threads <= 1) {
    const auto t0 = Clock::now();
    fn(iters);
    return std::chrono::duration<double>(Clock::now() - t0).count();
  }
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> pool;
  pool.reserve(static_cast<std::size_t>(threads));
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      ready.fetch_add(1, std::memory_order_acq_rel);
      while (!go.load(std::memory_order_acquire)) {
      }
      fn(iters);
    });
  }
  while (ready.load(std::memory_order_acquire) < threads) {
  }
  const auto t0 = Clock::now();
  go.store(true, std::memory_order_release);
  for (auto& th : pool) th.join();
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Iterations for about `seconds` on one thread (doubling, then scaling).
std::uint64_t calibrate(void (*fn)(std::uint64_t), double seconds) {
  std::uint64_t n = 1u << 12;
  for (;;) {
    const double t = run_parallel(fn, n, 1);
    if (t >= 0.02 || n >= (std::uint64_t{1} << 40)) {
      const double scaled = static_cast<double>(n) * seconds / std::max(t, 1e-9);
      return std::max<std::uint64_t>(1, static_cast<std::uint64_t>(scaled));
    }
    n *= 2;
  }
}

// ---- output ----------------------------------------------------------------
std::string cpu_brand() {
  unsigned regs[12] = {};
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid(0x80000000u, &eax, &ebx, &ecx, &edx) && eax >= 0x80000004u) {
    for (unsigned i = 0; i < 3; ++i)
      __get_cpuid(0x80000002u + i, &regs[4 * i], &regs[4 * i + 1], &regs[4 * i + 2], &regs[4 * i + 3]);
    char buf[49] = {};
    std::memcpy(buf, regs, 48);
    std::string s(buf);
    const auto b = s.find_first_not_of(' ');
    const auto e = s.find_last_not_of(' ');
    if (b != std::string::npos) return s.substr(b, e - b + 1);
  }
  return "unknown";
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

void usage(const char* argv0) {
  std::printf(
      "usage: %s [--threads T[,T...]]... [--reps N] [--seconds S] [--json]\n"
      "Register-only arithmetic peak of this CPU, in GMAC/s (1 MAC = 1 multiply-add),\n"
      "per thread count: median of N measurements of about S seconds each.\n"
      "  --threads  thread counts, comma list or repeated (default: 1 and all cores)\n"
      "  --reps     measurements per variant (default 5)\n"
      "  --seconds  target seconds per measurement (default 0.2)\n"
      "  --json     one JSON object per thread count, one per line\n"
      "Variants: fma_f32 (vfmadd ymm, 8 MAC), vpmaddwd (+vpaddd, 16 MAC),\n"
      "vpmaddubsw (+vpaddw, s16 accumulators, 32 MAC), vpmaddubsw_i32\n"
      "(+vpmaddwd ones +vpaddd, 32 MAC), vnni_vpdpwssd (zmm, 32 MAC) and\n"
      "vnni_vpdpbusd (zmm, 64 MAC) only with AVX512-VNNI (else null).\n",
      argv0);
}

bool parse_threads(const char* s, std::vector<int>& out) {
  std::string str(s);
  std::size_t pos = 0;
  while (pos <= str.size()) {
    const std::size_t comma = std::min(str.find(',', pos), str.size());
    const std::string tok = str.substr(pos, comma - pos);
    char* end = nullptr;
    const long v = std::strtol(tok.c_str(), &end, 10);
    if (tok.empty() || *end != '\0' || v < 1 || v > 1024) return false;
    out.push_back(static_cast<int>(v));
    pos = comma + 1;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> thread_counts;
  int reps = 5;
  double seconds = 0.2;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](const char* name) -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "qsr_peak: %s needs a value\n", name);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "-h" || a == "--help") {
      usage(argv[0]);
      return 0;
    } else if (a == "--json") {
      json = true;
    } else if (a == "--threads" || a == "-t") {
      if (!parse_threads(value("--threads"), thread_counts)) {
        std::fprintf(stderr, "qsr_peak: bad --threads value\n");
        return 2;
      }
    } else if (a.rfind("--threads=", 0) == 0) {
      if (!parse_threads(a.c_str() + 10, thread_counts)) {
        std::fprintf(stderr, "qsr_peak: bad --threads value\n");
        return 2;
      }
    } else if (a == "--reps") {
      reps = std::atoi(value("--reps"));
    } else if (a == "--seconds") {
      seconds = std::atof(value("--seconds"));
    } else {
      std::fprintf(stderr, "qsr_peak: unknown argument '%s' (see --help)\n", a.c_str());
      return 2;
    }
  }
  if (reps < 1 || !(seconds > 0)) {
    std::fprintf(stderr, "qsr_peak: --reps must be >= 1 and --seconds > 0\n");
    return 2;
  }
  if (thread_counts.empty()) {
    thread_counts.push_back(1);
    const int hw = static_cast<int>(std::thread::hardware_concurrency());
    if (hw > 1) thread_counts.push_back(hw);
  }

  const std::string cpu = cpu_brand();
  constexpr std::size_t nv = sizeof kVariants / sizeof kVariants[0];
  // Iterations per variant, calibrated once on one thread: each of T threads
  // then runs that many, so a measurement takes about `seconds` while T <= cores.
  std::uint64_t iters[nv] = {};
  for (std::size_t v = 0; v < nv; ++v)
    if (kVariants[v].supported()) {
      kVariants[v].fn(1u << 16);  // warm-up (clock ramp, AVX power state)
      iters[v] = calibrate(kVariants[v].fn, seconds);
    }

  if (!json) std::printf("cpu: %s\n", cpu.c_str());
  for (const int T : thread_counts) {
    double gmacs[nv];
    for (std::size_t v = 0; v < nv; ++v) {
      gmacs[v] = -1;
      if (!iters[v]) continue;
      std::vector<double> rates;
      for (int r = 0; r < reps; ++r) {
        const double t = run_parallel(kVariants[v].fn, iters[v], T);
        rates.push_back(static_cast<double>(T) * static_cast<double>(iters[v]) *
                        kVariants[v].macs_per_iter / t * 1e-9);
      }
      gmacs[v] = qsr::median(rates);
    }
    if (json) {
      std::printf("{\"threads\": %d", T);
      for (std::size_t v = 0; v < nv; ++v) {
        if (gmacs[v] < 0)
          std::printf(", \"%s_gmacs\": null", kVariants[v].key);
        else
          std::printf(", \"%s_gmacs\": %.2f", kVariants[v].key, gmacs[v]);
      }
      std::printf(", \"reps\": %d, \"cpu\": \"%s\"}\n", reps, json_escape(cpu).c_str());
    } else {
      std::printf("threads %d\n", T);
      for (std::size_t v = 0; v < nv; ++v) {
        if (gmacs[v] < 0)
          std::printf("  %-16s  n/a (CPU lacks it)\n", kVariants[v].key);
        else
          std::printf("  %-16s %9.2f GMAC/s\n", kVariants[v].key, gmacs[v]);
      }
    }
    std::fflush(stdout);
  }
  return 0;
}
