// Frame decoder: link, network (ARP, IP) and transport headers, bounds-checked at every read;
// the names of the basic types in packet.hpp.
#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "socklab/capture/packet.hpp"

namespace socklab::capture {
namespace {

using Bytes = std::span<const std::uint8_t>;

std::uint16_t be16(const std::uint8_t* p) noexcept {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}
std::uint32_t be32(const std::uint8_t* p) noexcept {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}
std::uint32_t le32(const std::uint8_t* p) noexcept {
  return (std::uint32_t{p[3]} << 24) | (std::uint32_t{p[2]} << 16) | (std::uint32_t{p[1]} << 8) |
         std::uint32_t{p[0]};
}

template <class... Args>
void malformed(DecodedPacket& d, fmt::format_string<Args...> f, Args&&... args) noexcept {
  if (d.malformed) return;
  std::array<char, 120> buf{};
  const auto r = fmt::format_to_n(buf.data(), buf.size(), f, std::forward<Args>(args)...);
  d.mark_malformed(std::string_view(buf.data(), std::min(r.size, buf.size())));
}

constexpr std::uint16_t ethertype_ipv4 = 0x0800;
constexpr std::uint16_t ethertype_arp = 0x0806;
constexpr std::uint16_t ethertype_ipv6 = 0x86dd;
constexpr std::uint16_t ethertype_vlan = 0x8100;
constexpr std::uint16_t ethertype_qinq = 0x88a8;
constexpr std::uint16_t ethertype_qinq_old = 0x9100;
constexpr std::uint16_t ethertype_pppoe_session = 0x8864;

constexpr std::uint8_t proto_icmp = 1;
constexpr std::uint8_t proto_tcp = 6;
constexpr std::uint8_t proto_udp = 17;
constexpr std::uint8_t proto_icmp6 = 58;

// ---- transport ----

void parse_tcp_options(DecodedPacket& d, Bytes opts, std::size_t declared) noexcept {
  TcpHeader& t = d.tcp;
  t.options = opts;
  std::size_t i = 0;
  while (i < opts.size()) {
    const std::uint8_t kind = opts[i];
    if (kind == 0) break;  // end of option list
    if (kind == 1) {
      ++i;
      continue;
    }
    if (i + 1 >= opts.size()) {
      if (opts.size() < declared) {
        malformed(d, "TCP options cut by the snapshot length");
      } else {
        malformed(d, "TCP option {} has no length byte", kind);
      }
      return;
    }
    const std::size_t len = opts[i + 1];
    if (len < 2) {
      malformed(d, "TCP option {} has length {} (< 2)", kind, len);
      return;
    }
    if (i + len > declared) {
      malformed(d, "TCP option {} (length {}) runs past the header", kind, len);
      return;
    }
    if (i + len > opts.size()) {
      malformed(d, "TCP options cut by the snapshot length");
      return;
    }
    const std::uint8_t* v = opts.data() + i + 2;
    switch (kind) {
      case 2:
        if (len == 4) t.mss = be16(v);
        break;
      case 3:
        if (len == 3) t.wscale = v[0];
        break;
      case 4:
        t.sack_permitted = true;
        break;
      case 5:
        t.sack_blocks = 0;
        for (std::size_t b = 0; b + 8 <= len - 2 && t.sack_blocks < t.sack.size(); b += 8) {
          t.sack[t.sack_blocks][0] = be32(v + b);
          t.sack[t.sack_blocks][1] = be32(v + b + 4);
          ++t.sack_blocks;
        }
        break;
      case 8:
        if (len == 10) {
          t.has_timestamp = true;
          t.ts_val = be32(v);
          t.ts_ecr = be32(v + 4);
        }
        break;
      default:
        break;
    }
    i += len;
  }
}

// `seg`: the IP payload as captured; `seg_len`: its length on the wire.
void decode_tcp(DecodedPacket& d, Bytes seg, std::uint32_t seg_len) noexcept {
  d.proto = Proto::tcp;
  if (seg.size() < 4) {
    malformed(d, "TCP header cut: {} of 20 bytes", seg.size());
    return;
  }
  d.sport = be16(seg.data());
  d.dport = be16(seg.data() + 2);
  if (seg.size() < 20) {
    malformed(d, "TCP header cut: {} of 20 bytes", seg.size());
    return;
  }
  TcpHeader& t = d.tcp;
  t.seq = be32(seg.data() + 4);
  t.ack = be32(seg.data() + 8);
  t.header_len = static_cast<std::uint8_t>((seg[12] >> 4) * 4);
  t.flags = static_cast<std::uint16_t>(seg[13] | ((seg[12] & 0x01) << 8));
  t.window = be16(seg.data() + 14);
  t.checksum = be16(seg.data() + 16);
  t.urgent = be16(seg.data() + 18);
  d.reached = Layer::transport;
  if (t.header_len < 20) {
    malformed(d, "TCP data offset {} (< 5)", t.header_len / 4);
    d.payload_len = seg_len >= 20 ? seg_len - 20 : 0;
    return;
  }
  if (t.header_len > seg_len) {
    malformed(d, "TCP header length {} exceeds the segment ({} bytes)", t.header_len, seg_len);
    parse_tcp_options(d, seg.subspan(20, std::min<std::size_t>(seg.size(), seg_len) - 20),
                      seg_len - 20u);
    return;
  }
  const std::size_t opt_captured = std::min<std::size_t>(seg.size(), t.header_len) - 20;
  parse_tcp_options(d, seg.subspan(20, opt_captured), t.header_len - 20u);
  if (seg.size() < t.header_len) {
    malformed(d, "TCP options cut by the snapshot length");
  }
  d.payload_len = seg_len - t.header_len;
  if (seg.size() > t.header_len) {
    d.payload = seg.subspan(t.header_len, std::min<std::size_t>(seg.size(), seg_len) - t.header_len);
  }
  if (d.payload.size() < d.payload_len && !d.malformed) d.truncated = true;
}

void decode_udp(DecodedPacket& d, Bytes seg, std::uint32_t seg_len) noexcept {
  d.proto = Proto::udp;
  if (seg.size() < 8) {
    if (seg.size() >= 4) {
      d.sport = be16(seg.data());
      d.dport = be16(seg.data() + 2);
    }
    malformed(d, "UDP header cut: {} of 8 bytes", seg.size());
    return;
  }
  d.sport = be16(seg.data());
  d.dport = be16(seg.data() + 2);
  d.udp.length = be16(seg.data() + 4);
  d.udp.checksum = be16(seg.data() + 6);
  d.reached = Layer::transport;
  std::uint32_t len = seg_len;
  if (d.udp.length < 8) {
    malformed(d, "UDP length {} (< 8)", d.udp.length);
  } else if (d.udp.length > seg_len && !d.ip.fragmented()) {
    malformed(d, "UDP length {} exceeds the IP payload ({} bytes)", d.udp.length, seg_len);
  } else {
    // The UDP length field wins over trailing IP padding; in a first fragment
    // it is the whole datagram's, and the rest follows in later fragments.
    len = d.udp.length;
  }
  d.payload_len = len >= 8 ? len - 8 : 0;
  const std::uint32_t here = std::min(len, seg_len) >= 8 ? std::min(len, seg_len) - 8 : 0;  // in this packet
  if (seg.size() > 8) d.payload = seg.subspan(8, std::min<std::size_t>(seg.size() - 8, here));
  if (d.payload.size() < here && !d.malformed) d.truncated = true;
}

// The datagram quoted by an ICMP error: its IP header and first 8 bytes.
// `cut_by_snaplen`: the capture, not the sender, shortened the quote.
void decode_icmp_quote(DecodedPacket& d, Bytes q, bool cut_by_snaplen) noexcept {
  IcmpHeader& c = d.icmp;
  c.quote_len = static_cast<std::uint32_t>(q.size());
  if (q.empty()) return;
  const std::uint8_t version = q[0] >> 4;
  std::size_t hl = 0;
  if (version == 4) {
    hl = static_cast<std::size_t>(q[0] & 0x0f) * 4;
    if (q.size() < 20 || hl < 20 || hl > q.size()) {
      c.quote_cut = q.size() < std::max<std::size_t>(hl, 20) + 8;
      if (c.quote_cut && !cut_by_snaplen) {
        malformed(d, "ICMP error quotes {} bytes: the quoted IPv4 header is cut", q.size());
      }
      return;
    }
    c.has_quote = true;
    c.quoted_src.version = c.quoted_dst.version = 4;
    std::memcpy(c.quoted_src.bytes.data(), q.data() + 12, 4);
    std::memcpy(c.quoted_dst.bytes.data(), q.data() + 16, 4);
    c.quoted_protocol = q[9];
    c.quoted_id = be16(q.data() + 4);
  } else if (version == 6) {
    hl = 40;
    if (q.size() < 40) {
      c.quote_cut = true;
      if (!cut_by_snaplen) malformed(d, "ICMPv6 error quotes {} bytes: the quoted IPv6 header is cut", q.size());
      return;
    }
    c.has_quote = true;
    c.quoted_src.version = c.quoted_dst.version = 6;
    std::memcpy(c.quoted_src.bytes.data(), q.data() + 8, 16);
    std::memcpy(c.quoted_dst.bytes.data(), q.data() + 24, 16);
    c.quoted_protocol = q[6];
  } else {
    return;
  }
  if (q.size() < hl + 8) {
    // RFC 792 asks for 64 bits of the datagram after its header: a TCP or UDP
    // quote shorter than that may lack the ports (tcpdump prints [|icmp]).
    c.quote_cut = true;
    if (!cut_by_snaplen) {
      malformed(d, "ICMP error quotes {} bytes of the datagram after its IP header (8 expected)", q.size() - hl);
    }
  }
  if (q.size() >= hl + 4) {
    c.quoted_ports = true;
    c.quoted_sport = be16(q.data() + hl);
    c.quoted_dport = be16(q.data() + hl + 2);
    if (c.quoted_protocol == proto_udp && q.size() >= hl + 6) c.quoted_udp_length = be16(q.data() + hl + 4);
  }
}

void decode_icmp(DecodedPacket& d, Bytes seg, std::uint32_t seg_len, bool v6) noexcept {
  d.proto = v6 ? Proto::icmp6 : Proto::icmp;
  if (seg.size() < 8) {
    if (seg.size() >= 2) {
      d.icmp.type = seg[0];
      d.icmp.code = seg[1];
    }
    malformed(d, "{} header cut: {} of 8 bytes", v6 ? "ICMPv6" : "ICMP", seg.size());
    return;
  }
  IcmpHeader& c = d.icmp;
  c.type = seg[0];
  c.code = seg[1];
  c.checksum = be16(seg.data() + 2);
  c.rest = be32(seg.data() + 4);
  d.reached = Layer::transport;
  d.payload_len = seg_len - 8;
  d.payload = seg.subspan(8, std::min<std::size_t>(seg.size(), seg_len) - 8);
  if (d.payload.size() < d.payload_len) d.truncated = true;
  // Error messages that quote the offending datagram.
  const bool is_error = v6 ? (c.type >= 1 && c.type <= 4) : (c.type == 3 || c.type == 4 || c.type == 5 ||
                                                              c.type == 11 || c.type == 12);
  if (is_error) decode_icmp_quote(d, d.payload, d.truncated);
}

void decode_transport(DecodedPacket& d, Bytes seg, std::uint32_t seg_len) noexcept {
  switch (d.ip.protocol) {
    case proto_tcp:
      decode_tcp(d, seg, seg_len);
      break;
    case proto_udp:
      decode_udp(d, seg, seg_len);
      break;
    case proto_icmp:
      if (d.ip.version == 4) decode_icmp(d, seg, seg_len, false);
      break;
    case proto_icmp6:
      if (d.ip.version == 6) decode_icmp(d, seg, seg_len, true);
      break;
    default:
      break;
  }
}

// ---- network ----

// `pkt`: captured bytes from the IP header on; `wire`: their length on the wire.
void decode_ipv4(DecodedPacket& d, Bytes pkt, std::uint32_t wire) noexcept {
  IpHeader& ip = d.ip;
  ip.version = 4;
  if (pkt.size() < 20) {
    malformed(d, "IPv4 header cut: {} of 20 bytes", pkt.size());
    return;
  }
  ip.header_len = static_cast<std::uint32_t>(pkt[0] & 0x0f) * 4;
  ip.tos = pkt[1];
  ip.total_len = be16(pkt.data() + 2);
  ip.id = be16(pkt.data() + 4);
  const std::uint16_t frag = be16(pkt.data() + 6);
  ip.dont_fragment = (frag & 0x4000) != 0;
  ip.more_fragments = (frag & 0x2000) != 0;
  ip.fragment_offset = static_cast<std::uint16_t>((frag & 0x1fff) * 8);
  ip.fragment_id = ip.id;
  ip.ttl = pkt[8];
  ip.protocol = pkt[9];
  ip.checksum = be16(pkt.data() + 10);
  ip.src.version = ip.dst.version = 4;
  std::memcpy(ip.src.bytes.data(), pkt.data() + 12, 4);
  std::memcpy(ip.dst.bytes.data(), pkt.data() + 16, 4);
  d.reached = Layer::network;
  if (ip.header_len < 20) {
    malformed(d, "IPv4 header length {} (< 20)", ip.header_len);
    return;
  }
  if (ip.total_len == 0) {
    // Captured on the sending host before TCP segmentation offload split it:
    // the length field is left 0; the frame's own length is the datagram's.
    // Wireshark (ip.tso_support, on by default) decodes it so; tcpdump says
    // "bad-len 0": the note on the packet says both (lines.cpp).
    ip.length_from_frame = true;
    ip.total_len = wire;
  }
  if (ip.total_len < ip.header_len) {
    malformed(d, "IPv4 total length {} is shorter than its header ({})", ip.total_len, ip.header_len);
    return;
  }
  if (ip.total_len > wire) {
    malformed(d, "IPv4 total length {} exceeds the frame ({} bytes)", ip.total_len, wire);
    ip.total_len = wire;
    if (ip.total_len < ip.header_len) return;
  }
  if (ip.fragmented()) ip.fragment_len = ip.total_len - ip.header_len;
  if (pkt.size() < ip.header_len) {
    malformed(d, "IPv4 options cut by the snapshot length");
    return;
  }
  if (ip.fragment_offset != 0) return;  // only the first fragment carries the transport header
  const std::uint32_t seg_len = ip.total_len - ip.header_len;
  const std::size_t cap = std::min<std::size_t>(pkt.size(), ip.total_len);
  decode_transport(d, pkt.subspan(ip.header_len, cap - ip.header_len), seg_len);
}

bool is_ipv6_extension(std::uint8_t next) noexcept {
  return next == 0 || next == 43 || next == 44 || next == 51 || next == 60 || next == 135 ||
         next == 139 || next == 140;
}

void decode_ipv6(DecodedPacket& d, Bytes pkt, std::uint32_t wire) noexcept {
  IpHeader& ip = d.ip;
  ip.version = 6;
  if (pkt.size() < 40) {
    malformed(d, "IPv6 header cut: {} of 40 bytes", pkt.size());
    return;
  }
  const std::uint32_t first = be32(pkt.data());
  ip.tos = static_cast<std::uint8_t>((first >> 20) & 0xff);
  ip.flow_label = first & 0xfffff;
  const std::uint16_t payload = be16(pkt.data() + 4);
  std::uint8_t next = pkt[6];
  ip.ttl = pkt[7];
  ip.src.version = ip.dst.version = 6;
  std::memcpy(ip.src.bytes.data(), pkt.data() + 8, 16);
  std::memcpy(ip.dst.bytes.data(), pkt.data() + 24, 16);
  d.reached = Layer::network;
  ip.total_len = 40u + payload;
  if (payload == 0 && wire > 40) {
    ip.length_from_frame = true;  // jumbogram (or a TSO capture): the frame knows the length
    ip.total_len = wire;
  }
  if (ip.total_len > wire) {
    malformed(d, "IPv6 payload length {} exceeds the frame ({} bytes)", payload, wire - 40);
    ip.total_len = wire;
  }
  std::uint32_t off = 40;
  while (is_ipv6_extension(next)) {
    if (off + 8 > ip.total_len) {
      malformed(d, "IPv6 extension header {} runs past the packet", next);
      ip.protocol = next;
      ip.header_len = off;
      return;
    }
    if (off + 8 > pkt.size()) {
      malformed(d, "IPv6 extension headers cut by the snapshot length");
      ip.protocol = next;
      ip.header_len = off;
      return;
    }
    if (next == 0 && off != 40) {
      // RFC 8200 4.1: Hop-by-Hop only directly after the IPv6 header. tcpdump
      // stops there ("(invalid)"), Wireshark flags it as an error: so do we.
      ip.hop_by_hop_repeated = true;
      malformed(d, "IPv6 Hop-by-Hop header at place {} of the header chain: it may only come first",
                ip.extension_headers + 1);
      ip.protocol = next;
      ip.header_len = off;
      return;
    }
    const std::uint8_t* h = pkt.data() + off;
    std::uint32_t len = 0;
    if (next == 44) {  // fragment header: fixed 8 bytes
      len = 8;
      const std::uint16_t fo = be16(h + 2);
      ip.fragment_offset = static_cast<std::uint16_t>(fo & 0xfff8);
      ip.more_fragments = (fo & 1) != 0;
      ip.fragment_header = true;
      ip.fragment_id = be32(h + 4);
      ip.fragment_len = ip.total_len - (off + 8);  // checked below: off + 8 <= total_len
    } else if (next == 51) {  // AH: length in 4-byte units, minus 2
      len = (std::uint32_t{h[1]} + 2) * 4;
    } else {
      len = (std::uint32_t{h[1]} + 1) * 8;
    }
    if (off + len > ip.total_len) {
      malformed(d, "IPv6 extension header {} (length {}) runs past the packet", next, len);
      ip.protocol = next;
      ip.header_len = off;
      return;
    }
    if (ip.extension_headers < ip.extension_kinds.size()) ip.extension_kinds[ip.extension_headers] = next;
    next = h[0];
    off += len;
    if (ip.extension_headers < 255) ++ip.extension_headers;
    if (ip.fragment_offset != 0) break;
  }
  ip.protocol = next;
  ip.header_len = off;
  if (ip.fragment_offset != 0) return;
  if (off > pkt.size()) {
    malformed(d, "IPv6 extension headers cut by the snapshot length");
    return;
  }
  const std::size_t cap = std::min<std::size_t>(pkt.size(), ip.total_len);
  decode_transport(d, pkt.subspan(off, cap - off), ip.total_len - off);
}

// ARP: the fixed part, and the addresses when they are Ethernet's and IPv4's. A header
// cut short is read as far as it goes (as tcpdump, which then prints the frame by size).
void decode_arp(DecodedPacket& d, Bytes pkt) noexcept {
  ArpHeader& a = d.arp;
  if (pkt.size() < 8) return;
  a.present = true;
  a.hardware_type = be16(pkt.data());
  a.protocol_type = be16(pkt.data() + 2);
  a.hardware_len = pkt[4];
  a.protocol_len = pkt[5];
  a.op = be16(pkt.data() + 6);
  a.length = 8u + 2u * (std::uint32_t{a.hardware_len} + a.protocol_len);
  if (a.hardware_type != 1 || a.protocol_type != ethertype_ipv4 || a.hardware_len != 6 || a.protocol_len != 4 ||
      pkt.size() < a.length)
    return;
  a.ethernet_ipv4 = true;
  std::memcpy(a.sender_mac.data(), pkt.data() + 8, 6);
  std::memcpy(a.target_mac.data(), pkt.data() + 18, 6);
  a.sender_ip.version = a.target_ip.version = 4;
  std::memcpy(a.sender_ip.bytes.data(), pkt.data() + 14, 4);
  std::memcpy(a.target_ip.bytes.data(), pkt.data() + 24, 4);
}

void decode_network(DecodedPacket& d, std::uint16_t ethertype, Bytes pkt, std::uint32_t wire) noexcept {
  d.link.protocol = ethertype;
  d.network = pkt;
  if (ethertype == ethertype_arp) {
    decode_arp(d, pkt);
  } else if (ethertype == ethertype_ipv4) {
    if (!pkt.empty() && (pkt[0] >> 4) != 4) {
      malformed(d, "EtherType IPv4 but IP version {}", pkt[0] >> 4);
      return;
    }
    decode_ipv4(d, pkt, wire);
  } else if (ethertype == ethertype_ipv6) {
    if (!pkt.empty() && (pkt[0] >> 4) != 6) {
      malformed(d, "EtherType IPv6 but IP version {}", pkt[0] >> 4);
      return;
    }
    decode_ipv6(d, pkt, wire);
  }
}

void decode_raw_ip(DecodedPacket& d, Bytes pkt, std::uint32_t wire) noexcept {
  if (pkt.empty()) {
    malformed(d, "empty frame");
    return;
  }
  const int version = pkt[0] >> 4;
  if (version == 4) {
    decode_network(d, ethertype_ipv4, pkt, wire);
  } else if (version == 6) {
    decode_network(d, ethertype_ipv6, pkt, wire);
  } else {
    malformed(d, "raw IP frame with IP version {}", version);
  }
}

// ---- link ----

void decode_ethernet(DecodedPacket& d, Bytes f, std::uint32_t wire) noexcept {
  LinkHeader& l = d.link;
  if (f.size() < 14) {
    malformed(d, "Ethernet header cut: {} of 14 bytes", f.size());
    return;
  }
  std::memcpy(l.dst_mac.data(), f.data(), 6);
  std::memcpy(l.src_mac.data(), f.data() + 6, 6);
  std::uint16_t type = be16(f.data() + 12);
  std::size_t off = 14;
  d.reached = Layer::link;
  while (type == ethertype_vlan || type == ethertype_qinq || type == ethertype_qinq_old) {
    if (off + 4 > f.size()) {
      malformed(d, "VLAN tag cut by the snapshot length");
      l.length = static_cast<std::uint32_t>(off);
      return;
    }
    if (l.vlan_tags == 0) l.vlan_id = be16(f.data() + off) & 0x0fff;
    ++l.vlan_tags;
    type = be16(f.data() + off + 2);
    off += 4;
  }
  if (type == ethertype_pppoe_session) {
    if (off + 8 > f.size()) {
      malformed(d, "PPPoE header cut by the snapshot length");
      l.length = static_cast<std::uint32_t>(off);
      return;
    }
    l.pppoe = true;
    l.pppoe_session = be16(f.data() + off + 2);
    const std::uint16_t ppp = be16(f.data() + off + 6);
    off += 8;
    type = ppp == 0x0021 ? ethertype_ipv4 : ppp == 0x0057 ? ethertype_ipv6 : 0;
  }
  l.length = static_cast<std::uint32_t>(off);
  l.protocol = type;
  if (wire < off) return;
  decode_network(d, type, f.subspan(off), wire - static_cast<std::uint32_t>(off));
}

void decode_sll(DecodedPacket& d, Bytes f, std::uint32_t wire) noexcept {
  LinkHeader& l = d.link;
  if (f.size() < 16) {
    malformed(d, "Linux cooked header cut: {} of 16 bytes", f.size());
    return;
  }
  l.sll_packet_type = be16(f.data());
  l.sll_hatype = be16(f.data() + 2);
  l.sll_addr_len = static_cast<std::uint8_t>(std::min<std::uint16_t>(be16(f.data() + 4), 8));
  std::memcpy(l.sll_addr.data(), f.data() + 6, 8);
  l.protocol = be16(f.data() + 14);
  l.length = 16;
  d.reached = Layer::link;
  if (wire < 16) return;
  decode_network(d, l.protocol, f.subspan(16), wire - 16);
}

void decode_sll2(DecodedPacket& d, Bytes f, std::uint32_t wire) noexcept {
  LinkHeader& l = d.link;
  if (f.size() < 20) {
    malformed(d, "Linux cooked v2 header cut: {} of 20 bytes", f.size());
    return;
  }
  l.protocol = be16(f.data());
  l.sll2_ifindex = be32(f.data() + 4);
  l.sll_hatype = be16(f.data() + 8);
  l.sll_packet_type = f[10];
  l.sll_addr_len = std::min<std::uint8_t>(f[11], 8);
  std::memcpy(l.sll_addr.data(), f.data() + 12, 8);
  l.length = 20;
  d.reached = Layer::link;
  if (wire < 20) return;
  decode_network(d, l.protocol, f.subspan(20), wire - 20);
}

// BSD loopback: a 4-byte address family. NULL writes it in the capturing host's
// byte order (which may not be ours), LOOP in network byte order. As Wireshark:
// a value with its upper half set was written in the other byte order (or, on
// IRIX, as 16 bits); a value above 1500 after that is an EtherType, not a family.
void decode_loopback(DecodedPacket& d, Bytes f, std::uint32_t wire, bool network_order) noexcept {
  LinkHeader& l = d.link;
  if (f.size() < 4) {
    malformed(d, "loopback header cut: {} of 4 bytes", f.size());
    return;
  }
  std::uint32_t family = network_order ? be32(f.data()) : le32(f.data());
  if (!network_order && (family & 0xffff0000u) != 0) {
    if ((family & 0xff000000u) == 0 && (family & 0x00ff0000u) < 0x00060000u) {
      family >>= 16;
    } else {
      family = be32(f.data());
    }
  }
  l.family = family;
  l.length = 4;
  d.reached = Layer::link;
  std::uint16_t type = 0;
  if (family > 1500) {
    type = static_cast<std::uint16_t>(family & 0xffff);
  } else if (family == 2) {
    type = ethertype_ipv4;
  } else if (family == 10 || family == 24 || family == 28 || family == 30) {
    type = ethertype_ipv6;  // Linux, NetBSD/OpenBSD, FreeBSD, macOS
  }
  l.protocol = type;
  if (wire < 4) return;
  decode_network(d, type, f.subspan(4), wire - 4);
}

}  // namespace

void DecodedPacket::mark_malformed(std::string_view reason) noexcept {
  if (malformed) return;
  malformed = true;
  const std::size_t n = std::min(reason.size(), reason_.size());
  std::memcpy(reason_.data(), reason.data(), n);
  reason_len_ = static_cast<std::uint8_t>(n);
}

DecodedPacket decode(LinkType link, std::span<const std::uint8_t> bytes, std::uint32_t wire_len,
                     std::int64_t ts_ns) noexcept {
  DecodedPacket d;
  d.ts_ns = ts_ns;
  d.cap_len = static_cast<std::uint32_t>(bytes.size());
  // A wire length below the captured length is a broken record; trust the bytes we have.
  d.wire_len = std::max<std::uint32_t>(wire_len, d.cap_len);
  d.link.type = link;
  switch (link) {
    case LinkType::ethernet:
      decode_ethernet(d, bytes, d.wire_len);
      break;
    case LinkType::linux_sll:
      decode_sll(d, bytes, d.wire_len);
      break;
    case LinkType::linux_sll2:
      decode_sll2(d, bytes, d.wire_len);
      break;
    case LinkType::null:
      decode_loopback(d, bytes, d.wire_len, false);
      break;
    case LinkType::loop:
      decode_loopback(d, bytes, d.wire_len, true);
      break;
    case LinkType::raw:
      decode_raw_ip(d, bytes, d.wire_len);
      break;
    case LinkType::ipv4:
      decode_network(d, ethertype_ipv4, bytes, d.wire_len);
      break;
    case LinkType::ipv6:
      decode_network(d, ethertype_ipv6, bytes, d.wire_len);
      break;
    default:
      malformed(d, "unsupported link type {}", static_cast<int>(link));
      break;
  }
  return d;
}

std::string_view to_string(Proto p) noexcept {
  switch (p) {
    case Proto::tcp: return "tcp";
    case Proto::udp: return "udp";
    case Proto::icmp: return "icmp";
    case Proto::icmp6: return "icmp6";
    case Proto::other: return "other";
  }
  return "other";
}

std::string_view to_string(Phase p) noexcept {
  switch (p) {
    case Phase::none: return "";
    case Phase::handshake_syn: return "handshake 1/3";
    case Phase::handshake_synack: return "handshake 2/3";
    case Phase::handshake_ack: return "handshake 3/3";
    case Phase::syn_retransmission: return "syn retransmission";
    case Phase::data: return "data";
    case Phase::ack: return "ack";
    case Phase::teardown_fin1: return "teardown 1/4";
    case Phase::teardown_ack1: return "teardown 2/4";
    case Phase::teardown_fin2: return "teardown 3/4";
    case Phase::teardown_fin2_ack1: return "teardown 2+3/4";
    case Phase::teardown_ack2: return "teardown 4/4";
    case Phase::reset: return "reset";
    case Phase::refused: return "refused";
    case Phase::datagram: return "datagram";
    case Phase::unreachable: return "unreachable";
    case Phase::fragment: return "fragment";
  }
  return "";
}

std::string_view analysis_name(std::uint32_t bit) noexcept {
  switch (bit) {
    case Analysis::retransmission: return "retransmission";
    case Analysis::fast_retransmission: return "fast_retransmission";
    case Analysis::spurious_retransmission: return "spurious_retransmission";
    case Analysis::out_of_order: return "out_of_order";
    case Analysis::lost_segment: return "lost_segment";
    case Analysis::ack_lost_segment: return "ack_lost_segment";
    case Analysis::dup_ack: return "dup_ack";
    case Analysis::zero_window: return "zero_window";
    case Analysis::zero_window_probe: return "zero_window_probe";
    case Analysis::zero_window_probe_ack: return "zero_window_probe_ack";
    case Analysis::window_full: return "window_full";
    case Analysis::window_update: return "window_update";
    case Analysis::keep_alive: return "keep_alive";
    case Analysis::keep_alive_ack: return "keep_alive_ack";
    default: return "";
  }
}

bool link_type_from_pcap(int dlt, LinkType& out) noexcept {
  switch (dlt) {
    case 0: out = LinkType::null; return true;
    case 1: out = LinkType::ethernet; return true;
    case 12:
    case 14:
    case 101: out = LinkType::raw; return true;
    case 108: out = LinkType::loop; return true;
    case 113: out = LinkType::linux_sll; return true;
    case 276: out = LinkType::linux_sll2; return true;
    case 228: out = LinkType::ipv4; return true;
    case 229: out = LinkType::ipv6; return true;
    default: return false;
  }
}

std::string_view to_string(LinkType link) noexcept {
  switch (link) {
    case LinkType::null: return "NULL (BSD loopback)";
    case LinkType::ethernet: return "EN10MB (Ethernet)";
    case LinkType::raw: return "RAW (Raw IP)";
    case LinkType::loop: return "LOOP (OpenBSD loopback)";
    case LinkType::linux_sll: return "LINUX_SLL (Linux cooked v1)";
    case LinkType::linux_sll2: return "LINUX_SLL2 (Linux cooked v2)";
    case LinkType::ipv4: return "IPV4 (Raw IPv4)";
    case LinkType::ipv6: return "IPV6 (Raw IPv6)";
  }
  return "unknown";
}

std::size_t format_address(const IpAddress& a, char* out) noexcept {
  if (a.version == 4) {
    char* p = out;
    for (int i = 0; i < 4; ++i) {
      if (i) *p++ = '.';
      unsigned v = a.bytes[static_cast<std::size_t>(i)];
      if (v >= 100) {
        *p++ = static_cast<char>('0' + v / 100);
        v %= 100;
        *p++ = static_cast<char>('0' + v / 10);
        *p++ = static_cast<char>('0' + v % 10);
      } else if (v >= 10) {
        *p++ = static_cast<char>('0' + v / 10);
        *p++ = static_cast<char>('0' + v % 10);
      } else {
        *p++ = static_cast<char>('0' + v);
      }
    }
    return static_cast<std::size_t>(p - out);
  }
  if (a.version == 6) {
    if (::inet_ntop(AF_INET6, a.bytes.data(), out, INET6_ADDRSTRLEN) == nullptr) return 0;
    return std::strlen(out);
  }
  return 0;
}

}  // namespace socklab::capture
