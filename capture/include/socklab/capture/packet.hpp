// The decoder: one captured frame's bytes in, every header it carries out.
//
// decode() never allocates and never reads outside the span it is given, so it
// is the entry point for fuzzing. A frame that is cut by the snapshot length or
// malformed (bad IHL, TCP data offset under 5, an option running past the
// header, an IP length beyond the frame...) is decoded as far as it goes and
// marked malformed with a reason. A frame whose payload alone was cut by the
// snapshot length is not malformed: its headers are whole, `payload` is shorter
// than `payload_len`, and `truncated` says so.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

#include "socklab/capture/raw_packet.hpp"

namespace socklab::capture {

// The transport protocol a packet carries (what the JSON contract's "proto" names).
enum class Proto : std::uint8_t { other, tcp, udp, icmp, icmp6 };
std::string_view to_string(Proto p) noexcept;  // "tcp", "udp", "icmp", "icmp6", "other"

// The role of a segment in its connection's life.
enum class Phase : std::uint8_t {
  none,
  handshake_syn,       // "handshake 1/3"
  handshake_synack,    // "handshake 2/3"
  handshake_ack,       // "handshake 3/3"
  syn_retransmission,  // "syn retransmission": a SYN (or SYN-ACK) sent again
  data,                // "data"
  ack,                 // "ack": no payload, no SYN/FIN/RST
  teardown_fin1,       // "teardown 1/4": the first FIN
  teardown_ack1,       // "teardown 2/4": the ACK of the first FIN, alone
  teardown_fin2,       // "teardown 3/4": the second FIN, sent on its own
  teardown_fin2_ack1,  // "teardown 2+3/4": the second FIN carries the ACK of the first (three-segment form)
  teardown_ack2,       // "teardown 4/4": the ACK of the second FIN
  reset,               // "reset"
  refused,             // "refused": an RST answering a SYN
  datagram,            // "datagram" (UDP)
  unreachable,         // "unreachable" (ICMP/ICMPv6 destination unreachable)
  fragment,            // "fragment": a piece of an IP datagram after its first (no transport header)
};
std::string_view to_string(Phase p) noexcept;  // "" for Phase::none

// Wireshark's tcp.analysis.* flags, as bits; names as the JSON contract spells them.
enum Analysis : std::uint32_t {
  retransmission = 1u << 0,
  fast_retransmission = 1u << 1,
  spurious_retransmission = 1u << 2,
  out_of_order = 1u << 3,
  lost_segment = 1u << 4,
  ack_lost_segment = 1u << 5,
  dup_ack = 1u << 6,
  zero_window = 1u << 7,
  zero_window_probe = 1u << 8,
  zero_window_probe_ack = 1u << 9,
  window_full = 1u << 10,
  window_update = 1u << 11,
  keep_alive = 1u << 12,
  keep_alive_ack = 1u << 13,
};
// The name of one Analysis bit ("retransmission", "dup_ack"); "" for anything else.
std::string_view analysis_name(std::uint32_t bit) noexcept;

// An IPv4 or IPv6 address as it was on the wire (IPv4: the first 4 bytes).
struct IpAddress {
  std::uint8_t version = 0;  // 4, 6, or 0 when there is none
  std::array<std::uint8_t, 16> bytes{};
  friend bool operator==(const IpAddress&, const IpAddress&) = default;
};

// TCP header flag bits (byte 13; `ae` is the bit tcpdump calls NS, in byte 12).
namespace tcp_flags {
inline constexpr std::uint16_t fin = 0x01, syn = 0x02, rst = 0x04, psh = 0x08, ack = 0x10,
                               urg = 0x20, ece = 0x40, cwr = 0x80, ae = 0x100;
}

// The link-layer header: which fields are meaningful depends on `type`.
struct LinkHeader {
  LinkType type = LinkType::ethernet;
  std::uint32_t length = 0;        // header bytes before the network layer (incl. VLAN/PPPoE)
  std::uint16_t protocol = 0;      // EtherType (Ethernet, SLL, SLL2, after VLAN/PPPoE)
  std::uint32_t family = 0;        // NULL/LOOP: the address family as read
  // Ethernet
  std::array<std::uint8_t, 6> dst_mac{};
  std::array<std::uint8_t, 6> src_mac{};
  std::uint8_t vlan_tags = 0;      // 802.1Q/802.1ad tags skipped
  std::uint16_t vlan_id = 0;       // the outermost tag's VLAN id
  bool pppoe = false;              // carried in a PPPoE session
  std::uint16_t pppoe_session = 0;
  // Linux cooked capture (SLL, SLL2)
  std::uint16_t sll_packet_type = 0;  // 0 to us, 1 broadcast, 2 multicast, 3 to others, 4 outgoing
  std::uint16_t sll_hatype = 0;       // ARPHRD_ type: 1 Ethernet, 772 loopback
  std::uint8_t sll_addr_len = 0;
  std::array<std::uint8_t, 8> sll_addr{};
  std::uint32_t sll2_ifindex = 0;
};

// ARP (EtherType 0x0806, RFC 826): the fixed part, then the sender's and the target's
// hardware and protocol addresses, whose sizes the fixed part gives.
namespace arp_op {
inline constexpr std::uint16_t request = 1, reply = 2;
}
struct ArpHeader {
  bool present = false;              // the fixed 8 bytes were captured (the fields below them are set)
  std::uint16_t hardware_type = 0;   // 1 Ethernet
  std::uint16_t protocol_type = 0;   // 0x0800 IPv4
  std::uint8_t hardware_len = 0;     // 6 for Ethernet
  std::uint8_t protocol_len = 0;     // 4 for IPv4
  std::uint16_t op = 0;              // arp_op: 1 request, 2 reply
  std::uint32_t length = 0;          // 8 + 2 * (hardware_len + protocol_len): the header's declared size
  // Ethernet and IPv4 addresses (the kind Linux sends), all 28 bytes captured: the four below are set.
  bool ethernet_ipv4 = false;
  std::array<std::uint8_t, 6> sender_mac{}, target_mac{};
  IpAddress sender_ip, target_ip;
};

struct IpHeader {
  std::uint8_t version = 0;
  std::uint32_t header_len = 0;    // IPv4: IHL*4; IPv6: 40 + extension headers
  std::uint32_t total_len = 0;     // header + payload as the header says (see length_from_frame)
  bool length_from_frame = false;  // IPv4 total length 0 (TSO) or IPv6 jumbo: taken from the frame
  IpAddress src, dst;
  std::uint8_t ttl = 0;            // TTL (IPv4) or hop limit (IPv6)
  std::uint8_t protocol = 0;       // the upper-layer protocol, after IPv6 extension headers
  std::uint8_t tos = 0;            // TOS (IPv4) or traffic class (IPv6)
  std::uint16_t id = 0;            // IPv4 identification
  std::uint16_t checksum = 0;      // IPv4 header checksum
  bool dont_fragment = false;
  // Fragments: IPv4's MF flag and offset, or an IPv6 fragment header. Only the
  // first fragment (offset 0) carries the transport header; the others stop at
  // the network layer (reached == network, proto other) and are not malformed.
  bool more_fragments = false;
  std::uint16_t fragment_offset = 0;  // bytes into the original datagram's payload
  bool fragment_header = false;    // IPv6: a fragment header is present (even with offset 0 and no M flag)
  std::uint32_t fragment_id = 0;   // IPv4 identification, or the IPv6 fragment header's 32-bit one
  std::uint32_t fragment_len = 0;  // bytes of the original payload in this packet (tcpdump's "frag (off|len)")
  std::uint32_t flow_label = 0;    // IPv6
  std::uint8_t extension_headers = 0;
  bool hop_by_hop_repeated = false;  // IPv6: a Hop-by-Hop header after the first header (malformed)
  std::array<std::uint8_t, 8> extension_kinds{};  // IPv6: the first extension headers' types, in order

  // A piece of a fragmented datagram (or an IPv6 atomic fragment).
  [[nodiscard]] bool fragmented() const noexcept {
    return more_fragments || fragment_offset != 0 || fragment_header;
  }
};

struct TcpHeader {
  std::uint32_t seq = 0, ack = 0;
  std::uint16_t flags = 0;         // tcp_flags bits
  std::uint16_t window = 0;        // as on the wire (unscaled)
  std::uint16_t urgent = 0;
  std::uint16_t checksum = 0;
  std::uint8_t header_len = 0;     // data offset * 4
  std::span<const std::uint8_t> options;  // the captured option bytes, in order
  // Options the analysis uses (-1: absent).
  std::int32_t mss = -1;
  std::int16_t wscale = -1;
  bool sack_permitted = false;
  bool has_timestamp = false;
  std::uint32_t ts_val = 0, ts_ecr = 0;
  std::uint8_t sack_blocks = 0;
  std::array<std::array<std::uint32_t, 2>, 4> sack{};
};

struct UdpHeader {
  std::uint16_t length = 0;        // the UDP length field (header + payload)
  std::uint16_t checksum = 0;
};

// ICMP/ICMPv6, with the datagram a destination-unreachable message quotes.
struct IcmpHeader {
  std::uint8_t type = 0, code = 0;
  std::uint16_t checksum = 0;
  std::uint32_t rest = 0;          // the 4 bytes after the checksum (id/seq, MTU...)
  bool has_quote = false;          // an error message quoting an IP header
  IpAddress quoted_src, quoted_dst;
  std::uint8_t quoted_protocol = 0;
  std::uint16_t quoted_id = 0;     // IPv4 identification of the quoted datagram
  bool quoted_ports = false;       // the quote reaches the ports
  std::uint16_t quoted_sport = 0, quoted_dport = 0;
  std::uint16_t quoted_udp_length = 0;  // when the quoted protocol is UDP and it is there
  // An error message whose quote stops before the IP header and 8 bytes of the
  // datagram that RFC 792/4443 ask for: the ports may be missing.
  bool quote_cut = false;
  std::uint32_t quote_len = 0;     // bytes of the datagram quoted (captured)
};

// How far decoding got.
enum class Layer : std::uint8_t { none, link, network, transport };

struct DecodedPacket {
  std::int64_t ts_ns = 0;
  std::uint32_t wire_len = 0;      // length on the wire
  std::uint32_t cap_len = 0;       // bytes captured
  Layer reached = Layer::none;
  LinkHeader link;
  std::span<const std::uint8_t> network;  // the captured bytes after the link header
  ArpHeader arp;                   // an ARP frame (link.protocol 0x0806); reached stays at link
  IpHeader ip;                     // valid when reached >= network
  Proto proto = Proto::other;      // valid when reached == transport
  std::uint16_t sport = 0, dport = 0;
  TcpHeader tcp;
  UdpHeader udp;
  IcmpHeader icmp;
  std::uint32_t payload_len = 0;   // TCP/UDP payload bytes; ICMP: bytes after its 8-byte header
  std::span<const std::uint8_t> payload;  // the captured part of the payload
  bool truncated = false;          // the snapshot length cut the payload (headers are whole)
  bool malformed = false;

  [[nodiscard]] std::string_view malformed_reason() const noexcept {
    return {reason_.data(), reason_len_};
  }
  // Records the first problem found; later ones are usually its consequences.
  void mark_malformed(std::string_view reason) noexcept;

 private:
  std::array<char, 120> reason_{};
  std::uint8_t reason_len_ = 0;
};

// Decodes one frame of the given link type. `wire_len` is the length on the
// wire (pcap's len; may exceed bytes.size() when the snapshot length cut it).
[[nodiscard]] DecodedPacket decode(LinkType link, std::span<const std::uint8_t> bytes,
                                   std::uint32_t wire_len, std::int64_t ts_ns = 0) noexcept;

// Maps a pcap link-type value (DLT_ or LINKTYPE_) to a LinkType the decoder
// knows; false for the ones it does not (DLT_RAW 12/14 map to LinkType::raw).
[[nodiscard]] bool link_type_from_pcap(int dlt, LinkType& out) noexcept;
[[nodiscard]] std::string_view to_string(LinkType link) noexcept;

// "127.0.0.1", "::1" into `out` (at least 46 bytes); returns the length written.
std::size_t format_address(const IpAddress& a, char* out) noexcept;

}  // namespace socklab::capture
