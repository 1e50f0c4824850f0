// PacketRecord, its JSON contract, and RecordBuilder on top of PacketAnalyzer.
#include "socklab/capture/record.hpp"

#include <nlohmann/json.hpp>

#include "socklab/capture/analyzer.hpp"
#include "socklab/capture/format.hpp"

namespace socklab::capture {

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

std::vector<std::string> analysis_names(std::uint32_t bits) {
  static constexpr std::array<std::string_view, 14> names{
      "retransmission", "fast_retransmission", "spurious_retransmission", "out_of_order",
      "lost_segment",   "ack_lost_segment",    "dup_ack",                 "zero_window",
      "zero_window_probe", "zero_window_probe_ack", "window_full",       "window_update",
      "keep_alive",     "keep_alive_ack"};
  std::vector<std::string> out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (bits & (1u << i)) out.emplace_back(names[i]);
  }
  return out;
}

nlohmann::json to_json(const PacketRecord& r) {
  nlohmann::json j;
  j["kind"] = "packet";
  j["n"] = r.n;
  j["t"] = r.t;
  j["src"] = r.src;
  j["dst"] = r.dst;
  if (!r.eth_src.empty()) {
    j["eth_src"] = r.eth_src;
    j["eth_dst"] = r.eth_dst;
  }
  j["proto"] = std::string(to_string(r.proto));
  j["len"] = r.len;
  j["phase"] = std::string(to_string(r.phase));
  j["analysis"] = analysis_names(r.analysis);
  j["malformed"] = r.malformed;
  if (r.malformed) j["malformed_reason"] = r.malformed_reason;
  if (r.is_tcp) {
    j["flags"] = r.flags;
    j["seq"] = r.seq;
    j["ack"] = r.ack;
    j["seq_abs"] = r.seq_abs;
    j["ack_abs"] = r.ack_abs;
    j["win"] = r.win;
    if (!r.options.empty()) j["options"] = r.options;
  }
  if (r.has_stream) j["stream"] = r.stream;
  if (!r.preview.empty()) j["preview"] = r.preview;
  if (!r.note.empty()) j["note"] = r.note;
  if (r.related != 0) j["related"] = r.related;
  if (r.fragment) {
    j["fragment"] = {{"id", r.fragment->id},
                     {"offset", r.fragment->offset},
                     {"bytes", r.fragment->bytes},
                     {"more", r.fragment->more}};
  }
  return j;
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
