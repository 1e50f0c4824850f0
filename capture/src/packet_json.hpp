// The JSON contract's packet object (capture/JSON.md), written by one function for
// both ways in: an analysed packet (format.hpp's append_json, no allocation per
// packet) and an owned PacketRecord (record.hpp's to_json). Internal to capture/src.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "socklab/capture/analyzer.hpp"
#include "socklab/capture/format.hpp"
#include "socklab/capture/record.hpp"

namespace socklab::capture {

// What the contract says about one packet, its texts borrowed (PacketRecord's fields, as views).
struct PacketFields {
  std::uint64_t n = 0;
  double t = 0;
  std::string_view src, dst, eth_src, eth_dst;
  Proto proto = Proto::other;
  std::uint32_t len = 0;
  Phase phase = Phase::none;
  std::uint32_t analysis = 0;
  bool malformed = false;
  std::string_view malformed_reason;
  bool is_tcp = false;
  std::string_view flags;
  std::uint32_t seq = 0, ack = 0, seq_abs = 0, ack_abs = 0, win = 0;
  std::string_view options;
  bool has_stream = false;
  std::uint32_t stream = 0;
  std::string_view preview, note;
  std::uint64_t related = 0;
  std::optional<IpFragment> fragment;
};

// The fields of an analysed packet; its texts are rendered into `text` (cleared first),
// and the views stay valid while `text` is left alone.
PacketFields fields_of(const AnalyzedPacket& p, std::size_t preview_chars, TextBuffer& text);
// The fields of a record (views into it).
PacketFields fields_of(const PacketRecord& r);

// The one writer of the packet object: one line, no newline, keys in nlohmann::json's order.
void write_packet_json(TextBuffer& out, const PacketFields& f);

}  // namespace socklab::capture
