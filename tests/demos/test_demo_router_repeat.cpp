// demo-router, 20 runs in a row (through the router and --ttl 1 alternating): the same
// verdicts every time, and no namespace left behind by any run.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "demo_runner.hpp"
#include "lab_checks.hpp"
#include "socklab/lab/lab.hpp"

using namespace socklab::test;

TEST_CASE("demo-router: the verdicts hold 20 runs in a row", "[router][repeat]") {
  const auto before = socklab::lab::socklab_namespaces();
  for (int i = 0; i < 20; ++i) {
    const bool expired = i % 2 == 1;
    std::vector<std::string> args{DEMO_ROUTER, "--capture", "--json"};
    if (expired) args.insert(args.end(), {"--ttl", "1"});
    const auto r = run_demo(args);
    INFO("run " << i << ": " << r.err);
    REQUIRE(r.exit_code == 0);
    const auto v = verdicts(r.json());
    REQUIRE(v.size() == (expired ? 4u : 5u));
    for (const auto& [name, verdict] : v) {
      INFO(name << ": " << verdict.dump());
      REQUIRE(verdict.at("ok").get<bool>());
    }
  }
  CHECK(leftovers(before).empty());
}
