// PacketAnalyzer: decode + per-conversation analysis, one frame at a time.
//
// TCP: relative sequence numbers per direction, the window scaled by the
// negotiated factor, the segment's phase and Wireshark's tcp.analysis.* flags,
// following Wireshark's rules (tcp_analyze_sequence_number in packet-tcp.c) so
// that socklab and tshark agree frame by frame:
//   - relative numbers: a SYN carries 0; a direction first seen without its SYN
//     starts at 1 (base = seq - 1), and its ACKs at 1 (base = ack - 1);
//   - the window is scaled only when both SYNs carried the window-scale option;
//     when the handshake was not seen the factor is unknown and the window is
//     shown as on the wire (tshark's "window size scaling factor: -1 (unknown)");
//   - a fast or spurious retransmission is also a retransmission (tshark sets both);
//   - a SYN whose sequence number differs from the conversation's first SYN
//     starts a new stream on the same ports (tshark's "reused ports").
// UDP: a stream index per address/port pair; an ICMP/ICMPv6 destination
// unreachable is tied to the last datagram of the flow it quotes.
//
// Memory grows with the live conversations, not with the packets: a TCP flow
// is forgotten after `closed_flow_timeout_s` of capture time once it has
// closed (both FINs or a RST), and any flow after `idle_flow_timeout_s`
// without a packet. The per-packet path allocates nothing once warm.
//
// At most `max_streams` conversations (TCP + UDP, about 450 bytes each) are
// remembered at once. When a new one would pass that, the least recently seen
// closed TCP conversation is forgotten first (it is finished); when none is
// closed, the new conversation is not tracked: its packets are decoded and
// shown without stream, relative numbers, phase or analysis, and
// streams_refused() counts them. (Wireshark has no such bound: tshark grows
// until memory runs out; this keeps a hostile capture from doing that.)
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "socklab/capture/packet.hpp"

namespace socklab::capture {

struct AnalyzerOptions {
  bool absolute_seq = false;          // report absolute sequence numbers (tcpdump -S)
  double closed_flow_timeout_s = 60;  // forget a closed TCP flow after this much idle capture time
  double idle_flow_timeout_s = 600;   // forget any flow after this much idle capture time
  std::size_t max_streams = 100'000;  // conversations remembered at once; 0: no bound
};

// One analysed frame. Valid until the next call to PacketAnalyzer::next(); its
// spans (payload, options) point into the bytes given to that call, which must
// outlive their use.
struct AnalyzedPacket {
  DecodedPacket pkt;
  std::uint64_t n = 0;             // frame number from 1
  std::int64_t rel_ns = 0;         // since the first frame
  bool has_stream = false;
  std::uint32_t stream = 0;        // tcp.stream or udp.stream
  // TCP: what is displayed (relative unless absolute was asked).
  std::uint32_t seq = 0, ack = 0;
  std::uint32_t seq_base = 0;      // displayed = absolute - base (0 with absolute numbers)
  std::uint32_t ack_base = 0;      // the other direction's base, for ACK and SACK blocks
  std::uint32_t win = 0;           // scaled when the factor is known
  std::int8_t win_shift = -1;      // window-scale shift in use; -1 unknown, -2 none negotiated
  Phase phase = Phase::none;
  std::uint32_t analysis = 0;      // Analysis bits
  // ICMP destination unreachable: the frame of the datagram it answers (0: not seen).
  std::uint64_t related = 0;
};

class PacketAnalyzer {
 public:
  explicit PacketAnalyzer(LinkType link, AnalyzerOptions opts = {});
  ~PacketAnalyzer();
  PacketAnalyzer(PacketAnalyzer&&) noexcept;
  PacketAnalyzer& operator=(PacketAnalyzer&&) noexcept;

  const AnalyzedPacket& next(std::int64_t ts_ns, std::span<const std::uint8_t> bytes,
                             std::uint32_t wire_len);

  [[nodiscard]] LinkType link() const noexcept;
  [[nodiscard]] const AnalyzerOptions& options() const noexcept;
  // Conversations currently remembered (TCP + UDP), for memory tests.
  [[nodiscard]] std::size_t live_flows() const noexcept;
  // Packets of new conversations left untracked because max_streams were live.
  [[nodiscard]] std::uint64_t streams_refused() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace socklab::capture
