// Catch2 checks every demo test makes on a --json run: the verdicts, the
// summary, and with --capture a whole capture. (demo_runner.hpp runs the
// programs and parses their lines; this adds the assertions.)
#pragma once

#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "demo_runner.hpp"

namespace socklab::test {

// Every named verdict is there and ok, and the summary says ok; returns the
// verdicts by name.
inline std::map<std::string, nlohmann::json> check_verdicts(const RunResult& r,
                                                            const std::vector<std::string>& expected) {
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const auto lines = r.json();
  auto got = verdicts(lines);
  for (const auto& name : expected) {
    INFO(name);
    REQUIRE(got.contains(name));
    INFO(got[name].dump());
    CHECK(got[name].at("ok") == true);
  }
  const auto summary = of_kind(lines, "summary");
  REQUIRE(summary.size() == 1);
  CHECK(summary[0].at("ok") == true);
  return got;
}

// Runs ARGS with --capture --json: every verdict and the summary must be ok,
// and the capture whole (nothing dropped, every packet printed). Its lines.
inline std::vector<nlohmann::json> captured(std::vector<std::string> args) {
  args.push_back("--capture");
  args.push_back("--json");
  const RunResult r = run_demo(args);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const auto lines = r.json();
  const auto capture = of_kind(lines, "capture");
  REQUIRE(capture.size() == 1);
  CHECK(capture[0].at("enabled") == true);
  CHECK(capture[0].at("dropped_by_kernel") == 0);
  CHECK(capture[0].at("captured") == of_kind(lines, "packet").size());
  for (const auto& [name, v] : verdicts(lines)) {
    INFO(name << ": " << v.dump());
    CHECK(v.at("ok") == true);
  }
  CHECK(of_kind(lines, "summary").at(0).at("ok") == true);
  return lines;
}

// The port of "127.0.0.1:51514" or "[::1]:8080".
inline int port_of(const nlohmann::json& endpoint) {
  const auto text = endpoint.get<std::string>();
  return std::stoi(text.substr(text.rfind(':') + 1));
}

}  // namespace socklab::test
