// merge_sightings: sightings of one frame at several places become one event, and the
// packet JSON carries the Ethernet addresses (eth_src, eth_dst) of such frames.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "socklab/capture/analyzer.hpp"
#include "socklab/capture/format.hpp"
#include "socklab/capture/merge.hpp"
#include "socklab/capture/record.hpp"

using namespace socklab::capture;

namespace {

// An ARP request "who has 10.0.0.2? tell 10.0.0.1" from 02:00:00:00:00:0a, broadcast.
std::vector<std::uint8_t> arp_request(std::uint8_t target_last = 2) {
  return {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 0x0a, 0x08, 0x06,  // Ethernet
          0x00, 0x01, 0x08, 0x00, 6,    4,    0x00, 0x01,                           // ARP, request
          0x02, 0,    0,    0,    0,    0x0a, 10,   0,    0, 1,                     // sender
          0,    0,    0,    0,    0,    0,    10,   0,    0, target_last};          // target
}

RawPacket at(std::int64_t ts, std::vector<std::uint8_t> bytes) {
  const auto len = static_cast<std::uint32_t>(bytes.size());
  return RawPacket{ts, len, std::move(bytes)};
}

std::vector<std::string> places(const FrameEvent& e) {
  std::vector<std::string> out;
  for (const auto& s : e.seen) out.push_back(s.place);
  return out;
}

}  // namespace

TEST_CASE("a broadcast seen at two places is one event with both places, in time order", "[merge]") {
  std::vector<LabelledCapture> caps{
      {"C:eth0", LinkType::ethernet, {at(1'000'300, arp_request())}},
      {"B:eth0", LinkType::ethernet, {at(1'000'200, arp_request())}},
  };
  const auto events = merge_sightings(std::move(caps));
  REQUIRE(events.size() == 1);
  CHECK(places(events[0]) == std::vector<std::string>{"B:eth0", "C:eth0"});
  CHECK(events[0].frame.ts_ns == 1'000'200);
  CHECK(events[0].seen[1].ts_ns == 1'000'300);
}

TEST_CASE("the same bytes sent again are a second event, joined by their later sightings", "[merge]") {
  // An ARP request repeated: B sees both copies, C sees both, interleaved in time.
  std::vector<LabelledCapture> caps{
      {"B:eth0", LinkType::ethernet, {at(100, arp_request()), at(1'000'100, arp_request())}},
      {"C:eth0", LinkType::ethernet, {at(150, arp_request()), at(1'000'150, arp_request())}},
  };
  const auto events = merge_sightings(std::move(caps));
  REQUIRE(events.size() == 2);
  CHECK(places(events[0]) == std::vector<std::string>{"B:eth0", "C:eth0"});
  CHECK(places(events[1]) == std::vector<std::string>{"B:eth0", "C:eth0"});
  CHECK(events[0].frame.ts_ns == 100);
  CHECK(events[1].frame.ts_ns == 1'000'100);
}

TEST_CASE("different frames stay apart and come out in time order across places", "[merge]") {
  std::vector<LabelledCapture> caps{
      {"A:eth0", LinkType::ethernet, {at(10, arp_request(2)), at(30, arp_request(3))}},
      {"B:eth0", LinkType::ethernet, {at(20, arp_request(4)), at(30, arp_request(5))}},
  };
  const auto events = merge_sightings(std::move(caps));
  REQUIRE(events.size() == 4);
  std::vector<std::uint8_t> targets;
  for (const auto& e : events) {
    CHECK(e.seen.size() == 1);
    targets.push_back(e.frame.bytes.back());
  }
  // Equal times (30) keep the order of the captures: A's before B's.
  CHECK(targets == std::vector<std::uint8_t>{2, 4, 3, 5});
  std::size_t total = 0;
  for (const auto& e : events) total += e.seen.size();
  CHECK(total == 4);  // every packet in exactly one event
}

TEST_CASE("equal bytes on different link types are different frames", "[merge]") {
  std::vector<LabelledCapture> caps{
      {"x", LinkType::ethernet, {at(1, arp_request())}},
      {"y", LinkType::linux_sll, {at(2, arp_request())}},
  };
  CHECK(merge_sightings(std::move(caps)).size() == 2);
}

TEST_CASE("an Ethernet frame's JSON carries eth_src and eth_dst; loopback's (zero MACs) has none", "[merge][json]") {
  const auto frame = arp_request();
  RecordBuilder builder(LinkType::ethernet);
  const PacketRecord r = builder.next(1, frame, static_cast<std::uint32_t>(frame.size()));
  CHECK(r.eth_src == "02:00:00:00:00:0a");
  CHECK(r.eth_dst == "ff:ff:ff:ff:ff:ff");
  const auto j = to_json(r);
  CHECK(j.at("eth_src") == "02:00:00:00:00:0a");
  CHECK(j.at("eth_dst") == "ff:ff:ff:ff:ff:ff");
  // The allocation-free writer gives the same bytes.
  PacketAnalyzer analyzer(LinkType::ethernet);
  TextBuffer out;
  append_json(out, analyzer.next(1, frame, static_cast<std::uint32_t>(frame.size())));
  CHECK(std::string(out.data(), out.size()) == j.dump());

  // A loopback (DLT_NULL) frame: AF_INET, then an IPv4 header.
  const std::vector<std::uint8_t> lo{2, 0, 0, 0, 0x45, 0, 0, 20, 0, 0, 0x40, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1};
  RecordBuilder lo_builder(LinkType::null);
  const PacketRecord l = lo_builder.next(1, lo, static_cast<std::uint32_t>(lo.size()));
  CHECK(l.eth_src.empty());
  CHECK_FALSE(to_json(l).contains("eth_src"));

  // Linux loopback as libpcap delivers it: Ethernet with both addresses zero.
  std::vector<std::uint8_t> lo_eth{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x00};
  lo_eth.resize(lo_eth.size() + lo.size() - 4);
  std::copy(lo.begin() + 4, lo.end(), lo_eth.begin() + 14);
  RecordBuilder lo_eth_builder(LinkType::ethernet);
  const PacketRecord le = lo_eth_builder.next(1, lo_eth, static_cast<std::uint32_t>(lo_eth.size()));
  CHECK(le.eth_src.empty());
  CHECK(le.eth_dst.empty());
  PacketAnalyzer lo_analyzer(LinkType::ethernet);
  TextBuffer lo_out;
  append_json(lo_out, lo_analyzer.next(1, lo_eth, static_cast<std::uint32_t>(lo_eth.size())));
  CHECK(std::string(lo_out.data(), lo_out.size()).find("eth_src") == std::string::npos);
}
