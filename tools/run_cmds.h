// `qsr bench`, `qsr verify` and `qsr export`.
#pragma once
#include <memory>
#include <string>

#include <cstdint>

namespace qsr::cli {

struct BenchArgs {
  std::string model;
  std::string size = "640x360";
  int runs = 10, warmup = 2;
  bool json = false, simulate = false, layers = false;
};
int cmd_bench(const BenchArgs& a);

struct VerifyArgs {
  std::string model;
  std::string data;      // optional folder of images
  int images = 8;        // at most this many images of data
  int random = 6;        // random inputs
  uint64_t seed = 1337;
  bool json = false;
};
int cmd_verify(const VerifyArgs& a);

struct ExportArgs {
  std::string model, out, format = "c", name = "espcn";
  int width = 640;                 // the stream width the arena is reported for
  std::string golden;              // low-res size of the golden vectors (c: default 37x23; engine: none)
  std::string isa = "avx2";        // engine: the kernel layouts to lower for
  std::string weight_storage = "packed";  // c: weights of at most 4 bits two per byte, or "bytes"
  uint64_t seed = 1337;
};
int cmd_export(const ExportArgs& a);

}  // namespace qsr::cli
