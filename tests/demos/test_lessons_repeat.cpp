// Lessons 3 to 5, run again and again: the same lesson every time. Glued in 50
// of 50 runs without a fix, never glued with any fix, Nagle's merge on the wire
// in every run, UDP's counts always adding up. Label: repeat.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "demo_runner.hpp"

using socklab::test::of_kind;
using socklab::test::run_demo;
using socklab::test::verdicts;
using Strings = std::vector<std::string>;
using nlohmann::json;

namespace {

constexpr int kRuns = 50;
constexpr int kBacklogRuns = 10;

// Runs `args` n times; every run must exit 0 with every verdict ok, and
// `check` sees each run's verdicts.
template <class Check>
void repeat(const Strings& args, int n, Check&& check) {
  for (int run = 1; run <= n; ++run) {
    const auto r = run_demo(args);
    INFO(args[0] << " " << args.back() << ", run " << run << "\n" << r.err);
    REQUIRE(r.exit_code == 0);
    const auto v = verdicts(r.json());
    for (const auto& [name, verdict] : v) {
      INFO(name << ": " << verdict.dump());
      REQUIRE(verdict.at("ok") == true);
    }
    check(v);
  }
}

}  // namespace

TEST_CASE("sticky: glued in 50 of 50 runs", "[demos][lessons][repeat]") {
  repeat({DEMO_STICKY, "--json"}, kRuns,
         [](const auto& v) { REQUIRE(v.at("glued_read").at("observed") == "hellohaihahaha"); });
}

TEST_CASE("sticky --fix: never glued, every message whole, in 50 runs of each codec", "[demos][lessons][repeat]") {
  for (const char* codec : {"length", "delimiter", "fixed"}) {
    repeat({DEMO_STICKY, "--fix", codec, "--json"}, kRuns, [](const auto& v) {
      REQUIRE(v.at("messages_whole").at("observed") == json({"hello", "hai", "hahaha"}));
    });
  }
  repeat({DEMO_STICKY, "--fix", "header", "--json"}, kRuns, [](const auto& v) {
    REQUIRE(v.at("file_intact").at("observed") == json({{"bytes", 12500}, {"same_bytes", true}}));
  });
}

TEST_CASE("sticky --short-reads: the trusting recv() gets 1 byte in 50 of 50 runs", "[demos][lessons][repeat]") {
  repeat({DEMO_STICKY, "--short-reads", "--json"}, kRuns, [](const auto& v) {
    REQUIRE(v.at("naive_header_short").at("observed") == 1);
    REQUIRE(v.at("recv_exact_whole").at("observed") == "hello");
  });
}

TEST_CASE("sticky --nagle: merged on the wire in 50 of 50 runs, never with TCP_NODELAY", "[demos][lessons][repeat]") {
  repeat({DEMO_STICKY, "--nagle", "--capture", "--json"}, kRuns, [](const auto& v) {
    REQUIRE(v.at("nagle_merges_on_wire").at("observed") == json({{"nagle", {5, 9}}, {"nodelay", {5, 3, 6}}}));
    REQUIRE(v.at("nagle_holds_small_writes").at("observed") == json({{"nagle", 9}, {"nodelay", 0}}));
  });
}

TEST_CASE("udp: boundaries kept, and losses that add up, run after run", "[demos][lessons][repeat]") {
  repeat({DEMO_UDP, "--json"}, kRuns,
         [](const auto& v) { REQUIRE(v.at("datagrams_kept").at("observed") == json({"hello", "hai", "hahaha"})); });
  repeat({DEMO_UDP, "--loss", "--json"}, 20, [](const auto& v) {
    REQUIRE(v.contains("kernel_counter"));
    REQUIRE(v.at("drops_counted").at("ok") == true);
  });
}

TEST_CASE("backlog: N+1 complete and the rest retransmit, ten runs with capture", "[demos][lessons][repeat]") {
  // Each run waits for the clients' SYN timers (two seconds): ten runs, not fifty.
  repeat({DEMO_BACKLOG, "--capture", "--json"}, kBacklogRuns, [](const auto& v) {
    REQUIRE(v.at("completed_before_accept").at("observed") == 3);
    REQUIRE(v.at("syn_retransmissions_seen").at("ok") == true);
  });
}
