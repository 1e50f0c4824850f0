// Catch2 checks every demo test makes on a --json run: the verdicts, the
// summary, and with --capture a whole capture. (demo_runner.hpp runs the
// programs and parses their lines; this adds the assertions.)
#pragma once

#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "demo_runner.hpp"

namespace socklab::test {

// The "fact" object named `name` of a --json run ({"name","value","text"}); fails the test when missing.
inline nlohmann::json fact_of(const std::vector<nlohmann::json>& lines, std::string_view name) {
  for (const auto& f : of_kind(lines, "fact")) {
    if (f.at("name") == name) return f;
  }
  FAIL("no fact " << name);
  return nullptr;
}
// Its value alone.
inline nlohmann::json fact_value(const std::vector<nlohmann::json>& lines, std::string_view name) {
  return fact_of(lines, name).at("value");
}

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

// A demo run as a class runs it: `--role server` in one process, `--role
// client --port P` in another, both with --json.
struct TwoProcessRun {
  std::string announcement;  // the server's stderr up to its line telling the clients' command
  RunResult server;
  RunResult client;
  std::map<std::string, nlohmann::json> verdicts;  // both sides', by name
};

// Runs ARGS (the program and its variant's flags) in the two roles; both must
// exit 0. Then every name in `expected` is among the verdicts, and ok.
inline TwoProcessRun run_two_processes(const std::vector<std::string>& args,
                                       const std::vector<std::string>& expected) {
  auto with = [&](std::vector<std::string> more) {
    more.insert(more.begin(), args.begin(), args.end());
    return more;
  };
  TwoProcessRun run;
  // --serve 1: a server that serves a class ends after this one student.
  auto server = start_demo(with({"--role", "server", "--serve", "1", "--json"}));
  run.announcement = server.wait_for_stderr("--port ");
  const auto port = announced_port(run.announcement);
  REQUIRE(port);
  run.client = run_demo(with({"--role", "client", "--port", *port, "--json"}));
  run.server = server.finish();
  INFO(run.server.err);
  REQUIRE(run.server.exit_code == 0);
  INFO(run.client.err);
  REQUIRE(run.client.exit_code == 0);
  run.verdicts = verdicts(run.server.json());
  for (auto& [name, verdict] : verdicts(run.client.json())) run.verdicts[name] = verdict;
  for (const auto& name : expected) {
    INFO(name);
    REQUIRE(run.verdicts.contains(name));
    CHECK(run.verdicts[name].at("ok") == true);
  }
  return run;
}

// The port of "127.0.0.1:51514" or "[::1]:8080".
inline int port_of(const nlohmann::json& endpoint) {
  const auto text = endpoint.get<std::string>();
  return std::stoi(text.substr(text.rfind(':') + 1));
}

// --quiz: the quiz object of question `id` (fails naming the id when absent).
inline nlohmann::json quiz_item(const std::vector<nlohmann::json>& lines, std::string_view id) {
  for (const auto& q : of_kind(lines, "quiz")) {
    if (q.at("id") == id) return q;
  }
  FAIL("no quiz object " << id);
  return {};
}

// A graded question: it observed `observed`, and ok says whether the answer equals it.
inline void check_grade(const nlohmann::json& q, const nlohmann::json& observed) {
  INFO(q.dump());
  REQUIRE_FALSE(observed.is_null());
  CHECK(q.at("observed") == observed);
  CHECK(q.at("ok") == nlohmann::json(q.at("answer") == observed));
}

}  // namespace socklab::test
