// PacketRecord: one decoded, analysed packet, owned — the JSON contract.
//
// The fields and names below are what `--json` prints (see capture/JSON.md):
// tests and autograders rely on them, so change them only with that document.
// A record is built on the analysed packet (analyzer.hpp, itself on packet.hpp's
// decoded packet and basic types): make_record() copies out what the contract says.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "socklab/capture/analyzer.hpp"
#include "socklab/capture/packet.hpp"
#include "socklab/capture/raw_packet.hpp"

namespace socklab::capture {

// The names of the set Analysis bits, in the enum's order ("retransmission", "dup_ack", ...).
std::vector<std::string> analysis_names(std::uint32_t bits);

// A piece of a fragmented IP datagram: IPv4 (MF flag or an offset) or IPv6 (a fragment header).
struct IpFragment {
  std::uint32_t id = 0;      // IPv4 identification, or the IPv6 fragment header's
  std::uint32_t offset = 0;  // where this piece starts in the datagram's payload, in bytes
  std::uint32_t bytes = 0;   // how many bytes of that payload it carries
  bool more = false;         // more fragments follow (false: the last piece)
};

struct PacketRecord {
  std::uint64_t n = 0;            // frame number, from 1, as tshark counts
  std::int64_t ts_ns = 0;         // capture time, CLOCK_REALTIME ns
  double t = 0;                   // seconds since the first packet
  std::string src;                // "127.0.0.1:51514", "[::1]:8080"; address only for ICMP; "" without IP
  std::string dst;
  std::string eth_src, eth_dst;   // "02:00:00:00:00:0a" on an Ethernet link; "" where the link has no MACs (lo: none)
  std::uint16_t sport = 0, dport = 0;
  Proto proto = Proto::other;
  bool is_tcp = false;            // a whole TCP header: the TCP-only fields below are meaningful
  std::string flags;              // tcpdump notation: "S", "S.", ".", "P.", "F.", "R", "R.", "FP." (TCP only)
  std::uint32_t seq = 0;          // relative (or absolute when asked), TCP only
  std::uint32_t ack = 0;
  std::uint32_t seq_abs = 0;      // as on the wire (the ISN on a SYN), TCP only
  std::uint32_t ack_abs = 0;
  std::uint32_t len = 0;          // payload bytes (TCP/UDP payload; ICMP: bytes after the ICMP header)
  std::uint32_t win = 0;          // window scaled by the negotiated factor (TCP only; as on the wire when unknown)
  std::uint16_t win_raw = 0;      // the window field as on the wire
  std::int8_t win_shift = -1;     // window-scale shift in use: -1 unknown (handshake not seen), -2 none
  std::string options;            // tcpdump's option list: "mss 65495,sackOK,TS val 1 ecr 0,nop,wscale 7"
  Phase phase = Phase::none;
  std::uint32_t analysis = 0;     // Analysis bits
  bool malformed = false;
  std::string malformed_reason;   // what was wrong, when malformed
  bool has_stream = false;        // TCP, UDP, and ICMP errors quoting one of their flows
  std::uint32_t stream = 0;       // conversation index from 0, as tshark's tcp.stream/udp.stream
  std::string preview;            // printable preview of the payload
  std::string note;               // ICMP: "udp port 40123 unreachable (frame 5)";
                                  // fragments: "fragment 1448-2895 (id 0xeb6c524b, first in frame 4), more follow"
  std::uint64_t related = 0;      // ICMP: the frame of the datagram it answers; a later
                                  // fragment: the frame of its datagram's first fragment (0: none seen)
  std::optional<IpFragment> fragment;  // set when the packet is a fragment
  std::string line;               // the tcpdump-style line (no timestamp)
};

// Everything the JSON contract carries about an analysed packet, owned.
PacketRecord make_record(const AnalyzedPacket& p, std::size_t preview_chars = 32);

// The JSON contract object for one packet (keys as documented in capture/JSON.md);
// written by the same code as format.hpp's append_json.
nlohmann::json to_json(const PacketRecord& r);

struct RecordOptions {
  bool absolute_seq = false;      // print absolute sequence numbers (tcpdump -S)
  std::size_t preview_chars = 32;
};

// Decodes and analyses packets one after another; memory grows with the live
// flows, not with the number of packets. (The allocation-free path underneath
// is PacketAnalyzer in analyzer.hpp, with the renderers in format.hpp.)
class RecordBuilder {
 public:
  explicit RecordBuilder(LinkType link, RecordOptions opts = {});
  ~RecordBuilder();
  RecordBuilder(RecordBuilder&&) noexcept;
  RecordBuilder& operator=(RecordBuilder&&) noexcept;

  PacketRecord next(std::int64_t ts_ns, std::span<const std::uint8_t> bytes, std::uint32_t wire_len);
  PacketRecord next(const RawPacket& p) { return next(p.ts_ns, p.bytes, p.wire_len); }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace socklab::capture
