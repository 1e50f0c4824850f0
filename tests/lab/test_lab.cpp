// socklab::lab on the real kernel: each topology built as asked (read back over netlink),
// traffic across it, and the tables a lesson shows (ARP, the switch's MAC table, counters).
#include <catch2/catch.hpp>

#include <net/if.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <future>
#include <stdexcept>
#include <chrono>
#include <cstring>

#include "lab_test_support.hpp"

using namespace socklab::test;

namespace {

const FdbEntry* learned(const std::vector<FdbEntry>& fdb, const Mac& mac) {
  for (const auto& e : fdb) {
    if (e.mac == mac && !e.local) return &e;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("three hosts and a switch: built as asked, read back over netlink", "[lab]") {
  Lab lab = Lab::create();
  Node& sw = add_lan(lab, "sw", {"A", "B", "C"}, "10.0.0", 0x0a);
  Node& a = lab.node("A");
  Node& b = lab.node("B");

  SECTION("names, addresses, MACs, links up, forwarding off, IPv6 off, learning switch") {
    for (const auto& [name, last] : {std::pair{"A", 1}, std::pair{"B", 2}, std::pair{"C", 3}}) {
      const Node& h = lab.node(name);
      CHECK(h.netns() == "socklab-" + std::to_string(::getpid()) + "-" + name);
      CHECK(value_or_throw(h.addresses("eth0")) == std::vector<std::string>{"10.0.0." + std::to_string(last) + "/24"});
      CHECK(value_or_throw(h.mac("eth0")) == Mac::local(static_cast<std::uint8_t>(0x0a + last - 1)));
      CHECK(value_or_throw(h.is_up("eth0")));
      CHECK(value_or_throw(h.is_up("lo")));
      CHECK_FALSE(value_or_throw(h.forwarding()));
      CHECK_FALSE(value_or_throw(h.ipv6_enabled()));
    }
    CHECK(value_or_throw(a.mac("eth0")).str() == "02:00:00:00:00:0a");
    CHECK(value_or_throw(sw.ageing_time()) == 300'000ms);
    for (const char* port : {"A-eth0", "B-eth0", "C-eth0"}) CHECK(value_or_throw(sw.is_up(port)));
    // Nothing of the lab in the machine's own namespace.
    CHECK(::if_nametoindex("A-eth0") == 0);
    CHECK(::if_nametoindex("br0") == 0);
  }

  SECTION("a datagram from A to B: ARP resolves, the switch learns both MACs on their ports") {
    socklab::net::CallRecorder rec;
    ping(lab, a, b, "10.0.0.2", &rec);
    const auto arp = value_or_throw(a.wait_for_neighbours(
        [](const std::vector<Neighbour>& t) {
          return std::ranges::any_of(t, [](const Neighbour& n) { return n.ip == "10.0.0.2" && n.mac; });
        },
        5s));
    const auto it = std::ranges::find(arp, std::string("10.0.0.2"), &Neighbour::ip);
    REQUIRE(it != arp.end());
    CHECK(*it->mac == Mac::local(0x0b));
    CHECK(it->interface == "eth0");
    CHECK((it->state == "REACHABLE" || it->state == "STALE" || it->state == "DELAY"));

    const auto fdb = value_or_throw(sw.fdb());
    const FdbEntry* ea = learned(fdb, Mac::local(0x0a));
    const FdbEntry* eb = learned(fdb, Mac::local(0x0b));
    REQUIRE(ea != nullptr);
    REQUIRE(eb != nullptr);
    CHECK(ea->port == "A-eth0");
    CHECK(eb->port == "B-eth0");
    CHECK(ea->age_s < 60);
    CHECK(learned(fdb, Mac::local(0x0c)) == nullptr);  // C sent nothing

    const auto ca = value_or_throw(a.counters("eth0"));
    CHECK(ca.tx_packets >= 2);  // the ARP request and the datagram
    CHECK(ca.rx_packets >= 2);

    // The calls are recorded under the participants' names.
    const auto calls = rec.snapshot();
    CHECK(std::ranges::any_of(calls, [](const auto& c) { return c.participant == "A" && c.call == "sendto"; }));
    CHECK(std::ranges::any_of(calls, [](const auto& c) { return c.participant == "B" && c.call == "recvfrom"; }));
    CHECK(std::ranges::none_of(calls, [](const auto& c) { return c.participant.empty(); }));
  }
}

TEST_CASE("hub mode: ageing time 0", "[lab]") {
  Lab lab = Lab::create();
  Node& hub = add_lan(lab, "hub", {"A", "B"}, "10.0.0", 0x0a, true);
  CHECK(value_or_throw(hub.ageing_time()) == 0ms);
}

TEST_CASE("two LANs and a router: forwarding on the router only, a datagram crosses it", "[lab]") {
  Lab lab = Lab::create();
  Node& r = add_two_lans(lab);
  Node& a = lab.node("A");
  Node& b = lab.node("B");
  CHECK(value_or_throw(r.forwarding()));
  CHECK_FALSE(value_or_throw(a.forwarding()));
  CHECK(value_or_throw(r.addresses("eth0")) == std::vector<std::string>{"10.0.1.254/24"});
  CHECK(value_or_throw(r.addresses("eth1")) == std::vector<std::string>{"10.0.2.254/24"});
  CHECK(value_or_throw(r.mac("eth1")) == Mac::local(0xf2));

  ping(lab, a, b, "10.0.2.1", nullptr);
  // A knows the router's MAC, not B's: MACs are per hop.
  const auto arp = value_or_throw(a.neighbours());
  CHECK(std::ranges::any_of(arp, [](const Neighbour& n) { return n.ip == "10.0.1.254" && n.mac == Mac::local(0xf1); }));
  CHECK(std::ranges::none_of(arp, [](const Neighbour& n) { return n.ip == "10.0.2.1"; }));
  const auto rc = value_or_throw(r.counters("eth1"));
  CHECK(rc.tx_packets >= 2);  // the ARP request for B and the forwarded datagram
}

TEST_CASE("bad input is refused with a message naming it", "[lab]") {
  Lab lab = Lab::create();
  Node& sw = lab.add_switch("sw");
  Node& a = lab.add_host("A");
  CHECK_THROWS_WITH(lab.add_host("A"), Catch::Contains("a node named A exists"));
  CHECK_THROWS_WITH(lab.add_host("much-too-long"), Catch::Contains("node name \"much-too-long\""));
  CHECK_THROWS_WITH(lab.connect(a, {.address = "10.0.0.300/24"}, sw), Catch::Contains("10.0.0.300/24"));
  CHECK_THROWS_WITH(lab.connect(sw, {.address = "10.0.0.1/24"}, a), Catch::Contains("the second a switch"));
  CHECK_THROWS_WITH(lab.add_route(a, "10.1.0.0/16", "not-an-ip"), Catch::Contains("gateway"));
  CHECK_THROWS_WITH(lab.connect(a, {.address = "10.0.0.1/24", .name = "eth/0"}, sw),
                    Catch::Contains("interface name on A \"eth/0\""));
}
