// tcpdump-style lines, notes, JSON lines and the layered view, into a reused buffer.
#include "socklab/capture/format.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>

#include <nlohmann/detail/conversions/to_chars.hpp>

namespace socklab::capture {
namespace {

constexpr std::size_t max_preview_chars = 256;

void put(TextBuffer& out, std::string_view s) { out.append(s.data(), s.data() + s.size()); }

void put_u(TextBuffer& out, std::uint64_t v) {
  const fmt::format_int f(v);
  out.append(f.data(), f.data() + f.size());
}

void put_addr(TextBuffer& out, const IpAddress& a) {
  std::array<char, 64> buf{};
  const std::size_t n = format_address(a, buf.data());
  out.append(buf.data(), buf.data() + n);
}

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

bool has_ports(const DecodedPacket& d) {
  return (d.proto == Proto::tcp || d.proto == Proto::udp) &&
         (d.reached == Layer::transport || d.sport != 0 || d.dport != 0);
}

std::uint32_t ip_payload_len(const DecodedPacket& d) {
  return d.ip.total_len >= d.ip.header_len ? d.ip.total_len - d.ip.header_len : 0;
}

bool has_icmp_note(const AnalyzedPacket& p) {
  return p.phase == Phase::unreachable && (p.pkt.icmp.has_quote || p.pkt.icmp.quote_cut);
}

// IPv4 total length 0, decoded with the frame's length (packet.hpp: length_from_frame).
bool has_length_note(const AnalyzedPacket& p) {
  return p.pkt.reached >= Layer::network && p.pkt.ip.version == 4 && p.pkt.ip.length_from_frame;
}

void append_length_note(TextBuffer& out, const AnalyzedPacket& p) {
  fmt::format_to(std::back_inserter(out),
                 "IPv4 total length 0 (tcpdump: bad-len 0): {} bytes taken from the frame, as Wireshark does "
                 "for a capture made before TCP segmentation offload",
                 p.pkt.ip.total_len);
}
bool has_fragment_note(const AnalyzedPacket& p) { return p.pkt.reached >= Layer::network && p.pkt.ip.fragmented(); }

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
    const auto& a = d.network;
    const std::uint32_t len = d.wire_len - l.length;
    if (a.size() >= 28 && be16(a.data()) == 1 && be16(a.data() + 2) == 0x0800 && a[4] == 6 && a[5] == 4) {
      IpAddress spa, tpa;
      spa.version = tpa.version = 4;
      std::memcpy(spa.bytes.data(), a.data() + 14, 4);
      std::memcpy(tpa.bytes.data(), a.data() + 24, 4);
      const std::uint16_t op = be16(a.data() + 6);
      if (op == 1) {
        put(out, "ARP, Request who-has ");
        put_addr(out, tpa);
        put(out, " tell ");
        put_addr(out, spa);
        put(out, ", length ");
        put_u(out, len);
        return;
      }
      if (op == 2) {
        put(out, "ARP, Reply ");
        put_addr(out, spa);
        const std::uint8_t* m = a.data() + 8;
        fmt::format_to(std::back_inserter(out), " is-at {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}, length {}", m[0],
                       m[1], m[2], m[3], m[4], m[5], len);
        return;
      }
    }
    put(out, "ARP, length ");
    put_u(out, len);
    return;
  }
  fmt::format_to(std::back_inserter(out), "ethertype Unknown (0x{:04x}), length {}", l.protocol, d.wire_len);
}

std::string_view analysis_name(std::uint32_t bit) {
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
    default: return {};
  }
}

// ---- JSON ----

void put_json_string(TextBuffer& out, std::string_view s) {
  out.push_back('"');
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': put(out, "\\\""); break;
      case '\\': put(out, "\\\\"); break;
      case '\b': put(out, "\\b"); break;
      case '\f': put(out, "\\f"); break;
      case '\n': put(out, "\\n"); break;
      case '\r': put(out, "\\r"); break;
      case '\t': put(out, "\\t"); break;
      default:
        if (c < 0x20) {
          fmt::format_to(std::back_inserter(out), "\\u{:04x}", c);
        } else {
          out.push_back(ch);
        }
    }
  }
  out.push_back('"');
}

// Keys in nlohmann::json's (sorted) order, so both paths produce the same bytes.
void put_key(TextBuffer& out, std::string_view key, bool& first) {
  if (!first) out.push_back(',');
  first = false;
  out.push_back('"');
  put(out, key);
  put(out, "\":");
}

void put_double(TextBuffer& out, double v) {
  if (!std::isfinite(v)) {
    put(out, "null");
    return;
  }
  std::array<char, 64> buf{};
  char* end = nlohmann::detail::to_chars(buf.data(), buf.data() + buf.size(), v);
  out.append(buf.data(), end);
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

namespace {
// eth_src/eth_dst: only an Ethernet frame whose header was read carries MAC addresses.
// Linux loopback is captured as Ethernet with both addresses zero: it has none to show.
bool has_macs(const DecodedPacket& d) {
  constexpr std::array<std::uint8_t, 6> zero{};
  return d.link.type == LinkType::ethernet && d.reached != Layer::none &&
         (d.link.src_mac != zero || d.link.dst_mac != zero);
}

void append_mac(TextBuffer& out, const std::array<std::uint8_t, 6>& m) {
  fmt::format_to(std::back_inserter(out), "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5]);
}
}  // namespace

void append_json(TextBuffer& out, const AnalyzedPacket& p, std::size_t preview_chars) {
  const DecodedPacket& d = p.pkt;
  const bool tcp = d.proto == Proto::tcp && d.reached == Layer::transport;
  bool first = true;
  out.push_back('{');
  if (tcp) {
    put_key(out, "ack", first);
    put_u(out, p.ack);
    put_key(out, "ack_abs", first);
    put_u(out, d.tcp.ack);
  }
  put_key(out, "analysis", first);
  out.push_back('[');
  bool first_flag = true;
  for (std::uint32_t bit = 1; bit <= Analysis::keep_alive_ack; bit <<= 1) {
    if ((p.analysis & bit) == 0) continue;
    if (!first_flag) out.push_back(',');
    first_flag = false;
    out.push_back('"');
    put(out, analysis_name(bit));
    out.push_back('"');
  }
  out.push_back(']');
  put_key(out, "dst", first);
  out.push_back('"');
  append_endpoint(out, p, false);
  out.push_back('"');
  if (has_macs(d)) {
    put_key(out, "eth_dst", first);
    out.push_back('"');
    append_mac(out, d.link.dst_mac);
    out.push_back('"');
    put_key(out, "eth_src", first);
    out.push_back('"');
    append_mac(out, d.link.src_mac);
    out.push_back('"');
  }
  if (tcp) {
    put_key(out, "flags", first);
    out.push_back('"');
    append_tcp_flags(out, d.tcp.flags);
    out.push_back('"');
  }
  if (has_fragment_note(p)) {
    put_key(out, "fragment", first);
    fmt::format_to(std::back_inserter(out), "{{\"bytes\":{},\"id\":{},\"more\":{},\"offset\":{}}}", d.ip.fragment_len,
                   d.ip.fragment_id, d.ip.more_fragments ? "true" : "false", d.ip.fragment_offset);
  }
  put_key(out, "kind", first);
  put(out, "\"packet\"");
  put_key(out, "len", first);
  put_u(out, d.payload_len);
  put_key(out, "malformed", first);
  put(out, d.malformed ? "true" : "false");
  if (d.malformed) {
    put_key(out, "malformed_reason", first);
    put_json_string(out, d.malformed_reason());
  }
  put_key(out, "n", first);
  put_u(out, p.n);
  if (has_icmp_note(p) || has_fragment_note(p) || has_length_note(p)) {
    put_key(out, "note", first);
    out.push_back('"');
    append_note(out, p);  // ASCII without quotes or backslashes
    out.push_back('"');
  }
  if (tcp && d.tcp.header_len > 20) {
    put_key(out, "options", first);
    out.push_back('"');
    append_tcp_options(out, p);  // printable ASCII without quotes or backslashes
    out.push_back('"');
  }
  put_key(out, "phase", first);
  out.push_back('"');
  put(out, to_string(p.phase));
  out.push_back('"');
  if (!d.payload.empty() && preview_chars > 0) {
    put_key(out, "preview", first);
    std::array<char, max_preview_chars> tmp{};
    const std::size_t n = std::min<std::size_t>({d.payload.size(), preview_chars, tmp.size()});
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint8_t c = d.payload[i];
      tmp[i] = c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '.';
    }
    put_json_string(out, std::string_view(tmp.data(), n));
  }
  put_key(out, "proto", first);
  out.push_back('"');
  put(out, to_string(d.proto));
  out.push_back('"');
  if (p.related != 0) {
    put_key(out, "related", first);
    put_u(out, p.related);
  }
  if (tcp) {
    put_key(out, "seq", first);
    put_u(out, p.seq);
    put_key(out, "seq_abs", first);
    put_u(out, d.tcp.seq);
  }
  put_key(out, "src", first);
  out.push_back('"');
  append_endpoint(out, p, true);
  out.push_back('"');
  if (p.has_stream) {
    put_key(out, "stream", first);
    put_u(out, p.stream);
  }
  put_key(out, "t", first);
  put_double(out, static_cast<double>(p.rel_ns) / 1e9);
  if (tcp) {
    put_key(out, "win", first);
    put_u(out, p.win);
  }
  out.push_back('}');
}

PacketRecord make_record(const AnalyzedPacket& p, std::size_t preview_chars) {
  const DecodedPacket& d = p.pkt;
  PacketRecord r;
  TextBuffer b;
  const auto take = [&b]() {
    std::string s(b.data(), b.size());
    b.clear();
    return s;
  };
  r.n = p.n;
  r.ts_ns = d.ts_ns;
  r.t = static_cast<double>(p.rel_ns) / 1e9;
  append_endpoint(b, p, true);
  r.src = take();
  append_endpoint(b, p, false);
  r.dst = take();
  if (has_macs(d)) {
    append_mac(b, d.link.src_mac);
    r.eth_src = take();
    append_mac(b, d.link.dst_mac);
    r.eth_dst = take();
  }
  r.sport = d.sport;
  r.dport = d.dport;
  r.proto = d.proto;
  r.len = d.payload_len;
  r.phase = p.phase;
  r.analysis = p.analysis;
  r.malformed = d.malformed;
  r.malformed_reason = std::string(d.malformed_reason());
  r.has_stream = p.has_stream;
  r.stream = p.stream;
  r.related = p.related;
  if (d.proto == Proto::tcp && d.reached == Layer::transport) {
    r.is_tcp = true;
    append_tcp_flags(b, d.tcp.flags);
    r.flags = take();
    r.seq = p.seq;
    r.ack = p.ack;
    r.seq_abs = d.tcp.seq;
    r.ack_abs = d.tcp.ack;
    r.win = p.win;
    r.win_raw = d.tcp.window;
    r.win_shift = p.win_shift;
    append_tcp_options(b, p);
    r.options = take();
  }
  append_preview(b, p, preview_chars);
  r.preview = take();
  append_note(b, p);
  r.note = take();
  if (has_fragment_note(p)) {
    r.fragment = IpFragment{d.ip.fragment_id, d.ip.fragment_offset, d.ip.fragment_len, d.ip.more_fragments};
  }
  append_tcpdump_line(b, p);
  r.line = take();
  return r;
}

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
