// demo-layers, 50 runs in a row (TCP and UDP alternating): the same verdicts every
// time, and no namespace left behind by any run.
#include <catch2/catch.hpp>

#include <string>

#include "demo_runner.hpp"
#include "lab_checks.hpp"
#include "socklab/lab/lab.hpp"

using namespace socklab::test;

TEST_CASE("demo-layers: the verdicts hold 50 runs in a row", "[layers][repeat]") {
  const auto before = socklab::lab::socklab_namespaces();
  for (int i = 0; i < 50; ++i) {
    std::vector<std::string> args{DEMO_LAYERS, "--capture", "--json"};
    if (i % 2 == 1) args.emplace_back("--udp");
    const auto r = run_demo(args);
    INFO("run " << i << ": " << r.err);
    REQUIRE(r.exit_code == 0);
    const auto v = verdicts(r.json());
    REQUIRE(v.size() == 4);
    for (const auto& [name, verdict] : v) {
      INFO(name << ": " << verdict.dump());
      REQUIRE(verdict.at("ok").get<bool>());
    }
  }
  CHECK(leftover_namespaces(before).empty());  // only live runs (another test's) may hold one
}
