// The report a demo prints after its lesson ran: text for people, JSON lines for programs.
#pragma once

#include <cstdio>
#include <optional>
#include <string>

#include "session.hpp"
#include "socklab/capture/timeline.hpp"

namespace socklab::demo {

struct ReportStyle {
  bool ascii = false;
  bool color = false;
  std::size_t width = 80;
};

// Title and goal (unless --no-lesson), the ladder, the summary, the capture line.
void print_text_report(std::FILE* out, const Session& s, const Lesson& common, const ReportStyle& style,
                       const std::optional<std::string>& failure);
// One JSON object per line: lesson, calls and packets by time, facts and
// verdicts, capture, summary (and error, when the lesson failed).
void print_json_report(std::FILE* out, const Session& s, const std::optional<std::string>& failure);

// Below the ladder, one line per analysis mark it shows ([retransmission], ...):
// what the mark means and why it can happen here, from common.md (keys
// "analysis_" + the mark). Empty when no packet is marked.
std::string explain_analysis(const std::vector<capture::PacketRecord>& packets, const Lesson& common,
                             const ReportStyle& style);

// The ladder: both sides' calls and the wire's segments, by time, with notes.
// A phase's name in the lesson's language ("handshake 1/3", "握手 1/3"); "" for none.
std::string phase_words(capture::Phase p, const Lesson& common);

// The words of the ladder and of the HTML page in a run's language (none for
// English: capture's own, fuller labels): column titles, packet labels, analysis
// marks, from common.md. `common` must outlive the view.
capture::LadderView ladder_words(const Lesson& common, Lang lang);

std::string render_timeline(const Session& s, const Lesson& common, const ReportStyle& style);

// --html: the same lesson as one self-contained page (capture/html.hpp), written
// whole or not at all. Returns the problem when it could not be written.
std::optional<std::string> write_html_report(const std::string& path, const Session& s, const Lesson& common,
                                             const std::optional<std::string>& failure);

}  // namespace socklab::demo
