// Pieces the packet renderers share (tcpdump lines, JSON, layers, PacketRecord):
// text and numbers appended to a TextBuffer without allocating, and what a packet
// has to say. Internal to capture/src.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <fmt/format.h>

#include "socklab/capture/analyzer.hpp"
#include "socklab/capture/format.hpp"
#include "socklab/capture/packet.hpp"

namespace socklab::capture::parts {

// No preview is longer, whatever is asked (it is built on the stack).
inline constexpr std::size_t max_preview_chars = 256;

inline void put(TextBuffer& out, std::string_view s) { out.append(s.data(), s.data() + s.size()); }

inline void put_u(TextBuffer& out, std::uint64_t v) {
  const fmt::format_int f(v);
  out.append(f.data(), f.data() + f.size());
}

inline void put_addr(TextBuffer& out, const IpAddress& a) {
  std::array<char, 64> buf{};
  const std::size_t n = format_address(a, buf.data());
  out.append(buf.data(), buf.data() + n);
}

// "02:00:00:00:00:0a"
inline void append_mac(TextBuffer& out, const std::array<std::uint8_t, 6>& m) {
  fmt::format_to(std::back_inserter(out), "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4],
                 m[5]);
}

inline bool has_ports(const DecodedPacket& d) {
  return (d.proto == Proto::tcp || d.proto == Proto::udp) &&
         (d.reached == Layer::transport || d.sport != 0 || d.dport != 0);
}

inline std::uint32_t ip_payload_len(const DecodedPacket& d) {
  return d.ip.total_len >= d.ip.header_len ? d.ip.total_len - d.ip.header_len : 0;
}

// eth_src/eth_dst: only an Ethernet frame whose header was read carries MAC addresses.
// Linux loopback is captured as Ethernet with both addresses zero: it has none to show.
inline bool has_macs(const DecodedPacket& d) {
  constexpr std::array<std::uint8_t, 6> zero{};
  return d.link.type == LinkType::ethernet && d.reached != Layer::none &&
         (d.link.src_mac != zero || d.link.dst_mac != zero);
}

inline bool has_icmp_note(const AnalyzedPacket& p) {
  return p.phase == Phase::unreachable && (p.pkt.icmp.has_quote || p.pkt.icmp.quote_cut);
}

// IPv4 total length 0, decoded with the frame's length (packet.hpp: length_from_frame).
inline bool has_length_note(const AnalyzedPacket& p) {
  return p.pkt.reached >= Layer::network && p.pkt.ip.version == 4 && p.pkt.ip.length_from_frame;
}

inline bool has_fragment_note(const AnalyzedPacket& p) {
  return p.pkt.reached >= Layer::network && p.pkt.ip.fragmented();
}

}  // namespace socklab::capture::parts
