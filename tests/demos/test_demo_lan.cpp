// demo-lan run as a user runs it (root: a lab of three hosts on a switch, and the
// capture at every place). The verdicts and the frames they name are checked against
// the run's own -w file read by tshark; --hub, both languages, the run without
// --capture, bad usage, the missing privilege; no namespace of a run is left behind.
#include <catch2/catch.hpp>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "demo_runner.hpp"
#include "lab_checks.hpp"
#include "socklab/lab/lab.hpp"

namespace {

using namespace socklab::test;
namespace fs = std::filesystem;
using Strings = std::vector<std::string>;

// tshark's reading of the run's capture file: one row per frame, its fields in order.
std::vector<Strings> tshark_rows(const fs::path& file) {
  const fs::path home = fs::temp_directory_path() / ("socklab-lan-tshark-" + std::to_string(::getpid()));
  fs::create_directories(home);
  const auto r = run({"/usr/bin/env", "HOME=" + home.string(), SOCKLAB_TSHARK, "-r", file.string(), "-T", "fields",
                      "-e", "eth.src", "-e", "eth.dst", "-e", "arp.opcode", "-e", "arp.dst.proto_ipv4", "-e",
                      "udp.dstport"});
  fs::remove_all(home);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  std::vector<Strings> rows;
  for (const auto& line : r.out_lines()) {
    if (line.empty()) continue;
    Strings fields;
    std::istringstream in(line);
    for (std::string f; std::getline(in, f, '\t');) fields.push_back(f);
    fields.resize(5);
    rows.push_back(fields);
  }
  return rows;
}

std::set<std::string> seen_of(const nlohmann::json& packet) {
  std::set<std::string> out;
  for (const auto& p : packet.at("seen")) out.insert(p.get<std::string>());
  return out;
}

void check_lan(bool hub) {
  const auto before = socklab::lab::socklab_namespaces();
  const fs::path file = fs::temp_directory_path() / ("socklab-lan-test-" + std::to_string(::getpid()) + ".pcap");
  Strings args{DEMO_LAN, "--capture", "--json", "-w", file.string()};
  if (hub) args.emplace_back("--hub");
  const auto r = run_demo(args);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const auto lines = r.json();
  std::set<std::string> names;
  for (const auto& [name, verdict] : verdicts(lines)) {
    INFO(name << ": " << verdict.dump());
    CHECK(verdict.at("ok").get<bool>());
    names.insert(name);
  }
  const std::set<std::string> expected_names =
      hub ? std::set<std::string>{"arp_resolved", "hub_learned_nothing", "arp_request_broadcast", "arp_reply_unicast",
                                  "seen_at_b_with_hub", "second_datagram_without_arp"}
          : std::set<std::string>{"arp_resolved", "switch_learned_ports", "arp_request_broadcast", "arp_reply_unicast",
                                  "datagram_only_at_c", "second_datagram_without_arp"};
  CHECK(names == expected_names);

  // The frames, as tshark reads them from the run's file, and as the JSON reports them.
  const auto rows = tshark_rows(file);
  fs::remove(file);
  const auto packets = of_kind(lines, "packet");
  REQUIRE(rows.size() == packets.size());
  REQUIRE(rows.size() == 4);  // request, reply, two datagrams: nothing else on the LAN
  for (std::size_t i = 0; i < rows.size(); ++i) {
    CHECK(packets[i].at("eth_src") == rows[i][0]);
    CHECK(packets[i].at("eth_dst") == rows[i][1]);
  }
  // 1: A asks everyone for 10.0.0.3; seen at A, B and C.
  CHECK(rows[0] == Strings{"02:00:00:00:00:0a", "ff:ff:ff:ff:ff:ff", "1", "10.0.0.3", ""});
  CHECK(std::ranges::includes(seen_of(packets[0]), std::set<std::string>{"A:eth0", "B:eth0", "C:eth0"}));
  // 2: C answers A alone; a switch keeps it from B, a hub does not.
  CHECK(rows[1] == Strings{"02:00:00:00:00:0c", "02:00:00:00:00:0a", "2", "10.0.0.1", ""});
  CHECK(seen_of(packets[1]).contains("A:eth0"));
  CHECK(seen_of(packets[1]).contains("B:eth0") == hub);
  // 3, 4: the datagrams to C's MAC, no ARP between them.
  for (std::size_t i : {std::size_t{2}, std::size_t{3}}) {
    CHECK(rows[i] == Strings{"02:00:00:00:00:0a", "02:00:00:00:00:0c", "", "", "5000"});
    CHECK(seen_of(packets[i]).contains("C:eth0"));
    CHECK(seen_of(packets[i]).contains("B:eth0") == hub);
    CHECK(seen_of(packets[i]).contains("sw:B-eth0") == hub);
  }
  if (!hub) CHECK(seen_of(packets[2]) == std::set<std::string>{"A:eth0", "sw:A-eth0", "sw:C-eth0", "C:eth0"});

  // The tables, as the facts report them.
  std::map<std::string, nlohmann::json> facts;
  for (const auto& f : of_kind(lines, "fact")) facts[f.at("name").get<std::string>()] = f.at("value");
  CHECK(facts.at("arp_table_before").empty());
  REQUIRE(facts.at("arp_table_after").size() == 1);
  CHECK(facts.at("arp_table_after")[0].at("mac") == "02:00:00:00:00:0c");
  CHECK(facts.at("b_arp_table").empty());
  REQUIRE(facts.at("c_arp_table").size() == 1);
  CHECK(facts.at("c_arp_table")[0].at("ip") == "10.0.0.1");  // learned from the request
  for (const auto& e : facts.at("fdb_before")) CHECK(e.at("local").get<bool>());
  CHECK(facts.at("mac_host").at("locally_administered") == true);
  CHECK(facts.at("mac_host").at("multicast") == false);
  CHECK(facts.at("mac_port").at("locally_administered") == true);  // the kernel's random address
  CHECK(facts.at("mac_broadcast").at("multicast") == true);
  CHECK(leftovers(before).empty());
}

}  // namespace

TEST_CASE("demo-lan: ARP broadcast to B and C, the reply to A alone, the datagrams only at C", "[lan]") {
  check_lan(false);
}

TEST_CASE("demo-lan --hub: every frame reaches B too, and the hub learns nothing", "[lan]") { check_lan(true); }

TEST_CASE("demo-lan shows the ARP frames and the tables in the lesson's text, in both languages", "[lan]") {
  for (const std::string lang : {"en", "zh"}) {
    const auto r = run_demo({DEMO_LAN, "--capture", "--lang", lang});
    INFO(lang << ": " << r.err);
    REQUIRE(r.exit_code == 0);
    const std::string text = squeeze(r.out);
    CHECK_THAT(text, Catch::Contains("ARP who-has 10.0.0.3 tell 10.0.0.1"));
    CHECK_THAT(text, Catch::Contains("ARP 10.0.0.3 is-at 02:00:00:00:00:0c"));
    CHECK_THAT(text, Catch::Contains("┬ A") && Catch::Contains("┬ sw") && Catch::Contains("┬ B") && Catch::Contains("┬ C"));
    CHECK_THAT(text, Catch::Contains("02:00:00:00:00:0a @ A-eth0") && Catch::Contains("02:00:00:00:00:0c @ C-eth0"));
    CHECK_THAT(r.out, !Catch::Contains("✗"));
    if (lang == "zh") {
      CHECK_THAT(text, Catch::Contains("A 的 ARP 请求（谁有 10.0.0.3？）发往 ff:ff:ff:ff:ff:ff"));
      CHECK_THAT(text, Catch::Contains("B 处没有"));
    } else {
      CHECK_THAT(text, Catch::Contains("A's ARP request (who has 10.0.0.3?) went to ff:ff:ff:ff:ff:ff"));
      CHECK_THAT(text, Catch::Contains("not at B"));
    }
  }
}

TEST_CASE("demo-lan without --capture states what the calls and the tables showed", "[lan]") {
  const auto r = run_demo({DEMO_LAN, "--json"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const auto lines = r.json();
  CHECK(of_kind(lines, "packet").empty());
  const auto v = verdicts(lines);
  CHECK(v.size() == 2);  // the two read over netlink; none about frames
  CHECK(v.at("arp_resolved").at("ok").get<bool>());
  CHECK(v.at("switch_learned_ports").at("ok").get<bool>());
}

TEST_CASE("demo-lan: --role is a usage error; without the lab's privileges it says which and exits 5", "[lan]") {
  const auto before = socklab::lab::socklab_namespaces();
  const auto usage = run_demo({DEMO_LAN, "--role", "server", "--port", "5000"});
  CHECK(usage.exit_code == 2);
  CHECK_THAT(usage.err, Catch::Contains("--role"));
  const auto r = run_demo({SOCKLAB_SETPRIV, "--bounding-set=-all", "--inh-caps=-all", "--", DEMO_LAN, "--capture"});
  CHECK(r.exit_code == 5);
  CHECK_THAT(r.err, Catch::Contains("CAP_NET_ADMIN") && Catch::Contains("CAP_SYS_ADMIN"));
  CHECK(leftovers(before).empty());
}

TEST_CASE("demo-lan --quiz: the predictions are graded against the frames of the run", "[lan][quiz]") {
  for (const bool hub : {false, true}) {
    // Right for a switch (3 hosts see the request, 2 the reply, 1 request), then one wrong
    // answer; with --hub the question of the flooded datagram alone.
    Strings args{DEMO_LAN, "--capture", "--json", "--answers", hub ? "2" : "3,2,2"};
    if (hub) args.emplace_back("--hub");
    const auto r = run_demo(args);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    std::map<std::string, nlohmann::json> graded;
    for (const auto& q : of_kind(r.json(), "quiz")) graded[q.at("id").get<std::string>()] = q;
    if (hub) {
      REQUIRE(graded.size() == 1);
      CHECK(graded.at("hub_hosts").at("observed") == 3);  // A, B and C: the hub repeats it to B
      CHECK_FALSE(graded.at("hub_hosts").at("ok").get<bool>());
    } else {
      REQUIRE(graded.size() == 3);
      CHECK(graded.at("request_hosts").at("ok").get<bool>());
      CHECK(graded.at("reply_hosts").at("ok").get<bool>());
      CHECK(graded.at("arp_requests").at("observed") == 1);
      CHECK_FALSE(graded.at("arp_requests").at("ok").get<bool>());
    }
  }
}
