// CPU feature detection, ISA names and the kernel-table dispatch.
#include <string>

#include "engine/cpu.h"
#include "engine/kernels/f32/f32_kernels.h"
#include "engine/tensor.h"
#include "tests/test_util.h"

using namespace qsr;
using Catch::Matchers::Contains;

TEST_CASE("cpu: parse_isa and isa_name", "[cpu]") {
  CHECK(parse_isa("scalar") == Isa::scalar);
  CHECK(parse_isa("avx2") == Isa::avx2);
  CHECK(parse_isa("avx512") == Isa::avx512);
  for (Isa i : {Isa::scalar, Isa::avx2, Isa::avx512}) CHECK(parse_isa(isa_name(i)) == i);
  for (const char* bad : {"", "AVX2", "sse", "avx-512", "avx512 ", "bogus"}) {
    INFO("name '" << bad << "'");
    CHECK_THROWS_AS(parse_isa(bad), Error);
  }
  CHECK_THROWS_WITH(parse_isa("bogus"), Contains("bogus"));
}

TEST_CASE("cpu: available_isas starts with scalar and lists only runnable ISAs", "[cpu]") {
  const auto isas = available_isas();
  REQUIRE_FALSE(isas.empty());
  CHECK(isas.front() == Isa::scalar);
  std::string names;
  for (Isa i : isas) {
    names += isa_name(i) + " ";
    CHECK(isa_supported(i));
    CHECK(isa_compiled(i));
  }
  WARN("runnable ISAs on this machine: " << names << "(active: " << isa_name(active_isa()) << ")");
  CHECK(isa_supported(Isa::scalar));
  CHECK(isa_supported(best_isa()));
  CHECK(best_isa() == isas.back());
  const auto& f = cpu_features();
  if (isa_supported(Isa::avx2)) CHECK((f.avx2 && f.fma && f.f16c));
  if (isa_supported(Isa::avx512)) CHECK((f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq));
  CHECK_FALSE(cpu_report().empty());
}

TEST_CASE("cpu: f32_kernels returns the requested table and refuses unsupported ISAs", "[cpu]") {
  for (Isa i : {Isa::scalar, Isa::avx2, Isa::avx512}) {
    INFO("isa " << isa_name(i));
    if (isa_supported(i)) {
      const F32Kernels& k = f32_kernels(i);
      CHECK(k.isa == i);
      CHECK(k.conv_fwd_row != nullptr);
      CHECK(k.conv_bwdw_tiles != nullptr);
      CHECK(k.relu_fwd != nullptr);
      CHECK(k.relu_bwd != nullptr);
      CHECK(k.depth_to_space_row != nullptr);
      CHECK(k.space_to_depth_row != nullptr);
    } else {
      CHECK_THROWS_AS(f32_kernels(i), Error);
      CHECK_THROWS_WITH(f32_kernels(i), Contains(isa_name(i)));
    }
  }
  CHECK(f32_kernels().isa == active_isa());
}
