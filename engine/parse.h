// Parsing of the small values the command lines take.
#pragma once
#include <cctype>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

namespace qsr {

// A frame size "WIDTHxHEIGHT" (e.g. 640x360): two decimal numbers joined by 'x' or 'X', each
// optionally preceded by blanks and a '+' sign, with nothing after the second. nullopt when s
// has another form or a number does not fit an int. Zero sides parse: the caller checks the
// bounds (and words the error for its option).
inline std::optional<std::pair<int, int>> parse_size(const std::string& s) {
  size_t i = 0;
  auto number = [&](int& v) {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    if (i < s.size() && s[i] == '+') ++i;
    const size_t start = i;
    int64_t n = 0;
    for (; i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])); ++i) {
      n = n * 10 + (s[i] - '0');
      if (n > INT32_MAX) return false;
    }
    v = int(n);
    return i > start;
  };
  int w = 0, h = 0;
  if (!number(w) || i >= s.size() || (s[i] != 'x' && s[i] != 'X')) return std::nullopt;
  ++i;
  if (!number(h) || i != s.size()) return std::nullopt;
  return std::make_pair(w, h);
}

}  // namespace qsr
