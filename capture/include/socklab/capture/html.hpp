// The timeline as one self-contained HTML page: the ladder of ladder.cpp (the
// same columns, labels, notes and colours, from the same model) drawn with
// inline SVG and CSS, for a projector, a browser and paper.
//
//   - one column per participant (client and server, or the hosts, switch and
//     router a lab lesson names), each call beside its participant's lifeline,
//     one arrow per packet with its tcpdump-style label and the note beside it;
//     states as they change;
//   - a time axis in ms; idle gaps of 10 ms and more (a delayed ACK, a SYN
//     retransmitted 1 s later) are drawn compressed and marked with their length;
//   - hover or keyboard focus on an arrow shows the full tcpdump line, the
//     analysis flags and the layers; a call opens (click, Enter) to show its
//     arguments and result;
//   - nothing is fetched: a Content-Security-Policy of default-src 'none'
//     forbids it, the styles and the script are inline, the fonts the system's.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "socklab/capture/analyzer.hpp"
#include "socklab/capture/raw_packet.hpp"
#include "socklab/capture/timeline.hpp"

namespace socklab::capture {

enum class HtmlLang { en, zh };  // the page's own words, and <html lang>

struct HtmlSummaryLine {
  enum class Kind { ok, failed, fact } kind = Kind::fact;  // ✓, ✗, ·
  std::string text;
  std::string detail;  // under the line: what differs and why
};

struct HtmlPage {
  HtmlLang lang = HtmlLang::en;
  std::string title;  // the lesson's title, or the capture file's name
  std::string goal;   // may be empty
  std::string timeline_heading;  // default: the page's own words
  std::string summary_heading;   // the summary is shown only when it has lines
  std::vector<HtmlSummaryLine> summary;
  std::vector<std::string> notices;  // above the timeline: what was left out, a failure
  std::vector<std::string> footer;   // below the summary: capture statistics, files written
  // The columns and the words, as the terminal ladder takes them (one LadderView
  // for both): two columns client and server, or one per named participant; the
  // analysis marks and packet labels in the run's language.
  LadderView view;
  // The layered view of a packet by frame number (packet_layers below), when
  // the caller has its bytes; otherwise the page shows the layers the packet's
  // record carries (network, transport, payload; the link is not kept there).
  std::map<std::uint64_t, std::string> layers;
};

// HtmlPage::layers' text for one packet: link, network, transport, payload, as
// `read --layers` prints them (format.hpp's append_layers).
std::string packet_layers(const AnalyzedPacket& p);
// The same for packets as captured, by frame number, decoded from the first:
// what a demo that kept its packets' bytes gives its page.
std::map<std::uint64_t, std::string> packet_layers(LinkType link, std::span<const RawPacket> packets);

// The whole page, UTF-8.
std::string render_html(std::span<const TimelineEntry> timeline, const HtmlPage& page);

}  // namespace socklab::capture
