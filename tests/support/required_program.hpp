// A test that needs a program outside the project (headless Chromium, say):
// skipped (exit 77) where it is not installed, unless SOCKLAB_REQUIRE_CAPTURE=1
// (CI), where its absence is a failure, as for the capture privilege.
#pragma once

#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string_view>

namespace socklab::test {

inline void need_program(const char* path, const char* package) {
  if (std::filesystem::exists(path)) return;
  const char* require = std::getenv("SOCKLAB_REQUIRE_CAPTURE");
  if (require != nullptr && std::string_view(require) == "1") {
    FAIL("SOCKLAB_REQUIRE_CAPTURE=1 but " << path << " is missing (apt-get install " << package << ")");
  }
  std::fprintf(stderr, "skipped: %s is not installed\n", path);
  std::exit(77);
}

}  // namespace socklab::test
