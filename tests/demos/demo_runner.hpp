// Runs the built demo programs the way a user does (tests/support/process.hpp),
// and reads their JSON lines.
//
//   auto r = run_demo({DEMO_TEARDOWN, "--json", "--merged"});
//   REQUIRE(r.exit_code == 0);
//   auto v = verdicts(r.json());           // name -> {"expected","observed","ok",...}
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "process.hpp"

namespace socklab::test {

// The environment the demos run in under test: English text in UTF-8, whatever
// the machine's locale, and no NO_COLOR inherited.
inline std::map<std::string, std::string> demo_environment() {
  return {{"LANG", "C.UTF-8"}, {"LC_ALL", ""}, {"LC_MESSAGES", ""}, {"NO_COLOR", ""}};
}

// Runs a demo (or a peer of one) to its end.
inline RunResult run_demo(const std::vector<std::string>& args) { return run(args, {.env = demo_environment()}); }
// The same with other environment changes than demo_environment() (a value "" removes the variable).
inline RunResult run_demo(const std::vector<std::string>& args, const std::map<std::string, std::string>& env) {
  return run(args, {.env = env});
}
// Starts a demo (or a peer of one) that runs beside the test, a server say.
inline Process start_demo(const std::vector<std::string>& args) { return Process(args, {.env = demo_environment()}); }

// The objects of one kind ("verdict", "packet", "call", "fact", ...).
inline std::vector<nlohmann::json> of_kind(const std::vector<nlohmann::json>& lines, std::string_view kind) {
  std::vector<nlohmann::json> out;
  for (const auto& l : lines) {
    if (l.value("kind", "") == kind) out.push_back(l);
  }
  return out;
}

// Verdicts by name.
inline std::map<std::string, nlohmann::json> verdicts(const std::vector<nlohmann::json>& lines) {
  std::map<std::string, nlohmann::json> out;
  for (const auto& v : of_kind(lines, "verdict")) out[v.at("name").get<std::string>()] = v;
  return out;
}

// The TCP flags of the packets of one connection (tcp.stream), in order.
inline std::vector<std::string> flags_of_stream(const std::vector<nlohmann::json>& lines, int stream) {
  std::vector<std::string> out;
  for (const auto& p : of_kind(lines, "packet")) {
    if (p.value("proto", "") == "tcp" && p.value("stream", -1) == stream) out.push_back(p.at("flags").get<std::string>());
  }
  return out;
}

// The port in "... --port 40123 ..." of the server's "start the client with" line.
inline std::optional<std::string> announced_port(const std::string& err) {
  const auto at = err.find("--port ");
  if (at == std::string::npos) return std::nullopt;
  const auto start = at + 7;
  auto end = start;
  while (end < err.size() && err[end] >= '0' && err[end] <= '9') ++end;
  if (end == start) return std::nullopt;
  return err.substr(start, end - start);
}

}  // namespace socklab::test
