// tcpdump-style lines (`tcpdump -nn`) and the notes that follow them, into a reused buffer.
#include <algorithm>
#include <array>

#include "render_parts.hpp"
#include "socklab/capture/format.hpp"

namespace socklab::capture {
using namespace parts;
namespace {

void put_hex_bytes(TextBuffer& out, std::span<const std::uint8_t> b) {
  static constexpr char digits[] = "0123456789abcdef";
  for (const std::uint8_t x : b) {
    out.push_back(digits[x >> 4]);
    out.push_back(digits[x & 0xf]);
  }
}

std::uint16_t be16(const std::uint8_t* p) { return static_cast<std::uint16_t>((p[0] << 8) | p[1]); }
std::uint32_t be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}

void append_length_note(TextBuffer& out, const AnalyzedPacket& p) {
  fmt::format_to(std::back_inserter(out),
                 "IPv4 total length 0 (tcpdump: bad-len 0): {} bytes taken from the frame, as Wireshark does "
                 "for a capture made before TCP segmentation offload",
                 p.pkt.ip.total_len);
}

// ---- TCP options, as tcpdump's tcp_print() ----

enum class OptionsEnd { ok, bad, truncated };
struct OptionsResult {
  OptionsEnd end = OptionsEnd::ok;
  bool any = false;  // an option was printed before the end (tcpdump then closes the bracket)
};

std::string_view option_name(std::uint8_t opt) {
  switch (opt) {
    case 0: return "eol";
    case 1: return "nop";
    case 2: return "mss";
    case 3: return "wscale";
    case 4: return "sackOK";
    case 5: return "sack";
    case 6: return "echo";
    case 7: return "echoreply";
    case 8: return "TS";
    case 11: return "cc";
    case 12: return "ccnew";
    case 13: return "";
    case 19: return "md5";
    case 20: return "scps";
    case 28: return "uto";
    case 29: return "tcp-ao";
    case 30: return "mptcp";
    case 34: return "tfo";
    case 254: return "exp";
    default: return {};
  }
}

void put_fastopen(TextBuffer& out, std::span<const std::uint8_t> cookie, bool exp) {
  if (exp) put(out, "tfo");
  if (cookie.empty()) {
    put(out, " cookiereq");
  } else if (cookie.size() % 2 != 0 || cookie.size() < 4 || cookie.size() > 16) {
    put(out, " (invalid)");
  } else {
    put(out, " cookie ");
    put_hex_bytes(out, cookie);
  }
}

OptionsEnd put_options_inner(TextBuffer& out, const AnalyzedPacket& p, bool& first);

OptionsResult put_options(TextBuffer& out, const AnalyzedPacket& p) {
  bool first = true;
  const OptionsEnd end = put_options_inner(out, p, first);
  return {end, !first};
}

OptionsEnd put_options_inner(TextBuffer& out, const AnalyzedPacket& p, bool& first) {
  const TcpHeader& t = p.pkt.tcp;
  const std::span<const std::uint8_t> cap = t.options;
  std::size_t hlen = t.header_len > 20 ? t.header_len - 20u : 0u;  // declared bytes left
  std::size_t i = 0;
  while (hlen > 0) {
    if (!first) out.push_back(',');
    if (i >= cap.size()) return OptionsEnd::truncated;
    const std::uint8_t opt = cap[i++];
    std::size_t len = 1;
    if (opt > 1) {
      if (i >= cap.size()) return OptionsEnd::truncated;
      len = cap[i++];
      if (len < 2 || len > hlen) return OptionsEnd::bad;
      --hlen;
    }
    --hlen;
    std::size_t datalen = 0;
    const std::uint8_t* v = cap.data() + i;
    // tcpdump's LENCHECK: the data must be declared, then captured.
    auto available = [&](std::size_t l) -> OptionsEnd {
      if (l > hlen) return OptionsEnd::bad;
      if (i + l > cap.size()) return OptionsEnd::truncated;
      return OptionsEnd::ok;
    };
    const std::string_view name = option_name(opt);
    if (name.data() == nullptr) {
      fmt::format_to(std::back_inserter(out), "unknown-{}", opt);
    } else {
      put(out, name);
    }
    switch (opt) {
      case 2:
      case 3:
      case 20:
      case 28: {
        datalen = opt == 3 ? 1 : 2;
        if (const auto r = available(datalen); r != OptionsEnd::ok) return r;
        if (opt == 2) {
          out.push_back(' ');
          put_u(out, be16(v));
        } else if (opt == 3) {
          out.push_back(' ');
          put_u(out, v[0]);
        } else if (opt == 20) {
          fmt::format_to(std::back_inserter(out), " cap {:02x} id {}", v[0], v[1]);
        } else {
          unsigned uto = be16(v);
          fmt::format_to(std::back_inserter(out), " 0x{:x}", uto);
          uto = (uto & 1) ? (uto >> 1) * 60 : uto >> 1;
          out.push_back(' ');
          put_u(out, uto);
        }
        break;
      }
      case 5: {
        datalen = len - 2;
        if (datalen % 8 != 0) {
          put(out, " invalid sack");
        } else {
          fmt::format_to(std::back_inserter(out), " {} ", datalen / 8);
          for (std::size_t b = 0; b < datalen; b += 8) {
            if (const auto r = available(b + 8); r != OptionsEnd::ok) return r;
            const std::uint32_t s = be32(v + b) - p.ack_base;
            const std::uint32_t e = be32(v + b + 4) - p.ack_base;
            fmt::format_to(std::back_inserter(out), "{{{}:{}}}", s, e);
          }
        }
        break;
      }
      case 6:
      case 7:
      case 11:
      case 12:
      case 13:
        datalen = 4;
        if (const auto r = available(datalen); r != OptionsEnd::ok) return r;
        out.push_back(' ');
        put_u(out, be32(v));
        break;
      case 8:
        datalen = 8;
        if (const auto r = available(datalen); r != OptionsEnd::ok) return r;
        put(out, " val ");
        put_u(out, be32(v));
        put(out, " ecr ");
        put_u(out, be32(v + 4));
        break;
      case 19:
        datalen = 16;
        if (const auto r = available(datalen); r != OptionsEnd::ok) return r;
        // tcpdump built with libcrypto, as Debian's, without -M.
        put(out, " shared secret not supplied with -M, can't check - ");
        put_hex_bytes(out, {v, 16});
        break;
      case 29:
        datalen = len - 2;
        if (datalen < 2) {
          put(out, " (invalid)");
        } else {
          if (const auto r = available(datalen); r != OptionsEnd::ok) return r;
          fmt::format_to(std::back_inserter(out), " keyid {} rnextkeyid {}", v[0], v[1]);
          if (datalen > 2) {
            put(out, " mac 0x");
            put_hex_bytes(out, {v + 2, datalen - 2});
          }
        }
        break;
      case 30:
        // MPTCP: tcpdump decodes the subtype; socklab shows the option's name only.
        datalen = len - 2;
        if (const auto r = available(datalen); r != OptionsEnd::ok) return r;
        break;
      case 34:
        datalen = len - 2;
        if (const auto r = available(datalen); r != OptionsEnd::ok) return r;
        out.push_back(' ');
        put_fastopen(out, {v, datalen}, false);
        break;
      case 254: {
        datalen = len - 2;
        if (const auto r = available(datalen); r != OptionsEnd::ok) return r;
        if (datalen < 2) return OptionsEnd::bad;
        const std::uint16_t magic = be16(v);
        out.push_back('-');
        if (magic == 0xf989) {
          put_fastopen(out, {v + 2, datalen - 2}, true);
        } else {
          fmt::format_to(std::back_inserter(out), "{:04x}", magic);
        }
        break;
      }
      case 0:
      case 1:
      case 4:
        break;
      default:
        datalen = len - 2;
        if (datalen) put(out, " 0x");
        for (std::size_t k = 0; k < datalen; ++k) {
          if (const auto r = available(k + 1); r != OptionsEnd::ok) return r;
          put_hex_bytes(out, {v + k, 1});
        }
        break;
    }
    i += datalen;
    hlen -= datalen;
    std::size_t spec = datalen + 1;
    if (opt > 1) ++spec;
    if (spec != len) fmt::format_to(std::back_inserter(out), "[len {}]", len);
    first = false;
    if (opt == 0) break;
  }
  return OptionsEnd::ok;
}

// ---- lines ----

// `ports_only`: the addresses were printed already, before IPv6 extension
// headers (tcpdump then gives the ports alone: "40000 > 9000: ").
void put_ports_header(TextBuffer& out, const DecodedPacket& d, bool ports_only) {
  if (!ports_only) put_addr(out, d.ip.src);
  if (!ports_only) out.push_back('.');
  put_u(out, d.sport);
  put(out, " > ");
  if (!ports_only) put_addr(out, d.ip.dst);
  if (!ports_only) out.push_back('.');
  put_u(out, d.dport);
  put(out, ": ");
}

void put_addresses_header(TextBuffer& out, const DecodedPacket& d) {
  put_addr(out, d.ip.src);
  put(out, " > ");
  put_addr(out, d.ip.dst);
  put(out, ": ");
}

void put_tcp_line(TextBuffer& out, const AnalyzedPacket& p, bool ports_only) {
  const DecodedPacket& d = p.pkt;
  const TcpHeader& t = d.tcp;
  if (d.reached != Layer::transport) {
    if (has_ports(d)) {
      put_ports_header(out, d, ports_only);
      put(out, " [|tcp]");
    } else {
      if (!ports_only) put_addresses_header(out, d);
      put(out, "[|tcp]");
    }
    return;
  }
  put_ports_header(out, d, ports_only);
  const std::uint32_t seg_len = ip_payload_len(d);
  if (t.header_len < 20) {
    fmt::format_to(std::back_inserter(out), " tcp {} [bad hdr length {} - too short, < 20]",
                   seg_len - t.header_len, t.header_len);
    return;
  }
  put(out, "Flags [");
  append_tcp_flags(out, t.flags);
  out.push_back(']');
  if (t.header_len > seg_len) {
    fmt::format_to(std::back_inserter(out), " [bad hdr length {} - too long, > {}]", t.header_len, seg_len);
    return;
  }
  const std::uint32_t len = d.payload_len;
  if (len > 0 || (t.flags & (tcp_flags::syn | tcp_flags::fin | tcp_flags::rst))) {
    put(out, ", seq ");
    put_u(out, p.seq);
    if (len > 0) {
      out.push_back(':');
      put_u(out, static_cast<std::uint32_t>(p.seq + len));
    }
  }
  if (t.flags & tcp_flags::ack) {
    put(out, ", ack ");
    put_u(out, p.ack);
  }
  put(out, ", win ");
  put_u(out, t.window);
  if (t.flags & tcp_flags::urg) {
    put(out, ", urg ");
    put_u(out, t.urgent);
  }
  if (t.header_len > 20) {
    put(out, ", options [");
    const OptionsResult r = put_options(out, p);
    switch (r.end) {
      case OptionsEnd::ok:
        out.push_back(']');
        break;
      case OptionsEnd::bad:
        put(out, "[bad opt]");
        if (r.any) out.push_back(']');
        return;
      case OptionsEnd::truncated:
        put(out, " [|tcp]");
        return;
    }
  }
  put(out, ", length ");
  put_u(out, len);
}

void put_udp_line(TextBuffer& out, const AnalyzedPacket& p, bool ports_only) {
  const DecodedPacket& d = p.pkt;
  const std::uint32_t ip_len = ip_payload_len(d);
  if (d.reached != Layer::transport) {
    if (has_ports(d)) {
      put_ports_header(out, d, ports_only);
      // tcpdump: a datagram too short for a UDP header, or one cut by the snapshot length.
      if (ip_len < 8) {
        put(out, "truncated-udp ");
        put_u(out, ip_len);
      } else {
        put(out, "[|udp]");
      }
    } else {
      if (!ports_only) put_addresses_header(out, d);
      put(out, "[|udp]");
    }
    return;
  }
  put_ports_header(out, d, ports_only);
  const std::uint16_t ulen = d.udp.length;
  if (ulen < 8) {
    fmt::format_to(std::back_inserter(out), "UDP, [ulen {} < 8] (invalid)", ulen);
  } else if (ulen > ip_len && !d.ip.fragmented()) {  // a first fragment's UDP length is the whole datagram's
    fmt::format_to(std::back_inserter(out), "UDP, bad length {} > {}", ulen - 8, ip_len >= 8 ? ip_len - 8 : 0);
  } else {
    put(out, "UDP, length ");
    put_u(out, ulen - 8u);
  }
}

std::string_view quoted_proto_name(std::uint8_t p) {
  switch (p) {
    case 6: return "tcp";
    case 17: return "udp";
    default: return {};
  }
}

void put_icmp_line(TextBuffer& out, const AnalyzedPacket& p) {
  const DecodedPacket& d = p.pkt;
  const IcmpHeader& m = d.icmp;
  put_addr(out, d.ip.src);
  put(out, " > ");
  put_addr(out, d.ip.dst);
  put(out, ": ICMP ");
  if (d.reached != Layer::transport) {
    put(out, "[|icmp]");
    return;
  }
  const auto it = std::back_inserter(out);
  const std::uint16_t id = static_cast<std::uint16_t>(m.rest >> 16);
  const std::uint16_t sq = static_cast<std::uint16_t>(m.rest & 0xffff);
  switch (m.type) {
    case 0:
      fmt::format_to(it, "echo reply, id {}, seq {}", id, sq);
      break;
    case 8:
      fmt::format_to(it, "echo request, id {}, seq {}", id, sq);
      break;
    case 3: {
      // A quote too short for what the line names (the address, or a port): as tcpdump.
      if (m.quote_cut && (!m.has_quote || (m.code == 3 && !m.quoted_ports))) {
        put(out, "[|icmp]");
        return;
      }
      if (!m.has_quote) {
        put(out, "type-#3");
        break;
      }
      std::array<char, 64> a{};
      const std::size_t an = format_address(m.quoted_dst, a.data());
      const std::string_view dst(a.data(), an);
      switch (m.code) {
        case 0: fmt::format_to(it, "net {} unreachable", dst); break;
        case 1: fmt::format_to(it, "host {} unreachable", dst); break;
        case 2: fmt::format_to(it, "{} protocol {} unreachable", dst, m.quoted_protocol); break;
        case 3: {
          const std::string_view pn = quoted_proto_name(m.quoted_protocol);
          if (!pn.empty()) {
            fmt::format_to(it, "{} {} port {} unreachable", dst, pn, m.quoted_dport);
          } else {
            fmt::format_to(it, "{} protocol {} port {} unreachable", dst, m.quoted_protocol, m.quoted_dport);
          }
          break;
        }
        case 4: {
          const std::uint16_t mtu = static_cast<std::uint16_t>(m.rest & 0xffff);
          if (mtu) {
            fmt::format_to(it, "{} unreachable - need to frag (mtu {})", dst, mtu);
          } else {
            fmt::format_to(it, "{} unreachable - need to frag", dst);
          }
          break;
        }
        case 5: fmt::format_to(it, "{} unreachable - source route failed", dst); break;
        case 6: fmt::format_to(it, "net {} unreachable - unknown", dst); break;
        case 7: fmt::format_to(it, "host {} unreachable - unknown", dst); break;
        case 8: fmt::format_to(it, "{} unreachable - source host isolated", dst); break;
        case 9: fmt::format_to(it, "net {} unreachable - admin prohibited", dst); break;
        case 10: fmt::format_to(it, "host {} unreachable - admin prohibited", dst); break;
        case 11: fmt::format_to(it, "net {} unreachable - tos prohibited", dst); break;
        case 12: fmt::format_to(it, "host {} unreachable - tos prohibited", dst); break;
        case 13: fmt::format_to(it, "host {} unreachable - admin prohibited filter", dst); break;
        case 14: fmt::format_to(it, "host {} unreachable - host precedence violation", dst); break;
        case 15: fmt::format_to(it, "host {} unreachable - precedence cutoff", dst); break;
        default: fmt::format_to(it, "{} unreachable - #{}", dst, m.code); break;
      }
      break;
    }
    case 11:
      put(out, m.code == 0 ? "time exceeded in-transit" : "ip reassembly time exceeded");
      break;
    default:
      fmt::format_to(it, "type-#{}", m.type);
      break;
  }
  put(out, ", length ");
  put_u(out, ip_payload_len(d));
}

std::string_view icmp6_unreach_code(std::uint8_t code) {
  switch (code) {
    case 0: return "unreachable route";
    case 1: return "unreachable prohibited";
    case 2: return "beyond scope";
    case 3: return "unreachable address";
    case 4: return "unreachable port";
    default: return {};
  }
}

void put_icmp6_line(TextBuffer& out, const AnalyzedPacket& p, bool addresses) {
  const DecodedPacket& d = p.pkt;
  const IcmpHeader& m = d.icmp;
  if (addresses) put_addresses_header(out, d);
  put(out, "ICMP6, ");
  if (d.reached != Layer::transport) {
    put(out, "[|icmp6]");
    return;
  }
  const auto it = std::back_inserter(out);
  const std::uint16_t id = static_cast<std::uint16_t>(m.rest >> 16);
  const std::uint16_t sq = static_cast<std::uint16_t>(m.rest & 0xffff);
  switch (m.type) {
    case 1: {
      if (m.quote_cut && (!m.has_quote || (m.code == 4 && !m.quoted_ports))) {
        put(out, "[|icmp6]");  // the quote stops before what the line would name
        return;
      }
      put(out, "destination unreachable, ");
      const std::string_view code = icmp6_unreach_code(m.code);
      if (code.empty()) {
        fmt::format_to(it, "unknown code ({})", m.code);
      } else {
        put(out, code);
      }
      if (m.has_quote) {
        put(out, ", ");
        if (m.code == 4 && m.quoted_ports) {
          put_addr(out, m.quoted_dst);
          const std::string_view pn = quoted_proto_name(m.quoted_protocol);
          if (!pn.empty()) {
            fmt::format_to(it, " {} port {}", pn, m.quoted_dport);
          } else {
            fmt::format_to(it, " protocol {} port {}", m.quoted_protocol, m.quoted_dport);
          }
        } else {
          put_addr(out, m.quoted_dst);
        }
      }
      break;
    }
    case 2: fmt::format_to(it, "packet too big, mtu {}", m.rest); break;
    case 3: put(out, m.code == 0 ? "time exceeded in-transit" : "time exceeded"); break;
    case 4: put(out, "parameter problem"); break;
    case 128: fmt::format_to(it, "echo request, id {}, seq {}", id, sq); break;
    case 129: fmt::format_to(it, "echo reply, id {}, seq {}", id, sq); break;
    case 133: put(out, "router solicitation"); break;
    case 134: put(out, "router advertisement"); break;
    case 135: put(out, "neighbor solicitation"); break;
    case 136: put(out, "neighbor advertisement"); break;
    default: fmt::format_to(it, "type-#{}", m.type); break;
  }
  put(out, ", length ");
  put_u(out, ip_payload_len(d));
}

void put_link_only_line(TextBuffer& out, const AnalyzedPacket& p) {
  const DecodedPacket& d = p.pkt;
  const LinkHeader& l = d.link;
  if (d.reached == Layer::none) {
    put(out, "[|");
    put(out, to_string(l.type));
    put(out, "] ");
    put(out, d.malformed_reason());
    return;
  }
  if (l.type == LinkType::null || l.type == LinkType::loop) {
    fmt::format_to(std::back_inserter(out), "AF Unknown ({}), length {}", l.family, d.wire_len);
    return;
  }
  if (l.protocol == 0x0806) {
    // Ethernet/IPv4 ARP as tcpdump -nn prints it; other kinds just by size.
    const ArpHeader& a = d.arp;
    const std::uint32_t len = d.wire_len - l.length;
    if (a.ethernet_ipv4 && a.op == arp_op::request) {
      put(out, "ARP, Request who-has ");
      put_addr(out, a.target_ip);
      put(out, " tell ");
      put_addr(out, a.sender_ip);
      put(out, ", length ");
      put_u(out, len);
      return;
    }
    if (a.ethernet_ipv4 && a.op == arp_op::reply) {
      put(out, "ARP, Reply ");
      put_addr(out, a.sender_ip);
      put(out, " is-at ");
      append_mac(out, a.sender_mac);
      put(out, ", length ");
      put_u(out, len);
      return;
    }
    put(out, "ARP, length ");
    put_u(out, len);
    return;
  }
  fmt::format_to(std::back_inserter(out), "ethertype Unknown (0x{:04x}), length {}", l.protocol, d.wire_len);
}

}  // namespace

void append_tcp_flags(TextBuffer& out, std::uint16_t flags) {
  static constexpr std::array<std::pair<std::uint16_t, char>, 8> order{{
      {tcp_flags::fin, 'F'}, {tcp_flags::syn, 'S'}, {tcp_flags::rst, 'R'}, {tcp_flags::psh, 'P'},
      {tcp_flags::ack, '.'}, {tcp_flags::urg, 'U'}, {tcp_flags::ece, 'E'}, {tcp_flags::cwr, 'W'}}};
  bool any = false;
  for (const auto& [bit, ch] : order) {
    if (flags & bit) {
      out.push_back(ch);
      any = true;
    }
  }
  if (!any) put(out, "none");
}

void append_tcp_options(TextBuffer& out, const AnalyzedPacket& p) {
  if (p.pkt.proto != Proto::tcp || p.pkt.reached != Layer::transport || p.pkt.tcp.header_len <= 20) return;
  switch (put_options(out, p).end) {
    case OptionsEnd::ok: break;
    case OptionsEnd::bad: put(out, "[bad opt]"); break;
    case OptionsEnd::truncated: put(out, " [|tcp]"); break;
  }
}

void append_tcpdump_line(TextBuffer& out, const AnalyzedPacket& p) {
  const DecodedPacket& d = p.pkt;
  if (d.reached < Layer::network) {
    put_link_only_line(out, p);
    return;
  }
  if (d.link.pppoe) fmt::format_to(std::back_inserter(out), "PPPoE  [ses 0x{:x}] ", d.link.pppoe_session);
  put(out, d.ip.version == 4 ? "IP " : "IP6 ");
  if (d.ip.version == 4 && d.ip.header_len < 20) {
    fmt::format_to(std::back_inserter(out), "bad-hlen {}", d.ip.header_len);
    return;
  }
  // IPv6 extension headers: tcpdump prints the addresses, names each header
  // ("HBH", "DSTOPT", "frag (offset|length)"), then the transport's ports alone.
  const bool chained = d.ip.version == 6 && d.ip.extension_headers > 0;
  if (chained) {
    put_addresses_header(out, d);
    const std::size_t shown = std::min<std::size_t>(d.ip.extension_headers, d.ip.extension_kinds.size());
    for (std::size_t i = 0; i < shown; ++i) {
      switch (d.ip.extension_kinds[i]) {
        case 0: put(out, "HBH "); break;
        case 60: put(out, "DSTOPT "); break;
        case 44:
          fmt::format_to(std::back_inserter(out), "frag ({}|{})", d.ip.fragment_offset, d.ip.fragment_len);
          if (d.ip.fragment_offset != 0) return;  // no transport header in this piece
          out.push_back(' ');
          break;
        default: break;  // routing, AH, mobility...: not named (capture/JSON.md)
      }
    }
    if (d.ip.hop_by_hop_repeated) {  // tcpdump's words
      put(out, d.ip.extension_kinds[0] == 0 ? "[The Hop-by-Hop Options header was already found] (invalid)"
                                            : "[The Hop-by-Hop Options header don't follow the IPv6 header] (invalid)");
      return;
    }
  } else if (d.ip.fragment_offset != 0) {
    // An IPv4 fragment after the first: tcpdump names the protocol, without a length.
    put_addresses_header(out, d);
    fmt::format_to(std::back_inserter(out), "ip-proto-{}", d.ip.protocol);
    return;
  }
  if (d.proto == Proto::other && d.reached == Layer::network) {
    if (!chained) put_addresses_header(out, d);
    if (d.ip.version == 6 && d.ip.protocol == 59) {
      put(out, "no next header");
    } else {
      fmt::format_to(std::back_inserter(out), "ip-proto-{} {}", d.ip.protocol, ip_payload_len(d));
    }
    return;
  }
  switch (d.proto) {
    case Proto::tcp: put_tcp_line(out, p, chained); break;
    case Proto::udp: put_udp_line(out, p, chained); break;
    case Proto::icmp: put_icmp_line(out, p); break;
    case Proto::icmp6: put_icmp6_line(out, p, !chained); break;
    case Proto::other:
      if (!chained) put_addresses_header(out, d);
      put(out, "[|ip]");
      break;
  }
}

void append_icmp_note(TextBuffer& out, const AnalyzedPacket& p) {
  const IcmpHeader& m = p.pkt.icmp;
  if (!has_icmp_note(p)) return;
  const std::string_view pn = quoted_proto_name(m.quoted_protocol);
  const bool port = (p.pkt.proto == Proto::icmp && m.code == 3) || (p.pkt.proto == Proto::icmp6 && m.code == 4);
  const auto it = std::back_inserter(out);
  if (m.quote_cut && (!m.has_quote || (port && !m.quoted_ports))) {
    // Say what is missing rather than guess a port or an address.
    fmt::format_to(it, "quote cut: {} bytes of the datagram, {}", m.quote_len,
                   m.has_quote ? "its ports are missing" : "its IP header is incomplete");
  } else if (port && m.quoted_ports && !pn.empty()) {
    fmt::format_to(it, "{} port {} unreachable", pn, m.quoted_dport);
  } else if (port && m.quoted_ports) {
    fmt::format_to(it, "protocol {} port {} unreachable", m.quoted_protocol, m.quoted_dport);
  } else {
    put(out, "destination ");
    put_addr(out, m.quoted_dst);
    put(out, " unreachable");
  }
  if (p.related != 0) fmt::format_to(it, " (frame {})", p.related);
}

void append_fragment_note(TextBuffer& out, const AnalyzedPacket& p) {
  const IpHeader& ip = p.pkt.ip;
  if (p.pkt.reached < Layer::network || !ip.fragmented()) return;
  const auto it = std::back_inserter(out);
  if (ip.fragment_len == 0) {
    fmt::format_to(it, "fragment at {}", ip.fragment_offset);
  } else {
    fmt::format_to(it, "fragment {}-{}", ip.fragment_offset,
                   std::uint64_t{ip.fragment_offset} + ip.fragment_len - 1);
  }
  // The id as tcpdump -v shows it: decimal for IPv4, hexadecimal for IPv6.
  if (ip.version == 4) {
    fmt::format_to(it, " (id {}", ip.fragment_id);
  } else {
    fmt::format_to(it, " (id 0x{:08x}", ip.fragment_id);
  }
  if (p.phase == Phase::fragment && p.related != 0) fmt::format_to(it, ", first in frame {}", p.related);
  out.push_back(')');
  if (ip.more_fragments) {
    put(out, ", more follow");
  } else {
    put(out, ip.fragment_offset == 0 ? ", the only one" : ", the last");
  }
}

void append_note(TextBuffer& out, const AnalyzedPacket& p) {
  append_icmp_note(out, p);
  if (has_fragment_note(p)) {
    if (has_icmp_note(p)) put(out, "; ");
    append_fragment_note(out, p);
  }
  if (has_length_note(p)) {
    if (has_icmp_note(p) || has_fragment_note(p)) put(out, "; ");
    append_length_note(out, p);
  }
}

void append_notes(TextBuffer& out, const AnalyzedPacket& p) {
  // A later fragment's note starts with "fragment": the phase would say it twice.
  const std::string_view phase = p.phase == Phase::fragment ? std::string_view{} : to_string(p.phase);
  bool any = false;
  auto sep = [&](std::string_view s) {
    if (any) put(out, s);
    any = true;
  };
  if (!phase.empty()) {
    sep("");
    put(out, phase);
  }
  bool first_flag = true;
  for (std::uint32_t bit = 1; bit <= Analysis::keep_alive_ack; bit <<= 1) {
    if ((p.analysis & bit) == 0) continue;
    if (first_flag) {
      sep("; ");
      first_flag = false;
    } else {
      put(out, ", ");
    }
    put(out, analysis_name(bit));
  }
  if (has_icmp_note(p)) {
    sep("; ");
    append_icmp_note(out, p);
  }
  if (has_fragment_note(p)) {
    sep("; ");
    append_fragment_note(out, p);
  }
  if (has_length_note(p)) {
    sep("; ");
    append_length_note(out, p);
  }
  if (p.pkt.malformed) {
    sep("; ");
    put(out, "malformed: ");
    put(out, p.pkt.malformed_reason());
  }
}

void append_preview(TextBuffer& out, const AnalyzedPacket& p, std::size_t max_chars) {
  const auto& pl = p.pkt.payload;
  const std::size_t n = std::min<std::size_t>({pl.size(), max_chars, max_preview_chars});
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint8_t c = pl[i];
    out.push_back(c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '.');
  }
}

void append_endpoint(TextBuffer& out, const AnalyzedPacket& p, bool source) {
  const DecodedPacket& d = p.pkt;
  if (d.reached < Layer::network) return;
  const IpAddress& a = source ? d.ip.src : d.ip.dst;
  const bool ports = has_ports(d);
  if (ports && a.version == 6) out.push_back('[');
  put_addr(out, a);
  if (!ports) return;
  if (a.version == 6) out.push_back(']');
  out.push_back(':');
  put_u(out, source ? d.sport : d.dport);
}

}  // namespace socklab::capture
