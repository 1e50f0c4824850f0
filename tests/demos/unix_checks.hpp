// What every run of demo-unix must leave behind: nothing. The run's socket
// directory (its "socket_dir" fact) and the file in it are gone.
#pragma once

#include <catch2/catch.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "demo_checks.hpp"

namespace socklab::test {

inline void check_nothing_left(const std::vector<nlohmann::json>& lines) {
  const auto dir = fact_value(lines, "socket_dir");
  const std::string path = dir.at("path").get<std::string>();
  const std::string folder = dir.at("dir").get<std::string>();
  CHECK(folder.starts_with("/tmp/socklab-unix-"));
  CHECK(path.starts_with(folder + "/"));
  CHECK_FALSE(std::filesystem::exists(std::filesystem::symlink_status(path)));
  CHECK_FALSE(std::filesystem::exists(folder));
}

}  // namespace socklab::test
