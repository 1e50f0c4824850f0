// demo-unix 20 runs in a row, each variant: the same verdicts every time, and
// nothing left in /tmp after any run. Label: repeat.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "demo_runner.hpp"
#include "unix_checks.hpp"

using socklab::test::check_nothing_left;
using socklab::test::run_demo;
using socklab::test::verdicts;

TEST_CASE("unix: 20 runs of each variant, the same verdicts", "[demos][lessons][unix][repeat]") {
  constexpr int kRuns = 20;
  const std::vector<std::vector<std::string>> variants = {
      {DEMO_UNIX, "--capture", "--json"}, {DEMO_UNIX, "--stale", "--json"}};
  for (const auto& args : variants) {
    std::vector<std::string> first;
    for (int run = 1; run <= kRuns; ++run) {
      const auto r = run_demo(args);
      INFO(args[1] << ", run " << run << "\n" << r.err);
      REQUIRE(r.exit_code == 0);
      const auto lines = r.json();
      std::vector<std::string> names;
      for (const auto& [name, verdict] : verdicts(lines)) {
        INFO(name << ": " << verdict.dump());
        REQUIRE(verdict.at("ok") == true);
        names.push_back(name);
      }
      if (run == 1) first = names;
      CHECK(names == first);
      check_nothing_left(lines);
    }
  }
}
