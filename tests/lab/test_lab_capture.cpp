// Capture on every interface of a lab, each opened inside its namespace, merged into one
// timeline: a broadcast seen at several places is one event with those places.
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <chrono>

#include "socklab/capture/live.hpp"
#include "socklab/capture/merge.hpp"
#include "socklab/capture/record.hpp"
#include "socklab/lab/lab.hpp"
#include "lab_test_support.hpp"
#include "socklab/lab/lab_capture.hpp"

using namespace socklab::test;
using namespace socklab::capture;

namespace {

bool is_arp(const RawPacket& p) { return p.bytes.size() >= 14 && p.bytes[12] == 0x08 && p.bytes[13] == 0x06; }
bool is_broadcast(const RawPacket& p) {
  return p.bytes.size() >= 6 && std::all_of(p.bytes.begin(), p.bytes.begin() + 6, [](std::uint8_t b) { return b == 0xff; });
}
bool is_udp_to(const RawPacket& p, std::uint16_t port) {
  // Ethernet + IPv4 (20-byte header in the lab) + UDP destination port.
  return p.bytes.size() >= 38 && p.bytes[12] == 0x08 && p.bytes[13] == 0x00 && p.bytes[23] == 17 &&
         p.bytes[36] == (port >> 8) && p.bytes[37] == (port & 0xff);
}

std::vector<std::string> places_of(const FrameEvent& e) {
  std::vector<std::string> out;
  for (const auto& s : e.seen) out.push_back(s.place);
  return out;
}

}  // namespace

TEST_CASE("a broadcast ARP seen at B and C is one event with two places; order holds across namespaces",
          "[lab][capture]") {
  Lab lab = Lab::create();
  add_lan(lab, "sw", {"A", "B", "C"}, "10.0.0", 0x0a);
  std::vector<Lab::Place> at_b_and_c;
  for (const auto& p : lab.places(false)) {
    if (p.node->name() != "A") at_b_and_c.push_back(p);
  }
  auto cap = value_or_throw(LabCapture::start(at_b_and_c));
  const std::uint16_t port = ping(lab, lab.node("A"), lab.node("B"), "10.0.0.2", nullptr);
  // B saw the datagram before its recv returned; C's copy of the broadcast is waited for.
  REQUIRE(cap.wait_for("C:eth0", is_arp, 5s));
  const auto events = value_or_throw(cap.stop());

  const auto request = std::ranges::find_if(events, [](const FrameEvent& e) { return is_arp(e.frame) && is_broadcast(e.frame); });
  REQUIRE(request != events.end());
  auto where = places_of(*request);
  std::ranges::sort(where);
  CHECK(where == std::vector<std::string>{"B:eth0", "C:eth0"});
  CHECK(std::ranges::count_if(events, [](const FrameEvent& e) { return is_arp(e.frame) && is_broadcast(e.frame); }) == 1);
  // The datagram went to B only (the switch had learned B's port from the ARP reply).
  const auto datagram = std::ranges::find_if(events, [&](const FrameEvent& e) { return is_udp_to(e.frame, port); });
  REQUIRE(datagram != events.end());
  CHECK(places_of(*datagram) == std::vector<std::string>{"B:eth0"});
  // One time line: events by first sighting, each event's sightings in order; the
  // request came before the datagram it made possible.
  CHECK(std::ranges::is_sorted(events, {}, [](const FrameEvent& e) { return e.frame.ts_ns; }));
  for (const auto& e : events) CHECK(std::ranges::is_sorted(e.seen, {}, &Sighting::ts_ns));
  CHECK(request < datagram);

  // The packet records carry the real MAC addresses.
  RecordBuilder builder(LinkType::ethernet);
  const PacketRecord r = builder.next(request->frame);
  CHECK(r.eth_src == "02:00:00:00:00:0a");
  CHECK(r.eth_dst == "ff:ff:ff:ff:ff:ff");
}

TEST_CASE("every interface of the lab: the broadcast at all six places, counted once", "[lab][capture]") {
  Lab lab = Lab::create();
  add_lan(lab, "sw", {"A", "B", "C"}, "10.0.0", 0x0a);
  const auto places = lab.places();
  REQUIRE(places.size() == 6);  // A, B, C's eth0 and the switch's three ports
  auto cap = value_or_throw(LabCapture::start(places));
  ping(lab, lab.node("A"), lab.node("B"), "10.0.0.2", nullptr);
  for (const auto& p : places) REQUIRE(cap.wait_for(p.interface->place(), is_broadcast, 5s));
  const std::uint64_t captured = cap.captured();
  const auto events = value_or_throw(cap.stop());
  const auto request = std::ranges::find_if(events, [](const FrameEvent& e) { return is_arp(e.frame) && is_broadcast(e.frame); });
  REQUIRE(request != events.end());
  CHECK(request->seen.size() == 6);
  CHECK(request->seen.front().place == "A:eth0");  // the sender's interface sees it first
  std::size_t sightings = 0;
  for (const auto& e : events) sightings += e.seen.size();
  CHECK(sightings >= captured);  // every sighting kept (stop() reads the ones still queued too)
}

TEST_CASE("hub mode floods a unicast frame to every port", "[lab][capture]") {
  Lab lab = Lab::create();
  add_lan(lab, "hub", {"A", "B", "C"}, "10.0.0", 0x0a, true);
  std::vector<Lab::Place> at_c;
  for (const auto& p : lab.places(false)) {
    if (p.node->name() == "C") at_c.push_back(p);
  }
  auto cap = value_or_throw(LabCapture::start(at_c));
  const std::uint16_t port = ping(lab, lab.node("A"), lab.node("B"), "10.0.0.2", nullptr);
  // C is not the datagram's destination; a hub repeats it there anyway.
  CHECK(cap.wait_for("C:eth0", [&](const RawPacket& p) { return is_udp_to(p, port); }, 5s));
  value_or_throw(cap.stop());
}
