// Reading an HTML timeline page's markup in the tests: how often a piece occurs,
// and the tooltips' data block (frame -> line, phase, analysis, layers).
#pragma once

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <string>

namespace socklab::test::html {

inline std::size_t count(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) ++n;
  return n;
}

// The page's data block: {"words": ..., "packets": {"1": {...}, ...}}.
inline nlohmann::json details(const std::string& html) {
  const std::string open = "<script type=\"application/json\" id=\"details\">";
  const auto from = html.find(open);
  REQUIRE(from != std::string::npos);
  const auto start = from + open.size();
  return nlohmann::json::parse(html.substr(start, html.find("</script>", start) - start));
}

}  // namespace socklab::test::html
