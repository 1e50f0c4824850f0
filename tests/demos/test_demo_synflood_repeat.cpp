// demo-synflood, 20 runs in a row: the same verdicts every time (the kernel's counters,
// the half-open queue, the wire), and no namespace left behind by any run.
#include <catch2/catch.hpp>

#include <map>
#include <string>

#include "demo_runner.hpp"
#include "lab_checks.hpp"
#include "socklab/lab/lab.hpp"

using namespace socklab::test;

TEST_CASE("demo-synflood: the verdicts hold 20 runs in a row", "[synflood][repeat]") {
  const auto before = socklab::lab::socklab_namespaces();
  std::map<std::string, nlohmann::json> first;
  for (int i = 0; i < 20; ++i) {
    const auto r = run_demo({DEMO_SYNFLOOD, "--capture", "--json"});
    INFO("run " << i << ": " << r.err);
    REQUIRE(r.exit_code == 0);
    const auto v = verdicts(r.json());
    REQUIRE(v.size() == 9);
    for (const auto& [name, verdict] : v) {
      INFO(name << ": " << verdict.dump());
      REQUIRE(verdict.at("ok").get<bool>());
      if (i == 0) first[name] = verdict.at("observed");
      REQUIRE(verdict.at("observed") == first.at(name));  // the same numbers, not only "ok"
    }
  }
  CHECK(leftovers(before).empty());
}
