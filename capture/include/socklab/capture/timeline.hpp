// The ladder: the program's calls and the wire's segments on one time line.
//
//      ms      client :51514 ┬                       ┬ server :8080
//   0.020      connect :8080 │                       │ the client asks to open
//   0.030                    │────── S seq 0 ───────▶│ handshake 1/3
//   0.045                    │◀─── S. seq 0 ack 1 ───│ handshake 2/3
//   0.060                    │                       │ accept :51514
//
// The client is on the left, the server on the right, told apart by port (on
// loopback both addresses are the same). Each segment is one arrow, labelled
// in tcpdump's notation; with several clients, each arrow's client port stands
// beside the client's lifeline. Each call stands in the outer column of its
// side (a server's call in the right-hand column, its note below it); notes
// (the lesson's explanation, or else the segment's phase and Wireshark-style
// analysis flags) go on the right, wrapped to the width. Time is in
// milliseconds since the first entry. Works with packets alone (a pcap file),
// calls alone (a demo run without capture), or both.
//
// Where a call stands in time. A call has a start and an end; the ladder shows
// it once, where it reads right next to the wire:
//   - calls that wait for the peer -- accept, recv, recvfrom, the wait for a
//     non-blocking connect to finish, and a connect that failed (ECONNREFUSED
//     comes with the RST) -- at their END: they return because a segment
//     arrived, so they stand below it;
//   - every other call at its START: connect, send, shutdown and close cause
//     the segments that follow them (connect stands above its SYN).
// At equal times a start-placed call comes before the packet and an end-placed
// call after it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "socklab/capture/record.hpp"
#include "socklab/net/call_recorder.hpp"

namespace socklab::capture {

struct TimelineEntry {
  std::int64_t t_ns = 0;  // where the entry stands (CLOCK_REALTIME ns)
  std::variant<net::CallEvent, PacketRecord> event;
  std::string note;  // the lesson's line for this entry; empty: the ladder's own
};

// The time a call stands at (see above).
std::int64_t place_in_time(const net::CallEvent& call) noexcept;

// Calls and packets as one time line, in order. Notes are empty: fill them in
// (entry.note) before rendering.
std::vector<TimelineEntry> merge_timeline(std::span<const net::CallEvent> calls,
                                          std::span<const PacketRecord> packets);

// What both pictures of a timeline (the terminal ladder here, the HTML page of
// html.hpp) take from the caller: who stands in which column, and in which words.
// One value, so a demo gives both the same columns and the same words.
struct LadderView {
  // The server's port, which puts each packet's ends in their columns. When
  // absent: the port that received a SYN (or sent a SYN-ACK), the port the
  // first datagram of a UDP conversation went to, the local port of calls made
  // on the server side; the lower port when nothing tells.
  std::optional<std::uint16_t> server_port;
  // The picture's words, for a run in another language (the caller supplies
  // them: capture keeps no lesson texts): the column titles (empty: "client" and
  // "server" on the ladder, the page's own words in HTML), and a packet's label
  // where the lesson gave no note (unset: its phase and record note).
  std::string client_word;
  std::string server_word;
  std::function<std::string(const PacketRecord&)> packet_note;
  // The word for an analysis mark in brackets ("retransmission", "malformed"):
  // unset, Wireshark's name for it.
  std::function<std::string(std::string_view)> mark_word;
  // One column per named participant, in this order (a lab lesson: hosts, and a
  // switch or router the lesson shows); empty: the two columns above. A call stands
  // in its participant's column (CallEvent::participant); a packet goes from the
  // column of its source to its destination's, found in column_of by MAC address
  // first ("02:00:00:00:00:0a": a frame through a router is two hops), then by IP
  // address ("10.0.0.1"); a broadcast, or a destination in no column, reaches across
  // every other column. On the ladder up to four columns fit 80 display columns;
  // more widen the picture beyond options.width.
  std::vector<std::string> columns;
  std::map<std::string, std::string> column_of;
  // The columns where a frame was seen (a lab capture's places, by node): a broadcast
  // then reaches only as far as those, not every other column. Unset, or none of
  // the columns: every other column.
  std::function<std::vector<std::string>(const PacketRecord&)> seen_in;
};

struct LadderOptions : LadderView {
  std::size_t width = 80;  // columns, at least 60
  bool unicode = true;     // box drawing; false: ASCII only
  bool color = false;      // ANSI colours (decide with use_color() in terminal.hpp)
};

// The whole picture, one '\n'-terminated line per row, no line wider than
// options.width display columns (wide characters count two).
std::string render_ladder(std::span<const TimelineEntry> timeline, const LadderOptions& options = {});

// The label on a segment's arrow: "S seq 0", "S. seq 0 ack 1", "P. 1:6 len 5",
// ". ack 6", "F. seq 6 ack 7", "R seq 1", "UDP len 5", "ICMP unreachable",
// "frag (1448|1448)" (an IP fragment after the first).
std::string segment_label(const PacketRecord& p);

// A call as the ladder shows it: "connect 127.0.0.1:8080", "accept :51514",
// "send 5 \"hello\"", "recv 0 (EOF)", "connect ✗ ECONNREFUSED".
std::string call_label(const net::CallEvent& call, bool unicode = true);

}  // namespace socklab::capture
