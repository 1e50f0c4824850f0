// demo-lan, 20 runs in a row (switch and hub alternating): the same verdicts every
// time, and nothing left in `ip netns list` by any run.
#include <catch2/catch.hpp>

#include <signal.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "demo_runner.hpp"

using namespace socklab::test;

namespace {

// The socklab namespaces `ip netns list` shows whose run is over (pid dead).
std::set<std::string> dead_runs_listed() {
  const auto r = run({SOCKLAB_IP, "netns", "list"});
  REQUIRE(r.exit_code == 0);
  std::set<std::string> out;
  for (const auto& line : r.out_lines()) {
    if (!line.starts_with("socklab-")) continue;
    const std::string name = line.substr(0, line.find(' '));
    const auto pid = std::stol(name.substr(std::string("socklab-").size()));
    if (::kill(static_cast<pid_t>(pid), 0) != 0) out.insert(name);
  }
  return out;
}

}  // namespace

TEST_CASE("demo-lan: the verdicts hold 20 runs in a row", "[lan][repeat]") {
  const auto before = dead_runs_listed();
  std::map<bool, std::set<std::string>> names_of;  // by mode: the same verdicts each run
  for (int i = 0; i < 20; ++i) {
    const bool hub = i % 2 == 1;
    std::vector<std::string> args{DEMO_LAN, "--capture", "--json"};
    if (hub) args.emplace_back("--hub");
    const auto r = run_demo(args);
    INFO("run " << i << ": " << r.err);
    REQUIRE(r.exit_code == 0);
    const auto v = verdicts(r.json());
    REQUIRE(v.size() == 6);
    std::set<std::string> names;
    for (const auto& [name, verdict] : v) {
      INFO(name << ": " << verdict.dump());
      REQUIRE(verdict.at("ok").get<bool>());
      names.insert(name);
    }
    if (names_of[hub].empty()) names_of[hub] = names;
    CHECK(names == names_of[hub]);
  }
  CHECK(names_of[false].contains("datagram_only_at_c"));
  CHECK(names_of[true].contains("seen_at_b_with_hub"));
  CHECK(dead_runs_listed() == before);
}
