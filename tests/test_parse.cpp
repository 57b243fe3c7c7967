// The command-line value parsing (engine/parse.h) and the sample statistics (engine/stats.h).
#include "engine/parse.h"
#include "engine/stats.h"
#include "test_util.h"

using namespace qsr;

TEST_CASE("parse_size: WIDTHxHEIGHT, with what every command accepted", "[parse]") {
  using P = std::pair<int, int>;
  CHECK(parse_size("640x360") == P{640, 360});
  CHECK(parse_size("640X360") == P{640, 360});
  CHECK(parse_size(" 5x 3") == P{5, 3});
  CHECK(parse_size("+5x+3") == P{5, 3});
  CHECK(parse_size("00012x0003") == P{12, 3});
  CHECK(parse_size("123456x2") == P{123456, 2});
  CHECK(parse_size("0x5") == P{0, 5});  // bounds are the caller's
  CHECK(parse_size("2147483647x1") == P{2147483647, 1});
  for (const char* bad : {"", "x", "5x", "x3", "5 x3", "5x3 ", "5x3x", "-5x3", "5x-3", "5.0x3", "640by360", "5*3",
                          "2147483648x1", "99999999999x3", "+ 5x3", "0x10x3"})
    CHECK_FALSE(parse_size(bad));
}

TEST_CASE("median: the middle value, or the mean of the two middle ones", "[stats]") {
  CHECK(median({3.0}) == 3.0);
  CHECK(median({5.0, 1.0, 4.0}) == 4.0);
  CHECK(median({4.0, 1.0, 3.0, 2.0}) == 2.5);
  CHECK(median({2.0, 2.0, 9.0, -1.0, 2.0}) == 2.0);
}
