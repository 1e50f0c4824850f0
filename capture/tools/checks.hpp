// Option checks whose messages state the accepted range in words (CLI11's own
// Range and PositiveNumber print limits such as 1.79769e+308 in full).
#pragma once

#include <charconv>
#include <cstdint>
#include <limits>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

// A whole number from `min` up to `max`, e.g. a packet count: "-1", "0",
// "1.5", "abc" and "" are refused with "a whole number of packets, 1 or more".
inline CLI::Validator whole_number(std::uint64_t min, std::uint64_t max, std::string what) {
  std::string range = max == std::numeric_limits<std::uint64_t>::max()
                          ? fmt::format("{} or more", min)
                          : fmt::format("from {} to {}", min, max);
  std::string words = fmt::format("a whole number of {}, {}", what, range);
  return CLI::Validator(
      [min, max, words](std::string& in) -> std::string {
        std::uint64_t v = 0;
        const char* end = in.data() + in.size();
        const auto [p, ec] = std::from_chars(in.data(), end, v);
        if (in.empty() || ec != std::errc{} || p != end || v < min || v > max) {
          return fmt::format("'{}' is not {}", in, words);
        }
        return {};
      },
      fmt::format("{} {}", what, range));
}
