// The decoder on real frames (bytes kept here), every field checked, and on
// malformed and cut frames: decoded as far as they go, never read out of bounds.
#include <catch2/catch.hpp>

#include <array>
#include <random>
#include <string>
#include <utility>

#include <fmt/format.h>

#include "frames.hpp"
#include "socklab/capture/analyzer.hpp"
#include "socklab/capture/format.hpp"
#include "socklab/capture/packet.hpp"
#include "socklab/capture/record.hpp"
#include "socklab/capture/timeline.hpp"

using namespace socklab::capture;

namespace {

DecodedPacket dec(LinkType link, const std::vector<std::uint8_t>& b, std::uint32_t wire = 0) {
  return decode(link, b, wire == 0 ? static_cast<std::uint32_t>(b.size()) : wire, 1234);
}

std::string addr(const IpAddress& a) {
  char buf[64];
  return {buf, format_address(a, buf)};
}

void check_syn_ip_tcp(const DecodedPacket& d) {
  CHECK_FALSE(d.malformed);
  CHECK(d.reached == Layer::transport);
  CHECK(d.ip.version == 4);
  CHECK(d.ip.header_len == 20);
  CHECK(d.ip.total_len == 60);
  CHECK(d.ip.id == 0xf7ef);
  CHECK(d.ip.dont_fragment);
  CHECK_FALSE(d.ip.more_fragments);
  CHECK(d.ip.fragment_offset == 0);
  CHECK(d.ip.ttl == 64);
  CHECK(d.ip.protocol == 6);
  CHECK(d.ip.checksum == 0x44ca);
  CHECK(addr(d.ip.src) == "127.0.0.1");
  CHECK(addr(d.ip.dst) == "127.0.0.1");
  CHECK(d.proto == Proto::tcp);
  CHECK(d.sport == 52566);
  CHECK(d.dport == 40931);
  CHECK(d.tcp.seq == 4256761831u);
  CHECK(d.tcp.ack == 0);
  CHECK(d.tcp.header_len == 40);
  CHECK(d.tcp.flags == tcp_flags::syn);
  CHECK(d.tcp.window == 65495);
  CHECK(d.tcp.checksum == 0xfe30);
  CHECK(d.tcp.urgent == 0);
  CHECK(d.tcp.options.size() == 20);
  CHECK(d.tcp.mss == 65495);
  CHECK(d.tcp.sack_permitted);
  CHECK(d.tcp.has_timestamp);
  CHECK(d.tcp.ts_val == 3692239500u);
  CHECK(d.tcp.ts_ecr == 0);
  CHECK(d.tcp.wscale == 10);
  CHECK(d.tcp.sack_blocks == 0);
  CHECK(d.payload_len == 0);
  CHECK(d.payload.empty());
  CHECK_FALSE(d.truncated);
}

}  // namespace

TEST_CASE("an Ethernet IPv4 TCP SYN decodes every field", "[decode]") {
  const auto d = dec(LinkType::ethernet, frames::bytes(frames::syn));
  CHECK(d.ts_ns == 1234);
  CHECK(d.wire_len == 74);
  CHECK(d.cap_len == 74);
  CHECK(d.link.type == LinkType::ethernet);
  CHECK(d.link.length == 14);
  CHECK(d.link.protocol == 0x0800);
  CHECK(d.link.src_mac == std::array<std::uint8_t, 6>{});
  CHECK(d.link.dst_mac == std::array<std::uint8_t, 6>{});
  CHECK(d.link.vlan_tags == 0);
  check_syn_ip_tcp(d);
}

TEST_CASE("the same IPv4 packet behind every supported link type", "[decode]") {
  SECTION("Linux cooked capture v1 (SLL)") {
    const auto b = frames::relink(frames::syn, {0x00, 0x04, 0x03, 0x04, 0x00, 0x06, 0x02, 0x11, 0x22, 0x33, 0x44,
                                                0x55, 0x00, 0x00, 0x08, 0x00});
    const auto d = dec(LinkType::linux_sll, b);
    CHECK(d.link.length == 16);
    CHECK(d.link.sll_packet_type == 4);
    CHECK(d.link.sll_hatype == 772);
    CHECK(d.link.sll_addr_len == 6);
    CHECK(d.link.sll_addr[0] == 0x02);
    CHECK(d.link.sll_addr[5] == 0x55);
    CHECK(d.link.protocol == 0x0800);
    check_syn_ip_tcp(d);
  }
  SECTION("Linux cooked capture v2 (SLL2)") {
    const auto b = frames::relink(frames::syn, {0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x03, 0x04,
                                                0x00, 0x06, 0x02, 0x11, 0x22, 0x33, 0x44, 0x55, 0x00, 0x00});
    const auto d = dec(LinkType::linux_sll2, b);
    CHECK(d.link.length == 20);
    CHECK(d.link.protocol == 0x0800);
    CHECK(d.link.sll2_ifindex == 7);
    CHECK(d.link.sll_hatype == 772);
    CHECK(d.link.sll_packet_type == 0);
    CHECK(d.link.sll_addr_len == 6);
    check_syn_ip_tcp(d);
  }
  SECTION("raw IP (LINKTYPE_RAW and DLT_RAW)") {
    const auto b = frames::relink(frames::syn, {});
    check_syn_ip_tcp(dec(LinkType::raw, b));
    check_syn_ip_tcp(dec(LinkType::ipv4, b));
    LinkType l{};
    REQUIRE(link_type_from_pcap(12, l));
    CHECK(l == LinkType::raw);
    REQUIRE(link_type_from_pcap(14, l));
    CHECK(l == LinkType::raw);
    REQUIRE(link_type_from_pcap(101, l));
    CHECK(l == LinkType::raw);
    CHECK_FALSE(link_type_from_pcap(147, l));
  }
  SECTION("BSD loopback (NULL) in this host's byte order and in the other one") {
    const auto le = dec(LinkType::null, frames::relink(frames::syn, {0x02, 0x00, 0x00, 0x00}));
    CHECK(le.link.family == 2);
    CHECK(le.link.length == 4);
    check_syn_ip_tcp(le);
    const auto be = dec(LinkType::null, frames::relink(frames::syn, {0x00, 0x00, 0x00, 0x02}));
    CHECK(be.link.family == 2);
    check_syn_ip_tcp(be);
  }
  SECTION("OpenBSD loopback (LOOP): network byte order") {
    const auto d = dec(LinkType::loop, frames::relink(frames::syn, {0x00, 0x00, 0x00, 0x02}));
    CHECK(d.link.family == 2);
    check_syn_ip_tcp(d);
  }
  SECTION("Ethernet with an 802.1Q tag") {
    auto b = frames::bytes(frames::syn);
    const std::uint8_t tag[] = {0x81, 0x00, 0x00, 0x2a};
    b.insert(b.begin() + 12, tag, tag + 4);
    const auto d = dec(LinkType::ethernet, b);
    CHECK(d.link.vlan_tags == 1);
    CHECK(d.link.vlan_id == 42);
    CHECK(d.link.length == 18);
    check_syn_ip_tcp(d);
  }
}

TEST_CASE("IPv6 TCP with data, behind Ethernet and BSD loopback (AF_INET6 of several systems)", "[decode]") {
  auto check = [](const DecodedPacket& d) {
    CHECK_FALSE(d.malformed);
    CHECK(d.ip.version == 6);
    CHECK(d.ip.header_len == 40);
    CHECK(d.ip.total_len == 80);
    CHECK(d.ip.ttl == 64);
    CHECK(d.ip.tos == 0);
    CHECK(d.ip.flow_label == 0xbd81a);
    CHECK(d.ip.protocol == 6);
    CHECK(addr(d.ip.src) == "::1");
    CHECK(d.sport == 46228);
    CHECK(d.dport == 38913);
    CHECK(d.tcp.seq == 0x6ae56e64u);
    CHECK(d.tcp.ack == 0xae326c50u);
    CHECK(d.tcp.flags == (tcp_flags::psh | tcp_flags::ack));
    CHECK(d.tcp.window == 64);
    CHECK(d.tcp.header_len == 32);
    CHECK(d.tcp.has_timestamp);
    CHECK(d.tcp.ts_val == 0x30621666u);
    CHECK(d.payload_len == 8);
    CHECK(std::string(d.payload.begin(), d.payload.end()) == "GET /six");
  };
  check(dec(LinkType::ethernet, frames::bytes(frames::v6_data)));
  for (const std::uint8_t family : {std::uint8_t{10}, std::uint8_t{24}, std::uint8_t{28}, std::uint8_t{30}}) {
    check(dec(LinkType::null, frames::relink(frames::v6_data, {family, 0, 0, 0})));
  }
  check(dec(LinkType::ipv6, frames::relink(frames::v6_data, {})));
}

TEST_CASE("IPv6 extension headers are skipped to the transport header", "[decode]") {
  // Hop-by-hop (8 bytes) then destination options (16 bytes) before TCP.
  auto b = frames::bytes(frames::v6_data);
  b[20] = 0;  // next header: hop-by-hop
  const std::uint8_t hbh[] = {60, 0, 1, 4, 0, 0, 0, 0};
  const std::uint8_t dst[] = {6, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  b.insert(b.begin() + 54, dst, dst + sizeof dst);
  b.insert(b.begin() + 54, hbh, hbh + sizeof hbh);
  b[19] = static_cast<std::uint8_t>(b[19] + 24);  // payload length 40 + 24
  const auto d = dec(LinkType::ethernet, b);
  CHECK_FALSE(d.malformed);
  CHECK(d.ip.extension_headers == 2);
  CHECK(d.ip.header_len == 64);
  CHECK(d.ip.protocol == 6);
  CHECK(d.sport == 46228);
  CHECK(d.payload_len == 8);

  SECTION("an extension header longer than the packet is malformed") {
    b[55] = 200;  // hop-by-hop length: 1608 bytes
    const auto m = dec(LinkType::ethernet, b);
    CHECK(m.malformed);
    CHECK(m.malformed_reason() == "IPv6 extension header 0 (length 1608) runs past the packet");
    CHECK(m.reached == Layer::network);
  }
}

TEST_CASE("IP fragments: the first carries the UDP header, the later ones stop at IP", "[decode][fragment]") {
  SECTION("IPv4") {
    const auto first = dec(LinkType::ethernet, frames::bytes(frames::v4_first_fragment));
    CHECK_FALSE(first.malformed);  // a UDP length beyond this fragment is expected: the rest follows
    CHECK(first.reached == Layer::transport);
    CHECK(first.ip.fragmented());
    CHECK(first.ip.more_fragments);
    CHECK(first.ip.fragment_offset == 0);
    CHECK(first.ip.fragment_id == 17631);
    CHECK(first.ip.fragment_len == 16);
    CHECK_FALSE(first.ip.fragment_header);
    CHECK(first.proto == Proto::udp);
    CHECK(first.sport == 49983);
    CHECK(first.dport == 51145);
    CHECK(first.udp.length == 40);
    CHECK(first.payload_len == 32);  // the datagram's, as tcpdump and tshark report it
    CHECK(first.payload.size() == 8);
    CHECK_FALSE(first.truncated);    // nothing was cut: the rest is in the next fragment

    const auto last = dec(LinkType::ethernet, frames::bytes(frames::v4_last_fragment));
    CHECK_FALSE(last.malformed);
    CHECK(last.reached == Layer::network);
    CHECK(last.proto == Proto::other);
    CHECK(last.ip.protocol == 17);
    CHECK_FALSE(last.ip.more_fragments);
    CHECK(last.ip.fragment_offset == 16);
    CHECK(last.ip.fragment_id == 17631);
    CHECK(last.ip.fragment_len == 24);
    CHECK(last.sport == 0);
    CHECK(last.payload_len == 0);
    CHECK(last.payload.empty());
  }
  SECTION("IPv6: a fragment header before UDP") {
    const auto first = dec(LinkType::ethernet, frames::bytes(frames::v6_first_fragment));
    CHECK_FALSE(first.malformed);
    CHECK(first.ip.fragment_header);
    CHECK(first.ip.more_fragments);
    CHECK(first.ip.fragment_offset == 0);
    CHECK(first.ip.fragment_id == 0xf668ab2du);  // all 32 bits
    CHECK(first.ip.fragment_len == 16);
    CHECK(first.ip.extension_headers == 1);
    CHECK(first.ip.extension_kinds[0] == 44);
    CHECK(first.ip.header_len == 48);
    CHECK(first.ip.protocol == 17);
    CHECK(first.proto == Proto::udp);
    CHECK(first.sport == 46232);
    CHECK(first.dport == 54544);
    CHECK(first.payload_len == 32);
    CHECK(first.payload.size() == 8);
    CHECK_FALSE(first.truncated);

    const auto last = dec(LinkType::ethernet, frames::bytes(frames::v6_last_fragment));
    CHECK_FALSE(last.malformed);
    CHECK(last.reached == Layer::network);
    CHECK(last.proto == Proto::other);
    CHECK(last.ip.protocol == 17);  // the fragment header's next header
    CHECK(last.ip.fragment_offset == 16);
    CHECK_FALSE(last.ip.more_fragments);
    CHECK(last.ip.fragment_len == 24);
    CHECK(last.payload.empty());
  }
  SECTION("an IPv6 atomic fragment (offset 0, no M flag) is a whole datagram") {
    auto b = frames::bytes(frames::v6_first_fragment);
    b[57] = 0x00;  // M off
    b[66] = 0x00;  // UDP length 16: this fragment is all of it
    b[67] = 0x10;
    const auto d = dec(LinkType::ethernet, b);
    CHECK_FALSE(d.malformed);
    CHECK(d.ip.fragmented());
    CHECK_FALSE(d.ip.more_fragments);
    CHECK(d.payload_len == 8);
  }
  SECTION("a first fragment cut by the snapshot length inside its payload is truncated, not malformed") {
    const auto full = frames::bytes(frames::v6_first_fragment);
    const std::vector<std::uint8_t> cut(full.begin(), full.begin() + 74);  // 4 bytes of payload
    const auto d = decode(LinkType::ethernet, cut, static_cast<std::uint32_t>(full.size()), 0);
    CHECK_FALSE(d.malformed);
    CHECK(d.truncated);
    CHECK(d.payload.size() == 4);
    CHECK(d.payload_len == 32);
  }
  SECTION("a datagram that is no fragment still may not claim more than its packet") {
    auto b = frames::bytes(frames::v4_first_fragment);
    b[20] = 0x00;  // MF off: a whole datagram of 16 bytes saying 40
    const auto d = dec(LinkType::ethernet, b);
    CHECK(d.malformed);
    CHECK(d.malformed_reason() == "UDP length 40 exceeds the IP payload (16 bytes)");
  }
}

TEST_CASE("ICMP port unreachable: the quoted datagram's addresses, protocol and ports", "[decode]") {
  const auto d = dec(LinkType::ethernet, frames::bytes(frames::icmp_unreachable));
  CHECK_FALSE(d.malformed);
  CHECK(d.proto == Proto::icmp);
  CHECK(d.ip.tos == 0xc0);
  CHECK(d.ip.total_len == 69);
  CHECK(d.icmp.type == 3);
  CHECK(d.icmp.code == 3);
  CHECK(d.icmp.checksum == 0xe477);
  CHECK(d.icmp.rest == 0);
  CHECK(d.payload_len == 41);
  REQUIRE(d.icmp.has_quote);
  CHECK(addr(d.icmp.quoted_src) == "127.0.0.1");
  CHECK(addr(d.icmp.quoted_dst) == "127.0.0.1");
  CHECK(d.icmp.quoted_protocol == 17);
  CHECK(d.icmp.quoted_id == 0xa34a);
  REQUIRE(d.icmp.quoted_ports);
  CHECK(d.icmp.quoted_sport == 57015);
  CHECK(d.icmp.quoted_dport == 47116);
  CHECK(d.icmp.quoted_udp_length == 21);
}

TEST_CASE("ICMPv6 port unreachable quotes the IPv6 datagram", "[decode]") {
  const auto d = dec(LinkType::ethernet, frames::bytes(frames::icmp6_unreachable));
  CHECK_FALSE(d.malformed);
  CHECK(d.proto == Proto::icmp6);
  CHECK(d.ip.protocol == 58);
  CHECK(d.icmp.type == 1);
  CHECK(d.icmp.code == 4);
  CHECK(d.payload_len == 57);
  REQUIRE(d.icmp.has_quote);
  CHECK(d.icmp.quoted_src.version == 6);
  CHECK(addr(d.icmp.quoted_dst) == "::1");
  CHECK(d.icmp.quoted_protocol == 17);
  CHECK(d.icmp.quoted_sport == 55699);
  CHECK(d.icmp.quoted_dport == 52271);
  CHECK(d.icmp.quoted_udp_length == 17);
}

TEST_CASE("malformed headers are decoded as far as they go, with a reason", "[decode][malformed]") {
  auto b = frames::bytes(frames::syn);
  SECTION("IPv4 header length under 20") {
    b[14] = 0x44;
    const auto d = dec(LinkType::ethernet, b);
    CHECK(d.malformed);
    CHECK(d.malformed_reason() == "IPv4 header length 16 (< 20)");
    CHECK(d.reached == Layer::network);
    CHECK(addr(d.ip.src) == "127.0.0.1");
  }
  SECTION("TCP data offset under 5") {
    b[46] = 0x40;
    const auto d = dec(LinkType::ethernet, b);
    CHECK(d.malformed);
    CHECK(d.malformed_reason() == "TCP data offset 4 (< 5)");
    CHECK(d.sport == 52566);
    CHECK(d.tcp.seq == 4256761831u);
  }
  SECTION("a TCP option running past the header") {
    b[72] = 5;  // wscale says 5 bytes, 3 are left
    const auto d = dec(LinkType::ethernet, b);
    CHECK(d.malformed);
    CHECK(d.malformed_reason() == "TCP option 3 (length 5) runs past the header");
    CHECK(d.tcp.mss == 65495);  // the options before it are kept
    CHECK(d.tcp.wscale == -1);
  }
  SECTION("a TCP option with length under 2") {
    b[55] = 1;  // mss option length 1
    const auto d = dec(LinkType::ethernet, b);
    CHECK(d.malformed);
    CHECK(d.malformed_reason() == "TCP option 2 has length 1 (< 2)");
  }
  SECTION("TCP header length beyond the segment") {
    b[46] = 0xf0;  // 60 bytes of header, 40 in the segment
    const auto d = dec(LinkType::ethernet, b);
    CHECK(d.malformed);
    CHECK(d.malformed_reason() == "TCP header length 60 exceeds the segment (40 bytes)");
  }
  SECTION("IPv4 total length beyond the frame") {
    b[16] = 0x00;
    b[17] = 200;
    const auto d = dec(LinkType::ethernet, b);
    CHECK(d.malformed);
    CHECK(d.malformed_reason() == "IPv4 total length 200 exceeds the frame (60 bytes)");
    CHECK(d.proto == Proto::tcp);
    CHECK(d.tcp.mss == 65495);
  }
  SECTION("IPv4 total length 0 (TSO) is taken from the frame, as Wireshark does") {
    b[16] = 0;
    b[17] = 0;
    const auto d = dec(LinkType::ethernet, b);
    CHECK_FALSE(d.malformed);
    CHECK(d.ip.length_from_frame);
    CHECK(d.ip.total_len == 60);
    CHECK(d.tcp.wscale == 10);
  }
  SECTION("UDP length under 8") {
    auto u = frames::bytes(frames::icmp_unreachable);
    // Make the frame a plain UDP datagram: reuse the quoted one (IP at 42).
    std::vector<std::uint8_t> udp(u.begin(), u.begin() + 14);
    udp.insert(udp.end(), u.begin() + 42, u.end());
    udp[14 + 20 + 4] = 0;
    udp[14 + 20 + 5] = 4;
    const auto d = dec(LinkType::ethernet, udp);
    CHECK(d.malformed);
    CHECK(d.malformed_reason() == "UDP length 4 (< 8)");
    CHECK(d.sport == 57015);
  }
  SECTION("an empty frame and an unknown link type") {
    CHECK(dec(LinkType::ethernet, {}).malformed_reason() == "Ethernet header cut: 0 of 14 bytes");
    CHECK(dec(LinkType::raw, {}).malformed_reason() == "empty frame");
    const auto d = decode(static_cast<LinkType>(9999), b, 74);
    CHECK(d.malformed_reason() == "unsupported link type 9999");
  }
}

TEST_CASE("frames cut by the snapshot length", "[decode][malformed]") {
  const auto full = frames::bytes(frames::syn);
  SECTION("inside the TCP header: malformed, ports kept") {
    const std::vector<std::uint8_t> cut(full.begin(), full.begin() + 40);
    const auto d = decode(LinkType::ethernet, cut, 74, 0);
    CHECK(d.malformed);
    CHECK(d.malformed_reason() == "TCP header cut: 6 of 20 bytes");
    CHECK(d.sport == 52566);
    CHECK(d.dport == 40931);
    CHECK(d.reached == Layer::network);
  }
  SECTION("inside the TCP options: malformed, the options before the cut kept") {
    const std::vector<std::uint8_t> cut(full.begin(), full.begin() + 64);
    const auto d = decode(LinkType::ethernet, cut, 74, 0);
    CHECK(d.malformed);
    CHECK(d.malformed_reason() == "TCP options cut by the snapshot length");
    CHECK(d.tcp.mss == 65495);
    CHECK(d.reached == Layer::transport);
  }
  SECTION("inside the payload: headers whole, not malformed, truncated") {
    const auto v6 = frames::bytes(frames::v6_data);
    const std::vector<std::uint8_t> cut(v6.begin(), v6.begin() + 90);
    const auto d = decode(LinkType::ethernet, cut, 94, 0);
    CHECK_FALSE(d.malformed);
    CHECK(d.truncated);
    CHECK(d.payload_len == 8);
    CHECK(d.payload.size() == 4);
    CHECK(d.wire_len == 94);
    CHECK(d.cap_len == 90);
  }
}

std::string mac(const std::array<std::uint8_t, 6>& m) {
  return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5]);
}

// The line and JSON object of one frame, alone in its capture.
PacketRecord record_of(LinkType link, const std::vector<std::uint8_t>& b, std::uint32_t wire = 0) {
  PacketAnalyzer an(link);
  return make_record(an.next(1, b, wire == 0 ? static_cast<std::uint32_t>(b.size()) : wire));
}

TEST_CASE("ARP: the decoder reads the header, the renderers only print it", "[decode][arp]") {
  SECTION("a request, every field") {
    const auto d = dec(LinkType::ethernet, frames::bytes(frames::arp_request));
    CHECK_FALSE(d.malformed);
    CHECK(d.reached == Layer::link);  // no IP: src/dst stay empty
    CHECK(d.link.protocol == 0x0806);
    CHECK(d.arp.present);
    CHECK(d.arp.hardware_type == 1);
    CHECK(d.arp.protocol_type == 0x0800);
    CHECK(d.arp.hardware_len == 6);
    CHECK(d.arp.protocol_len == 4);
    CHECK(d.arp.op == arp_op::request);
    CHECK(d.arp.length == 28);
    REQUIRE(d.arp.ethernet_ipv4);
    CHECK(mac(d.arp.sender_mac) == "16:51:53:04:3f:55");
    CHECK(addr(d.arp.sender_ip) == "10.2.1.1");
    CHECK(mac(d.arp.target_mac) == "00:00:00:00:00:00");
    CHECK(addr(d.arp.target_ip) == "10.2.1.2");
    const auto r = record_of(LinkType::ethernet, frames::bytes(frames::arp_request));
    CHECK(r.line == "ARP, Request who-has 10.2.1.2 tell 10.2.1.1, length 28");
    CHECK(r.src.empty());
    CHECK(r.proto == Proto::other);
    CHECK(r.eth_src == "16:51:53:04:3f:55");
    CHECK(r.eth_dst == "ff:ff:ff:ff:ff:ff");
    CHECK(segment_label(r) == "ARP who-has 10.2.1.2 tell 10.2.1.1");  // the ladder's arrow, in tcpdump's words
  }
  SECTION("a reply") {
    const auto d = dec(LinkType::ethernet, frames::bytes(frames::arp_reply));
    CHECK(d.arp.op == arp_op::reply);
    REQUIRE(d.arp.ethernet_ipv4);
    CHECK(mac(d.arp.sender_mac) == "d6:06:3c:4a:35:7a");
    CHECK(addr(d.arp.sender_ip) == "10.2.1.2");
    CHECK(mac(d.arp.target_mac) == "16:51:53:04:3f:55");
    CHECK(addr(d.arp.target_ip) == "10.2.1.1");
    CHECK(record_of(LinkType::ethernet, frames::bytes(frames::arp_reply)).line ==
          "ARP, Reply 10.2.1.2 is-at d6:06:3c:4a:35:7a, length 28");
    CHECK(segment_label(record_of(LinkType::ethernet, frames::bytes(frames::arp_reply))) ==
          "ARP 10.2.1.2 is-at d6:06:3c:4a:35:7a");
  }
  SECTION("behind Linux cooked v1 and v2 headers, the same header") {
    const auto sll = frames::relink(frames::arp_reply, {0, 0, 0, 1, 0, 6, 0xd6, 0x06, 0x3c, 0x4a, 0x35, 0x7a, 0, 0,
                                                        0x08, 0x06});
    const auto sll2 = frames::relink(frames::arp_reply, {0x08, 0x06, 0, 0, 0, 0, 0, 3, 0, 1, 0, 6, 0xd6, 0x06, 0x3c,
                                                         0x4a, 0x35, 0x7a, 0, 0});
    for (const auto& [link, f] : {std::pair{LinkType::linux_sll, sll}, std::pair{LinkType::linux_sll2, sll2}}) {
      const auto d = dec(link, f);
      CHECK(d.arp.ethernet_ipv4);
      CHECK(d.arp.op == arp_op::reply);
      CHECK(addr(d.arp.sender_ip) == "10.2.1.2");
      CHECK(record_of(link, f).line == "ARP, Reply 10.2.1.2 is-at d6:06:3c:4a:35:7a, length 28");
    }
  }
  SECTION("cut by the snapshot length: read as far as it goes, then printed by its size") {
    const auto full = frames::bytes(frames::arp_request);
    for (std::size_t n = 14; n < full.size(); ++n) {
      const std::vector<std::uint8_t> cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
      const auto d = decode(LinkType::ethernet, cut, 42, 0);
      INFO(n << " bytes captured");
      CHECK(d.arp.present == (n >= 14 + 8));
      CHECK_FALSE(d.arp.ethernet_ipv4);  // the addresses are not all there
      CHECK(d.arp.sender_ip.version == 0);
      if (d.arp.present) CHECK(d.arp.op == arp_op::request);
      CHECK(record_of(LinkType::ethernet, cut, 42).line == "ARP, length 28");
    }
  }
  SECTION("other hardware or protocol types: the fixed part only") {
    auto ieee802 = frames::bytes(frames::arp_request);
    ieee802[15] = 6;  // hardware type 6 (IEEE 802)
    auto v6_lengths = frames::bytes(frames::arp_request);
    v6_lengths[19] = 16;  // a protocol address of 16 bytes, declared past the frame
    for (const auto& f : {ieee802, v6_lengths}) {
      const auto d = dec(LinkType::ethernet, f);
      CHECK(d.arp.present);
      CHECK_FALSE(d.arp.ethernet_ipv4);
      CHECK_FALSE(d.malformed);
      CHECK(record_of(LinkType::ethernet, f).line == "ARP, length 28");
    }
    CHECK(dec(LinkType::ethernet, v6_lengths).arp.length == 8 + 2 * (6 + 16));
  }
  SECTION("an ARP header claiming the largest addresses is not read past the frame") {
    auto huge = frames::bytes(frames::arp_request);
    huge[18] = 255;
    huge[19] = 255;
    const auto d = dec(LinkType::ethernet, huge);
    CHECK(d.arp.length == 8 + 2 * (255 + 255));
    CHECK_FALSE(d.arp.ethernet_ipv4);
  }
}

TEST_CASE("every prefix and many mutations of real frames decode within bounds", "[decode][robust]") {
  const std::vector<std::vector<std::uint8_t>> seeds = {
      frames::bytes(frames::syn),          frames::bytes(frames::icmp_unreachable),
      frames::bytes(frames::icmp6_unreachable), frames::bytes(frames::v6_data),
      frames::bytes(frames::v4_first_fragment), frames::bytes(frames::v4_last_fragment),
      frames::bytes(frames::v6_first_fragment), frames::bytes(frames::v6_last_fragment),
      frames::bytes(frames::arp_request),       frames::bytes(frames::arp_reply)};
  const LinkType links[] = {LinkType::ethernet, LinkType::linux_sll, LinkType::linux_sll2, LinkType::null,
                            LinkType::loop, LinkType::raw};
  // Whatever the bytes, what the decoder reports stays inside them.
  auto check_bounds = [](const DecodedPacket& d, const std::vector<std::uint8_t>& b) {
    const auto inside = [&](std::span<const std::uint8_t> s) {
      return s.empty() || (s.data() >= b.data() && s.data() + s.size() <= b.data() + b.size());
    };
    REQUIRE(inside(d.payload));
    REQUIRE(inside(d.tcp.options));
    REQUIRE(inside(d.network));
    REQUIRE(d.payload.size() <= d.payload_len);
    REQUIRE(d.malformed_reason().size() <= 120);
    REQUIRE(d.malformed == !d.malformed_reason().empty());
  };
  AnalyzedPacket a;
  TextBuffer out;
  for (const auto& s : seeds) {
    for (std::size_t n = 0; n <= s.size(); ++n) {
      const std::vector<std::uint8_t> cut(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(n));
      for (const LinkType l : links) {
        a.pkt = decode(l, cut, static_cast<std::uint32_t>(s.size()), 0);
        check_bounds(a.pkt, cut);
        out.clear();
        append_tcpdump_line(out, a);
        append_json(out, a);
        append_layers(out, a);
      }
    }
  }
  std::mt19937 rng(20240601);  // fixed seed: the same mutations every run
  for (int i = 0; i < 20000; ++i) {
    auto b = seeds[static_cast<std::size_t>(i) % seeds.size()];
    const int flips = 1 + static_cast<int>(rng() % 6);
    for (int f = 0; f < flips; ++f) b[rng() % b.size()] = static_cast<std::uint8_t>(rng());
    b.resize(rng() % (b.size() + 1));
    const LinkType l = links[rng() % std::size(links)];
    a.pkt = decode(l, b, static_cast<std::uint32_t>(b.size() + rng() % 64), 0);
    check_bounds(a.pkt, b);
    out.clear();
    append_tcpdump_line(out, a);
    append_json(out, a);
    append_layers(out, a);
  }
}

TEST_CASE("an ICMP error quoting too little: the quote is cut, malformed only when the sender cut it",
          "[decode][icmp][malformed]") {
  const auto line = [](const std::vector<std::uint8_t>& b, std::uint32_t wire) {
    PacketAnalyzer an(LinkType::ethernet);
    return make_record(an.next(1, b, wire)).line;
  };
  SECTION("IPv4: 22 bytes quoted (the IP header and 2 of UDP), as sent") {
    auto b = frames::bytes(frames::icmp_unreachable);
    b.resize(14 + 20 + 8 + 22);
    b[16] = 0;
    b[17] = 20 + 8 + 22;  // the IP total length says so too
    const auto d = dec(LinkType::ethernet, b);
    CHECK(d.icmp.has_quote);
    CHECK(d.icmp.quote_cut);
    CHECK(d.icmp.quote_len == 22);
    CHECK_FALSE(d.icmp.quoted_ports);
    CHECK(d.malformed);
    CHECK(d.malformed_reason() == "ICMP error quotes 2 bytes of the datagram after its IP header (8 expected)");
    CHECK(line(b, static_cast<std::uint32_t>(b.size())) == "IP 127.0.0.1 > 127.0.0.1: ICMP [|icmp]");
  }
  SECTION("IPv4: the same bytes cut by the snapshot length: not malformed, still no port") {
    auto b = frames::bytes(frames::icmp_unreachable);
    const auto wire = static_cast<std::uint32_t>(b.size());
    b.resize(14 + 20 + 8 + 22);
    const auto d = dec(LinkType::ethernet, b, wire);
    CHECK(d.icmp.quote_cut);
    CHECK(d.truncated);
    CHECK_FALSE(d.malformed);
    CHECK(line(b, wire) == "IP 127.0.0.1 > 127.0.0.1: ICMP [|icmp]");
  }
  SECTION("IPv4: a whole quote is not cut") {
    const auto d = dec(LinkType::ethernet, frames::bytes(frames::icmp_unreachable));
    CHECK_FALSE(d.icmp.quote_cut);
    CHECK(d.icmp.quoted_dport == 47116);
  }
  SECTION("ICMPv6: 42 bytes quoted (the IPv6 header and 2 of UDP)") {
    auto b = frames::bytes(frames::icmp6_unreachable);
    b.resize(14 + 40 + 8 + 42);
    b[18] = 0;
    b[19] = 8 + 42;  // the payload length says so too
    const auto d = dec(LinkType::ethernet, b);
    CHECK(d.icmp.quote_cut);
    CHECK_FALSE(d.icmp.quoted_ports);
    CHECK(d.malformed);
    CHECK(line(b, static_cast<std::uint32_t>(b.size())) == "IP6 ::1 > ::1: ICMP6, [|icmp6]");
  }
}
