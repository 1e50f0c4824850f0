// --quiz with --capture: the questions only the wire answers (segments, packets
// on lo), graded against the packets and verdicts of the same run.
#include <catch2/catch.hpp>

#include <string>

#include "demo_checks.hpp"

using socklab::test::check_grade;
using socklab::test::of_kind;
using socklab::test::quiz_item;
using socklab::test::run_demo;
using socklab::test::verdicts;
using nlohmann::json;

TEST_CASE("quiz --capture: the wire's questions graded by this run's packets", "[demos][quiz][capture]") {
  SECTION("demo-handshake: the segments that opened the connection, counted in the capture") {
    const auto r = run_demo({DEMO_HANDSHAKE, "--capture", "--json", "--answers", "2,ESTABLISHED,1"});
    REQUIRE(r.exit_code == 0);
    const auto lines = r.json();
    std::size_t handshake = 0;  // the capture's own packets in the handshake phase
    for (const auto& p : of_kind(lines, "packet")) handshake += p.value("phase", "").starts_with("handshake") ? 1 : 0;
    check_grade(quiz_item(lines, "segments"), verdicts(lines).at("handshake_segments").at("observed").size());
    CHECK(quiz_item(lines, "segments").at("observed") == handshake);
    CHECK(quiz_item(lines, "segments").at("ok") == false);  // 2: the answer of no handshake ever seen
  }
  SECTION("demo-teardown: the segments from the first FIN on") {
    const auto r = run_demo({DEMO_TEARDOWN, "--capture", "--json", "--answers", "4,CLOSE_WAIT,TIME_WAIT"});
    REQUIRE(r.exit_code == 0);
    const auto lines = r.json();
    check_grade(quiz_item(lines, "close_segments"), verdicts(lines).at("teardown_segments").at("observed").size());
  }
  SECTION("demo-router: the TTL after R and what R forwarded; with --ttl 1, R's ICMP and LAN 2") {
    auto r = run_demo({DEMO_ROUTER, "--capture", "--json", "--answers", "64,2"});
    REQUIRE(r.exit_code == 0);
    auto lines = r.json();
    check_grade(quiz_item(lines, "ttl_lan2"), verdicts(lines).at("ttl_decremented").at("observed").at("lan2"));
    CHECK(quiz_item(lines, "ttl_lan2").at("ok") == false);  // 64: the answer of a TTL no router lowers
    check_grade(quiz_item(lines, "forwarded"), socklab::test::fact_value(lines, "router_counters").at("IpForwDatagrams"));
    r = run_demo({DEMO_ROUTER, "--capture", "--json", "--ttl", "1", "--answers", "1,0"});
    REQUIRE(r.exit_code == 0);
    lines = r.json();
    check_grade(quiz_item(lines, "time_exceeded"), socklab::test::fact_value(lines, "router_counters").at("IcmpOutTimeExcds"));
    check_grade(quiz_item(lines, "on_lan2"), verdicts(lines).at("nothing_on_lan2").at("observed"));
  }
  SECTION("demo-unix: packets on lo per family") {
    const auto r = run_demo({DEMO_UNIX, "--capture", "--json", "--answers", "0,6,yes"});
    REQUIRE(r.exit_code == 0);
    const auto lines = r.json();
    auto v = verdicts(lines);
    check_grade(quiz_item(lines, "unix_packets"), v.at("unix_no_packets_on_lo").at("observed").at("path"));
    check_grade(quiz_item(lines, "inet_packets"), v.at("inet_segments_on_lo").at("observed"));
  }
}
