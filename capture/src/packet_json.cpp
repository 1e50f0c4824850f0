// The JSON contract's packet object: one writer, for analysed packets and for records.
#include "packet_json.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <string>

#include <nlohmann/detail/conversions/to_chars.hpp>
#include <nlohmann/json.hpp>

#include "render_parts.hpp"

namespace socklab::capture {
using namespace parts;
namespace {

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

// Keys in nlohmann::json's (sorted) order: to_json(r).dump() gives back the very bytes written.
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

PacketFields fields_of(const AnalyzedPacket& p, std::size_t preview_chars, TextBuffer& text) {
  const DecodedPacket& d = p.pkt;
  text.clear();
  // Offsets first: `text` may move while it grows, so the views are taken at the end.
  struct Piece {
    std::size_t at = 0, size = 0;
  };
  const auto render = [&text](auto&& append) {
    const std::size_t at = text.size();
    append();
    return Piece{at, text.size() - at};
  };
  const Piece src = render([&] { append_endpoint(text, p, true); });
  const Piece dst = render([&] { append_endpoint(text, p, false); });
  Piece eth_src, eth_dst, flags, options;
  if (has_macs(d)) {
    eth_src = render([&] { append_mac(text, d.link.src_mac); });
    eth_dst = render([&] { append_mac(text, d.link.dst_mac); });
  }
  const bool tcp = d.proto == Proto::tcp && d.reached == Layer::transport;
  if (tcp) {
    flags = render([&] { append_tcp_flags(text, d.tcp.flags); });
    options = render([&] { append_tcp_options(text, p); });
  }
  const Piece preview = render([&] { append_preview(text, p, preview_chars); });
  const Piece note = render([&] { append_note(text, p); });
  const auto view = [&text](Piece piece) { return std::string_view(text.data() + piece.at, piece.size); };

  PacketFields f;
  f.n = p.n;
  f.t = static_cast<double>(p.rel_ns) / 1e9;
  f.src = view(src);
  f.dst = view(dst);
  f.eth_src = view(eth_src);
  f.eth_dst = view(eth_dst);
  f.proto = d.proto;
  f.len = d.payload_len;
  f.phase = p.phase;
  f.analysis = p.analysis;
  f.malformed = d.malformed;
  f.malformed_reason = d.malformed_reason();
  f.is_tcp = tcp;
  if (tcp) {
    f.flags = view(flags);
    f.seq = p.seq;
    f.ack = p.ack;
    f.seq_abs = d.tcp.seq;
    f.ack_abs = d.tcp.ack;
    f.win = p.win;
    f.options = view(options);
  }
  f.has_stream = p.has_stream;
  f.stream = p.stream;
  f.preview = view(preview);
  f.note = view(note);
  f.related = p.related;
  if (has_fragment_note(p)) {
    f.fragment = IpFragment{d.ip.fragment_id, d.ip.fragment_offset, d.ip.fragment_len, d.ip.more_fragments};
  }
  return f;
}

PacketFields fields_of(const PacketRecord& r) {
  return PacketFields{.n = r.n,
                      .t = r.t,
                      .src = r.src,
                      .dst = r.dst,
                      .eth_src = r.eth_src,
                      .eth_dst = r.eth_dst,
                      .proto = r.proto,
                      .len = r.len,
                      .phase = r.phase,
                      .analysis = r.analysis,
                      .malformed = r.malformed,
                      .malformed_reason = r.malformed_reason,
                      .is_tcp = r.is_tcp,
                      .flags = r.flags,
                      .seq = r.seq,
                      .ack = r.ack,
                      .seq_abs = r.seq_abs,
                      .ack_abs = r.ack_abs,
                      .win = r.win,
                      .options = r.options,
                      .has_stream = r.has_stream,
                      .stream = r.stream,
                      .preview = r.preview,
                      .note = r.note,
                      .related = r.related,
                      .fragment = r.fragment};
}

void write_packet_json(TextBuffer& out, const PacketFields& f) {
  bool first = true;
  out.push_back('{');
  if (f.is_tcp) {
    put_key(out, "ack", first);
    put_u(out, f.ack);
    put_key(out, "ack_abs", first);
    put_u(out, f.ack_abs);
  }
  put_key(out, "analysis", first);
  out.push_back('[');
  bool first_flag = true;
  for (std::uint32_t bit = 1; bit <= Analysis::keep_alive_ack; bit <<= 1) {
    if ((f.analysis & bit) == 0) continue;
    if (!first_flag) out.push_back(',');
    first_flag = false;
    put_json_string(out, analysis_name(bit));
  }
  out.push_back(']');
  put_key(out, "dst", first);
  put_json_string(out, f.dst);
  if (!f.eth_src.empty()) {
    put_key(out, "eth_dst", first);
    put_json_string(out, f.eth_dst);
    put_key(out, "eth_src", first);
    put_json_string(out, f.eth_src);
  }
  if (f.is_tcp) {
    put_key(out, "flags", first);
    put_json_string(out, f.flags);
  }
  if (f.fragment) {
    put_key(out, "fragment", first);
    fmt::format_to(std::back_inserter(out), "{{\"bytes\":{},\"id\":{},\"more\":{},\"offset\":{}}}",
                   f.fragment->bytes, f.fragment->id, f.fragment->more ? "true" : "false", f.fragment->offset);
  }
  put_key(out, "kind", first);
  put(out, "\"packet\"");
  put_key(out, "len", first);
  put_u(out, f.len);
  put_key(out, "malformed", first);
  put(out, f.malformed ? "true" : "false");
  if (f.malformed) {
    put_key(out, "malformed_reason", first);
    put_json_string(out, f.malformed_reason);
  }
  put_key(out, "n", first);
  put_u(out, f.n);
  if (!f.note.empty()) {
    put_key(out, "note", first);
    put_json_string(out, f.note);
  }
  if (f.is_tcp && !f.options.empty()) {
    put_key(out, "options", first);
    put_json_string(out, f.options);
  }
  put_key(out, "phase", first);
  put_json_string(out, to_string(f.phase));
  if (!f.preview.empty()) {
    put_key(out, "preview", first);
    put_json_string(out, f.preview);
  }
  put_key(out, "proto", first);
  put_json_string(out, to_string(f.proto));
  if (f.related != 0) {
    put_key(out, "related", first);
    put_u(out, f.related);
  }
  if (f.is_tcp) {
    put_key(out, "seq", first);
    put_u(out, f.seq);
    put_key(out, "seq_abs", first);
    put_u(out, f.seq_abs);
  }
  put_key(out, "src", first);
  put_json_string(out, f.src);
  if (f.has_stream) {
    put_key(out, "stream", first);
    put_u(out, f.stream);
  }
  put_key(out, "t", first);
  put_double(out, f.t);
  if (f.is_tcp) {
    put_key(out, "win", first);
    put_u(out, f.win);
  }
  out.push_back('}');
}

void append_json(TextBuffer& out, const AnalyzedPacket& p, std::size_t preview_chars) {
  TextBuffer text;  // inline storage: no allocation for the texts of an ordinary packet
  write_packet_json(out, fields_of(p, preview_chars, text));
}

nlohmann::json to_json(const PacketRecord& r) {
  TextBuffer out;
  write_packet_json(out, fields_of(r));
  return nlohmann::json::parse(std::string_view(out.data(), out.size()));
}

}  // namespace socklab::capture
