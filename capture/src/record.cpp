// PacketRecord: make_record from an analysed packet, RecordBuilder on top of PacketAnalyzer.
// (to_json is with the one JSON writer, in packet_json.cpp.)
#include "socklab/capture/record.hpp"

#include "packet_json.hpp"
#include "socklab/capture/format.hpp"

namespace socklab::capture {

std::vector<std::string> analysis_names(std::uint32_t bits) {
  std::vector<std::string> out;
  for (std::uint32_t bit = 1; bit <= Analysis::keep_alive_ack; bit <<= 1) {
    if (bits & bit) out.emplace_back(analysis_name(bit));
  }
  return out;
}

PacketRecord make_record(const AnalyzedPacket& p, std::size_t preview_chars) {
  TextBuffer text;
  const PacketFields f = fields_of(p, preview_chars, text);  // what the JSON line says, so both agree
  PacketRecord r;
  r.n = f.n;
  r.ts_ns = p.pkt.ts_ns;
  r.t = f.t;
  r.src = f.src;
  r.dst = f.dst;
  r.eth_src = f.eth_src;
  r.eth_dst = f.eth_dst;
  r.sport = p.pkt.sport;
  r.dport = p.pkt.dport;
  r.proto = f.proto;
  r.is_tcp = f.is_tcp;
  r.flags = f.flags;
  r.seq = f.seq;
  r.ack = f.ack;
  r.seq_abs = f.seq_abs;
  r.ack_abs = f.ack_abs;
  r.len = f.len;
  r.win = f.win;
  if (f.is_tcp) {
    r.win_raw = p.pkt.tcp.window;
    r.win_shift = p.win_shift;
  }
  r.options = f.options;
  r.phase = f.phase;
  r.analysis = f.analysis;
  r.malformed = f.malformed;
  r.malformed_reason = f.malformed_reason;
  r.has_stream = f.has_stream;
  r.stream = f.stream;
  r.preview = f.preview;
  r.note = f.note;
  r.related = f.related;
  r.fragment = f.fragment;
  text.clear();
  append_tcpdump_line(text, p);
  r.line.assign(text.data(), text.size());
  return r;
}

struct RecordBuilder::Impl {
  PacketAnalyzer analyzer;
  RecordOptions opts;
  Impl(LinkType link, RecordOptions o)
      : analyzer(link, AnalyzerOptions{.absolute_seq = o.absolute_seq}), opts(o) {}
};

RecordBuilder::RecordBuilder(LinkType link, RecordOptions opts) : impl_(std::make_unique<Impl>(link, opts)) {}
RecordBuilder::~RecordBuilder() = default;
RecordBuilder::RecordBuilder(RecordBuilder&&) noexcept = default;
RecordBuilder& RecordBuilder::operator=(RecordBuilder&&) noexcept = default;

PacketRecord RecordBuilder::next(std::int64_t ts_ns, std::span<const std::uint8_t> bytes, std::uint32_t wire_len) {
  return make_record(impl_->analyzer.next(ts_ns, bytes, wire_len), impl_->opts.preview_chars);
}

}  // namespace socklab::capture
