// The facts the LAN lesson texts (lab/lessons) state, on real frames of a lab: ARP
// broadcast and unicast, what the switch learned, MACs rewritten at a router while the
// IPs stay, the TTL taken down by one, ICMP time exceeded tied to the datagram it quotes.
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "lab_test_support.hpp"
#include "socklab/capture/merge.hpp"
#include "socklab/capture/record.hpp"
#include "socklab/lab/lab_capture.hpp"

using namespace socklab::test;
using namespace socklab::capture;

namespace {

// Ethernet + IPv4 (the lab's: 20-byte headers) read straight from the bytes.
struct Frame {
  Mac src, dst;
  std::uint16_t ethertype = 0;
  std::uint16_t arp_op = 0;  // 1 request, 2 reply
  std::array<std::uint8_t, 4> arp_target{};
  std::uint8_t ttl = 0, ip_proto = 0;
  std::array<std::uint8_t, 4> ip_src{}, ip_dst{};
};

Frame parse(const RawPacket& p) {
  const auto& b = p.bytes;
  Frame f;
  if (b.size() < 14) return f;
  std::copy_n(b.begin(), 6, f.dst.bytes.begin());
  std::copy_n(b.begin() + 6, 6, f.src.bytes.begin());
  f.ethertype = static_cast<std::uint16_t>(b[12] << 8 | b[13]);
  if (f.ethertype == 0x0806 && b.size() >= 42) {
    f.arp_op = static_cast<std::uint16_t>(b[20] << 8 | b[21]);
    std::copy_n(b.begin() + 38, 4, f.arp_target.begin());
  } else if (f.ethertype == 0x0800 && b.size() >= 34) {
    f.ttl = b[22];
    f.ip_proto = b[23];
    std::copy_n(b.begin() + 26, 4, f.ip_src.begin());
    std::copy_n(b.begin() + 30, 4, f.ip_dst.begin());
  }
  return f;
}

std::vector<std::string> places_of(const FrameEvent& e) {
  std::vector<std::string> out;
  for (const auto& s : e.seen) out.push_back(s.place);
  std::ranges::sort(out);
  return out;
}

using Strings = std::vector<std::string>;

}  // namespace

TEST_CASE("demo-lan's facts: request broadcast to B and C, reply unicast to A, datagrams only at C", "[lab][capture]") {
  Lab lab = Lab::create();
  Node& sw = add_lan(lab, "sw", {"A", "B", "C"}, "10.0.0", 0x0a);
  Node& a = lab.node("A");
  CHECK(value_or_throw(a.neighbours()).empty());
  const auto fdb_before = value_or_throw(sw.fdb());
  CHECK(std::ranges::all_of(fdb_before, [](const FdbEntry& e) { return e.local; }));  // only its own ports

  auto cap = value_or_throw(LabCapture::start(lab.places(false)));
  // Twice "ping" A -> C, "pong" C -> A: only the first exchange needs ARP.
  ping(lab, a, lab.node("C"), "10.0.0.3", nullptr);
  ping(lab, a, lab.node("C"), "10.0.0.3", nullptr);
  const auto is_reply = [](const RawPacket& p) { return parse(p).arp_op == 2; };
  REQUIRE(cap.wait_for("A:eth0", is_reply, 5s));
  const auto events = value_or_throw(cap.stop());

  std::vector<const FrameEvent*> requests, replies, datagrams;
  for (const auto& e : events) {
    const Frame f = parse(e.frame);
    if (f.arp_op == 1) requests.push_back(&e);
    if (f.arp_op == 2) replies.push_back(&e);
    if (f.ip_proto == 17) datagrams.push_back(&e);
  }
  REQUIRE(requests.size() == 1);  // the second ping needed none, nor did C's answers
  CHECK(parse(requests[0]->frame).dst.is_broadcast());
  CHECK(parse(requests[0]->frame).arp_target == std::array<std::uint8_t, 4>{10, 0, 0, 3});
  CHECK(places_of(*requests[0]) == Strings{"A:eth0", "B:eth0", "C:eth0"});
  REQUIRE(replies.size() == 1);
  CHECK(parse(replies[0]->frame).dst == Mac::local(0x0a));
  CHECK(places_of(*replies[0]) == Strings{"A:eth0", "C:eth0"});  // sent by C, seen by A; never at B
  REQUIRE(datagrams.size() == 4);
  for (const auto* d : datagrams) CHECK(places_of(*d) == Strings{"A:eth0", "C:eth0"});

  const auto arp = value_or_throw(a.neighbours());
  REQUIRE(arp.size() == 1);
  CHECK(arp[0].ip == "10.0.0.3");
  CHECK(arp[0].mac == Mac::local(0x0c));
  CHECK(arp[0].state == "REACHABLE");
  const auto fdb = value_or_throw(sw.fdb());
  const auto learned = [&](const Mac& m) {
    const auto it = std::ranges::find_if(fdb, [&](const FdbEntry& e) { return e.mac == m && !e.local; });
    return it == fdb.end() ? std::string() : it->port;
  };
  CHECK(learned(Mac::local(0x0a)) == "A-eth0");
  CHECK(learned(Mac::local(0x0c)) == "C-eth0");
  CHECK(learned(Mac::local(0x0b)).empty());  // B sent nothing
}

TEST_CASE("demo-router's facts: ARP for the router, MACs rewritten at R, IPs kept, TTL one less, the answer back",
          "[lab][capture]") {
  Lab lab = Lab::create();
  add_two_lans(lab, {"A", "B"}, {"C"});
  auto cap = value_or_throw(LabCapture::start(lab.places(false)));
  ping(lab, lab.node("A"), lab.node("C"), "10.0.2.1", nullptr);  // "ping" A -> C, "pong" C -> A
  const auto events = value_or_throw(cap.stop());

  std::vector<Frame> lan1, lan2;  // the datagrams as seen at A and at C, in time order
  std::vector<std::array<std::uint8_t, 4>> asked_by_a;
  int asked_by_c = 0;
  for (const auto& e : events) {
    const Frame f = parse(e.frame);
    const auto places = places_of(e);
    if (f.arp_op == 1 && f.src == Mac::local(0x0a)) asked_by_a.push_back(f.arp_target);
    if (f.arp_op == 1 && f.src == Mac::local(0x0c)) ++asked_by_c;
    if (f.ip_proto != 17) continue;
    if (std::ranges::count(places, "A:eth0") != 0) lan1.push_back(f);
    if (std::ranges::count(places, "C:eth0") != 0) lan2.push_back(f);
  }
  CHECK(asked_by_a == std::vector<std::array<std::uint8_t, 4>>{{10, 0, 1, 254}});  // the router, not C
  CHECK(asked_by_c == 0);  // R's request told C where 10.0.2.254 is
  REQUIRE(lan1.size() == 2);
  REQUIRE(lan2.size() == 2);
  // There: A -> R on LAN 1, R -> C on LAN 2.
  CHECK(lan1[0].src == Mac::local(0x0a));
  CHECK(lan1[0].dst == Mac::local(0xf1));
  CHECK(lan2[0].src == Mac::local(0xf2));
  CHECK(lan2[0].dst == Mac::local(0x0c));
  CHECK(lan2[0].ttl == lan1[0].ttl - 1);
  // Back: C -> R on LAN 2, R -> A on LAN 1.
  CHECK(lan2[1].src == Mac::local(0x0c));
  CHECK(lan2[1].dst == Mac::local(0xf2));
  CHECK(lan1[1].src == Mac::local(0xf1));
  CHECK(lan1[1].dst == Mac::local(0x0a));
  CHECK(lan1[1].ttl == lan2[1].ttl - 1);
  for (std::size_t i = 0; i < 2; ++i) {  // the IP addresses stay
    CHECK(lan1[i].ip_src == lan2[i].ip_src);
    CHECK(lan1[i].ip_dst == lan2[i].ip_dst);
  }
  CHECK(lan1[0].ip_src == std::array<std::uint8_t, 4>{10, 0, 1, 1});
  CHECK(lan1[0].ip_dst == std::array<std::uint8_t, 4>{10, 0, 2, 1});
}

TEST_CASE("demo-router --ttl 1: ICMP time exceeded from the router, tied to the datagram it quotes", "[lab][capture]") {
  Lab lab = Lab::create();
  add_two_lans(lab, {"A", "B"}, {"C"});
  std::vector<Lab::Place> at_a;
  for (const auto& p : lab.places(false)) {
    if (p.node->name() == "A") at_a.push_back(p);
  }
  auto cap = value_or_throw(LabCapture::start(at_a));
  auto a = lab.run_on(lab.node("A"), [](Participant& p) {
    auto s = value_or_throw(UdpSocket::open(AF_INET, {.trace = p.trace}));
    value_or_throw(s.set_ttl(1));
    value_or_throw(s.send_to(bytes_of("one hop"), value_or_throw(Endpoint::from_host_port("10.0.2.1", 9))));
  });
  a.join();
  REQUIRE(cap.wait_for("A:eth0", [](const RawPacket& p) { return parse(p).ip_proto == 1; }, 5s));
  const auto events = value_or_throw(cap.stop());
  RecordBuilder builder(LinkType::ethernet);
  std::uint64_t datagram = 0;
  bool tied = false;
  for (const auto& e : events) {
    const PacketRecord r = builder.next(e.frame);
    if (r.proto == Proto::udp) datagram = r.n;
    if (r.proto == Proto::icmp) {
      CHECK(r.src == "10.0.1.254");
      CHECK(r.eth_src == Mac::local(0xf1).str());
      CHECK(r.related == datagram);
      tied = datagram != 0 && r.related == datagram;
    }
  }
  CHECK(tied);
}
