// The layered view of a packet (link, network, transport, payload), for the OSI lesson and `read --layers`.
#include <algorithm>

#include "render_parts.hpp"
#include "socklab/capture/format.hpp"

namespace socklab::capture {
using namespace parts;

void append_layers(TextBuffer& out, const AnalyzedPacket& p, std::size_t preview_chars) {
  const DecodedPacket& d = p.pkt;
  const LinkHeader& l = d.link;
  const auto it = std::back_inserter(out);
  fmt::format_to(it, "frame {}: {} bytes on the wire, {} captured, t={:.6f}\n", p.n, d.wire_len, d.cap_len,
                 static_cast<double>(p.rel_ns) / 1e9);
  // Link
  put(out, "  link       ");
  const auto mac = [&](const std::array<std::uint8_t, 6>& m) { append_mac(out, m); };
  switch (l.type) {
    case LinkType::ethernet:
      put(out, "Ethernet  ");
      if (d.reached == Layer::none) break;
      mac(l.src_mac);
      put(out, " > ");
      mac(l.dst_mac);
      if (l.vlan_tags) fmt::format_to(it, ", VLAN {}", l.vlan_id);
      if (l.pppoe) put(out, ", PPPoE session");
      fmt::format_to(it, ", type 0x{:04x}", l.protocol);
      break;
    case LinkType::linux_sll:
    case LinkType::linux_sll2: {
      put(out, l.type == LinkType::linux_sll ? "Linux cooked  " : "Linux cooked v2  ");
      if (d.reached == Layer::none) break;
      static constexpr std::array<std::string_view, 5> kinds{"to us", "broadcast", "multicast", "to another host",
                                                             "sent by us"};
      put(out, l.sll_packet_type < kinds.size() ? kinds[l.sll_packet_type] : std::string_view("packet type ?"));
      fmt::format_to(it, ", hardware type {}", l.sll_hatype);
      if (l.sll_addr_len > 0) {
        put(out, ", address ");
        for (std::size_t i = 0; i < l.sll_addr_len; ++i) {
          if (i) out.push_back(':');
          fmt::format_to(it, "{:02x}", l.sll_addr[i]);
        }
      }
      if (l.type == LinkType::linux_sll2) fmt::format_to(it, ", interface index {}", l.sll2_ifindex);
      fmt::format_to(it, ", type 0x{:04x}", l.protocol);
      break;
    }
    case LinkType::null:
    case LinkType::loop:
      fmt::format_to(it, "BSD loopback  address family {}", l.family);
      break;
    case LinkType::raw:
    case LinkType::ipv4:
    case LinkType::ipv6:
      put(out, "none (raw IP)");
      break;
  }
  fmt::format_to(it, " [{} bytes]\n", l.length);
  // Network
  if (d.reached >= Layer::network) {
    const IpHeader& ip = d.ip;
    put(out, "  network    ");
    put(out, ip.version == 4 ? "IPv4  " : "IPv6  ");
    put_addr(out, ip.src);
    put(out, " > ");
    put_addr(out, ip.dst);
    fmt::format_to(it, ", {} {}, protocol {}", ip.version == 4 ? "ttl" : "hop limit", ip.ttl, ip.protocol);
    switch (ip.protocol) {
      case 6: put(out, " (TCP)"); break;
      case 17: put(out, " (UDP)"); break;
      case 1: put(out, " (ICMP)"); break;
      case 58: put(out, " (ICMPv6)"); break;
      default: break;
    }
    if (ip.version == 4) {
      fmt::format_to(it, ", id {}", ip.id);
      if (ip.dont_fragment) put(out, ", DF");
    } else if (ip.extension_headers) {
      fmt::format_to(it, ", {} extension header(s)", ip.extension_headers);
    }
    fmt::format_to(it, ", total {} bytes", ip.total_len);
    if (ip.length_from_frame) put(out, " (length field 0: taken from the frame)");
    fmt::format_to(it, " [{} bytes]\n", ip.header_len);
    if (ip.fragmented()) {
      put(out, "             ");
      append_fragment_note(out, p);
      if (ip.fragment_offset != 0) put(out, "; no transport header: it travels in the first fragment");
      out.push_back('\n');
    }
  }
  // Transport
  if (d.reached == Layer::transport) {
    put(out, "  transport  ");
    switch (d.proto) {
      case Proto::tcp: {
        const TcpHeader& t = d.tcp;
        fmt::format_to(it, "TCP  port {} > {}, flags [", d.sport, d.dport);
        append_tcp_flags(out, t.flags);
        fmt::format_to(it, "], seq {}", p.seq);
        if (t.flags & tcp_flags::ack) fmt::format_to(it, ", ack {}", p.ack);
        fmt::format_to(it, ", win {}", t.window);
        if (p.win != t.window) fmt::format_to(it, " (scaled {})", p.win);
        if (t.header_len > 20) {
          put(out, ", options [");
          append_tcp_options(out, p);
          out.push_back(']');
        }
        fmt::format_to(it, " [{} bytes]\n", t.header_len);
        break;
      }
      case Proto::udp:
        fmt::format_to(it, "UDP  port {} > {}, length {} [8 bytes]\n", d.sport, d.dport, d.udp.length);
        break;
      case Proto::icmp:
      case Proto::icmp6:
        fmt::format_to(it, "{}  type {}, code {}", d.proto == Proto::icmp ? "ICMP" : "ICMPv6", d.icmp.type,
                       d.icmp.code);
        if (p.phase == Phase::unreachable) {
          put(out, ": ");
          append_icmp_note(out, p);
        }
        put(out, " [8 bytes]\n");
        break;
      case Proto::other:
        put(out, "?\n");
        break;
    }
    put(out, "  payload    ");
    fmt::format_to(it, "{} bytes", d.payload_len);
    if (d.ip.more_fragments && d.proto == Proto::udp) {
      // A first fragment: the UDP length counts the whole datagram.
      const std::uint32_t here = ip_payload_len(d) >= 8 ? ip_payload_len(d) - 8 : 0;
      fmt::format_to(it, " ({} in this fragment)", std::min(here, d.payload_len));
    }
    if (!d.payload.empty()) {
      put(out, "  \"");
      append_preview(out, p, preview_chars);
      out.push_back('"');
      if (d.payload.size() > preview_chars) put(out, "...");
    }
    out.push_back('\n');
  }
  TextBuffer notes;  // inline storage: no allocation for notes of ordinary length
  append_notes(notes, p);
  if (notes.size() != 0) {
    put(out, "  notes      ");
    out.append(notes.data(), notes.data() + notes.size());
    out.push_back('\n');
  }
}

}  // namespace socklab::capture
