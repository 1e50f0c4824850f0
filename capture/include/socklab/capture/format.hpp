// Text renderings of an analysed packet, appended to a buffer without
// allocating per packet (the buffer grows once and is reused):
//   - the tcpdump-style line, in tcpdump's notation (`tcpdump -nn`), and the
//     notes that follow it: phase, analysis flags, ICMP ties, malformations (lines.cpp);
//   - the JSON contract object, written by the same code as record.hpp's to_json,
//     so byte for byte what to_json(make_record(p)).dump() gives (packet_json.cpp);
//   - the layered view, one block per header, for the OSI lesson (layers.cpp).
#pragma once

#include <cstddef>
#include <string>

#include <fmt/format.h>

#include "socklab/capture/analyzer.hpp"
#include "socklab/capture/packet.hpp"

namespace socklab::capture {

using TextBuffer = fmt::memory_buffer;

// `IP 127.0.0.1.51514 > 127.0.0.1.40123: Flags [S], seq 0, win 65495, options [...], length 0`
// No timestamp, no newline. Differences from tcpdump, on purpose:
//   - sequence numbers are relative from the first packet of each direction
//     (SYN = 0, as Wireshark) where tcpdump prints the handshake's numbers
//     absolute; with absolute numbers (AnalyzerOptions::absolute_seq) the line
//     is `tcpdump -nn -S`'s;
//   - no application-layer decoding after `length N` (tcpdump adds e.g. `: HTTP: GET /`
//     for well-known ports);
//   - an IPv4 total length of 0 (TSO) is decoded from the frame as Wireshark
//     does, where tcpdump prints `IP bad-len 0`.
void append_tcpdump_line(TextBuffer& out, const AnalyzedPacket& p);

// tcpdump's TCP option list without the brackets: "mss 65495,sackOK,TS val 1 ecr 0,nop,wscale 7".
void append_tcp_options(TextBuffer& out, const AnalyzedPacket& p);

// The notes after a line: "handshake 1/3", "data; retransmission, dup_ack",
// "unreachable; udp port 40123 unreachable (frame 5)", "malformed: ...". Empty when nothing to say.
void append_notes(TextBuffer& out, const AnalyzedPacket& p);

// ICMP: "udp port 40123 unreachable (frame 5)"; empty for other packets.
void append_icmp_note(TextBuffer& out, const AnalyzedPacket& p);

// IP fragments: "fragment 0-1447 (id 63057), more follow",
// "fragment 1448-2895 (id 0xeb6c524b, first in frame 4), the last"; empty for other packets.
void append_fragment_note(TextBuffer& out, const AnalyzedPacket& p);

// The JSON contract's "note": the ICMP note, the fragment note, or both joined by "; ".
void append_note(TextBuffer& out, const AnalyzedPacket& p);

// Printable preview of the captured payload: bytes outside 0x20..0x7e become '.'.
void append_preview(TextBuffer& out, const AnalyzedPacket& p, std::size_t max_chars);

// "127.0.0.1:51514", "[::1]:8080"; the address alone for ICMP and non-port protocols.
void append_endpoint(TextBuffer& out, const AnalyzedPacket& p, bool source);

// The tcpdump flag string: "S", "S.", "P.", "FP.", "none" when no flag is set.
void append_tcp_flags(TextBuffer& out, std::uint16_t flags);

// The JSON contract object for one packet, one line, no newline (capture/JSON.md).
void append_json(TextBuffer& out, const AnalyzedPacket& p, std::size_t preview_chars = 32);

// The layered view: link, network, transport and payload, one block each.
void append_layers(TextBuffer& out, const AnalyzedPacket& p, std::size_t preview_chars = 64);

}  // namespace socklab::capture
