// Every demo variant, 50 runs in a row with --capture: the same verdicts every
// time (the demos wait for conditions, never for a guessed time). Label: repeat.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "demo_runner.hpp"

using socklab::test::of_kind;
using socklab::test::run_demo;
using Strings = std::vector<std::string>;

namespace {

constexpr int kRuns = 50;

// name -> {expected, observed, ok}: what must not change from run to run.
nlohmann::json verdict_signature(const socklab::test::RunResult& r) {
  nlohmann::json sig = nlohmann::json::object();
  for (const auto& v : of_kind(r.json(), "verdict")) {
    sig[v.at("name").get<std::string>()] = {v.at("expected"), v.at("observed"), v.at("ok")};
  }
  return sig;
}

}  // namespace

TEST_CASE("each variant gives the same verdicts in 50 consecutive runs", "[demos][repeat]") {
  const std::vector<Strings> variants{{DEMO_HANDSHAKE},           {DEMO_HANDSHAKE, "--refused"},
                                      {DEMO_TEARDOWN},            {DEMO_TEARDOWN, "--merged"},
                                      {DEMO_TEARDOWN, "--half-close"}, {DEMO_TEARDOWN, "--abort"},
                                      {DEMO_TEARDOWN, "--reuse"}};
  for (const auto& variant : variants) {
    Strings args = variant;
    args.insert(args.end(), {"--capture", "--json"});
    nlohmann::json first;
    for (int run = 1; run <= kRuns; ++run) {
      const auto r = run_demo(args);
      INFO(args[0] << " " << args[1] << ", run " << run << "\n" << r.err);
      REQUIRE(r.exit_code == 0);
      const auto sig = verdict_signature(r);
      if (run == 1) {
        first = sig;
        REQUIRE(first.size() >= 1);
        for (const auto& [name, v] : first.items()) {
          INFO(name << ": " << v.dump());
          REQUIRE(v.at(2) == true);  // ok
        }
      } else {
        INFO("first run: " << first.dump() << "\nthis run:  " << sig.dump());
        REQUIRE(sig == first);
      }
    }
  }
}
