#include "report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <optional>
#include <utility>

#include "common_notes.hpp"
#include "error_text.hpp"
#include "render.hpp"
#include "socklab/capture/capture_file.hpp"
#include "socklab/capture/html.hpp"
#include "socklab/capture/terminal.hpp"
#include "socklab/capture/timeline.hpp"

namespace socklab::demo {

namespace {

constexpr std::string_view bold = "\x1b[1m", green = "\x1b[32m", red = "\x1b[31m", reset = "\x1b[0m";

std::string paint(std::string_view text, std::string_view code, bool color) {
  if (!color) return std::string(text);
  return fmt::format("{}{}{}", code, text, reset);
}

void print_wrapped(std::FILE* out, std::string_view text, std::size_t width, std::string_view first,
                   std::string_view rest) {
  const auto lines = capture::wrap(text, width - capture::display_width(first));
  for (std::size_t i = 0; i < lines.size(); ++i) {
    fmt::print(out, "{}{}\n", i == 0 ? first : rest, lines[i]);
  }
}

// What the capture did: packets seen and dropped, the file written, or how to
// turn it on.
std::vector<std::string> capture_lines(const Session& s, const Lesson& common) {
  std::vector<std::string> lines;
  if (s.options().capture && !s.capture_problem() && !s.capture_stats().is_null()) {
    const auto& st = s.capture_stats();
    lines.push_back(common.note(CommonNote{"capture_stats"},
                                {{"captured", st.value("captured", nlohmann::json(0)).dump()},
                                 {"dropped", st.value("dropped_by_kernel", nlohmann::json(0)).dump()}}));
    if (s.packets().empty()) lines.push_back(common.note(CommonNote{"no_packets"}));
    if (st.value("dropped_by_kernel", 0) > 0 || st.value("dropped_by_interface", 0) > 0) {
      lines.push_back(common.note(CommonNote{"kernel_drops"}));
    }
    if (st.contains("pcap")) lines.push_back(common.note(CommonNote{"pcap_written"}, {{"path", st["pcap"].get<std::string>()}}));
  } else if (!s.options().capture && !s.no_wire()) {
#if SOCKLAB_HAVE_PCAP
    lines.push_back(common.note(CommonNote{"see_wire"}, {{"command", rerun_command(s.options(), "--capture", true)}}));
#else
    lines.push_back(common.note(CommonNote{"no_capture_support"}));  // --capture cannot help
#endif
  }
  return lines;
}

// "(expected S S. ., observed S S.)" for a verdict that differs; "" when it holds.
std::string differs_text(const Verdict& v, const Lesson& common) {
  if (v.ok) return {};
  return common.note(CommonNote{"verdict_differs"},
                     {{"expected", render_value(v.expected)}, {"observed", render_value(v.observed)}});
}

// Both sides' calls and the wire's packets on one time line, with the lesson's notes.
std::vector<capture::TimelineEntry> annotated_timeline(const Session& s) {
  const auto calls = s.calls();
  auto timeline = capture::merge_timeline(calls, s.packets());
  std::erase_if(timeline, [&s](const capture::TimelineEntry& e) {  // a flood drawn short (fold_packets)
    const auto* p = std::get_if<capture::PacketRecord>(&e.event);
    return p != nullptr && !s.drawn(*p);
  });
  for (auto& entry : timeline) {
    std::optional<std::string> note;
    if (const auto* call = std::get_if<net::CallEvent>(&entry.event)) {
      note = s.call_note(*call);
    } else {
      note = s.packet_note(std::get<capture::PacketRecord>(entry.event));
    }
    if (note) entry.note = *note;
  }
  return timeline;
}


// Each analysis mark (capture::analysis_names, and "malformed"): its word in the
// run's language and the common.md note that explains it (none for "malformed").
struct Mark {
  std::string_view name;
  CommonNote word;
  std::optional<CommonNote> explanation;
};
constexpr std::array<Mark, 15> kMarks{{
    {"retransmission", CommonNote{"mark_retransmission"}, CommonNote{"analysis_retransmission"}},
    {"fast_retransmission", CommonNote{"mark_fast_retransmission"}, CommonNote{"analysis_fast_retransmission"}},
    {"spurious_retransmission", CommonNote{"mark_spurious_retransmission"}, CommonNote{"analysis_spurious_retransmission"}},
    {"out_of_order", CommonNote{"mark_out_of_order"}, CommonNote{"analysis_out_of_order"}},
    {"lost_segment", CommonNote{"mark_lost_segment"}, CommonNote{"analysis_lost_segment"}},
    {"ack_lost_segment", CommonNote{"mark_ack_lost_segment"}, CommonNote{"analysis_ack_lost_segment"}},
    {"dup_ack", CommonNote{"mark_dup_ack"}, CommonNote{"analysis_dup_ack"}},
    {"zero_window", CommonNote{"mark_zero_window"}, CommonNote{"analysis_zero_window"}},
    {"zero_window_probe", CommonNote{"mark_zero_window_probe"}, CommonNote{"analysis_zero_window_probe"}},
    {"zero_window_probe_ack", CommonNote{"mark_zero_window_probe_ack"}, CommonNote{"analysis_zero_window_probe_ack"}},
    {"window_full", CommonNote{"mark_window_full"}, CommonNote{"analysis_window_full"}},
    {"window_update", CommonNote{"mark_window_update"}, CommonNote{"analysis_window_update"}},
    {"keep_alive", CommonNote{"mark_keep_alive"}, CommonNote{"analysis_keep_alive"}},
    {"keep_alive_ack", CommonNote{"mark_keep_alive_ack"}, CommonNote{"analysis_keep_alive_ack"}},
    {"malformed", CommonNote{"mark_malformed"}, std::nullopt},
}};

const Mark* mark_of(std::string_view name) {
  const auto it = std::find_if(kMarks.begin(), kMarks.end(), [&name](const Mark& m) { return m.name == name; });
  return it == kMarks.end() ? nullptr : &*it;
}

// The mark's word in the lesson's language; a mark without one keeps its name.
std::string mark_word(std::string_view name, const Lesson& common) {
  const Mark* m = mark_of(name);
  return m == nullptr ? std::string(name) : common.note(m->word);
}

}  // namespace

std::string explain_analysis(const std::vector<capture::PacketRecord>& packets, const Lesson& common,
                             const ReportStyle& style) {
  std::vector<std::string> marks;
  for (const auto& p : packets) {
    for (const auto& name : capture::analysis_names(p.analysis)) {
      if (name == "retransmission" && p.phase == capture::Phase::syn_retransmission) continue;  // the ladder says "SYN sent again"
      if (std::find(marks.begin(), marks.end(), name) == marks.end()) marks.push_back(name);
    }
  }
  if (marks.empty()) return {};
  std::string out;
  for (const auto& line : capture::wrap(common.note(CommonNote{"analysis_heading"}), style.width)) out += line + "\n";
  for (const auto& name : marks) {
    const Mark* m = mark_of(name);
    if (m == nullptr || !m->explanation) continue;  // a mark without a text yet: the ladder still shows it
    const auto lines = capture::wrap("[" + common.note(m->word) + "] " + common.note(*m->explanation), style.width - 4);
    for (std::size_t i = 0; i < lines.size(); ++i) out += (i == 0 ? "  " : "    ") + lines[i] + "\n";
  }
  return out;
}

void print_text_report(std::FILE* out, const Session& s, const Lesson& common, const ReportStyle& style,
                       const std::optional<std::string>& failure) {
  if (failure) {
    // The lesson stopped: what ran so far helps find out why; the rest would not.
    if (!s.calls().empty() || !s.packets().empty()) fmt::print(out, "{}", render_timeline(s, common, style));
    return;
  }
  if (!s.options().no_lesson) {
    for (const auto& line : capture::wrap(s.lesson().title(), style.width)) fmt::print(out, "{}\n", paint(line, bold, style.color));
    fmt::print(out, "\n");
    print_wrapped(out, s.lesson().goal(), style.width, "", "");
    fmt::print(out, "\n");
  }

  fmt::print(out, "{}", render_timeline(s, common, style));
  if (s.options().role == Role::client) print_wrapped(out, common.note(CommonNote{"client_only_hint"}), style.width, "", "");
  if (s.options().role == Role::server) print_wrapped(out, common.note(CommonNote{"server_only_hint"}), style.width, "", "");
  fmt::print(out, "\n{}\n", paint(common.note(CommonNote{"summary_heading"}), bold, style.color));
  for (const auto& line : s.summary_order()) {
    if (line.is_verdict) {
      const Verdict& v = s.verdicts()[line.index];
      const std::string mark = style.ascii ? (v.ok ? "[ok]" : "[!!]") : (v.ok ? "✓" : "✗");
      std::string text = v.text;
      if (!v.ok) text += " " + differs_text(v, common);
      const std::string first = "  " + paint(mark, v.ok ? green : red, style.color) + " ";
      const std::string rest(2 + capture::display_width(mark) + 1, ' ');
      const auto lines = capture::wrap(text, style.width - rest.size());
      for (std::size_t i = 0; i < lines.size(); ++i) fmt::print(out, "{}{}\n", i == 0 ? first : rest, lines[i]);
      if (!v.ok && !v.why.empty()) {
        print_wrapped(out, common.note(CommonNote{"why"}, {{"reason", v.why}}), style.width, rest, rest);
      }
    } else {
      const Fact& f = s.facts()[line.index];
      print_wrapped(out, f.text, style.width, style.ascii ? "  - " : "  · ", "    ");
    }
  }

  fmt::print(out, "\n");
  for (const auto& line : capture_lines(s, common)) print_wrapped(out, line, style.width, "", "");
}

void print_json_report(std::FILE* out, const Session& s, const std::optional<std::string>& failure) {
  auto emit = [&](const nlohmann::json& j) { fmt::print(out, "{}\n", j.dump()); };
  const char* role = s.options().role == Role::both ? "both" : s.options().role == Role::server ? "server" : "client";
  emit({{"kind", "lesson"},
        {"demo", s.demo()},
        {"variant", s.variant()},
        {"lang", to_string(s.options().lang)},
        {"title", s.lesson().title()},
        {"role", role},
        {"capture", s.capturing()}});

  // Calls and packets on one time line (both use CLOCK_REALTIME ns).
  const auto calls = s.calls();
  const auto& packets = s.packets();
  // Calls get a "t" on the packets' scale: seconds since the first packet.
  const std::int64_t origin = !packets.empty() ? packets.front().ts_ns : !calls.empty() ? calls.front().t_ns : 0;
  std::size_t c = 0, p = 0;
  while (c < calls.size() || p < packets.size()) {
    const bool take_call = p >= packets.size() || (c < calls.size() && calls[c].t_ns <= packets[p].ts_ns);
    if (take_call) {
      emit(call_to_json(calls[c], s.call_note(calls[c]), origin));
      ++c;
    } else {
      auto j = capture::to_json(packets[p]);
      if (!j.contains("kind")) j["kind"] = "packet";
      if (const auto note = s.packet_note(packets[p])) j["note"] = *note;  // as the ladder shows it
      if (const auto& seen = s.places_of(packets[p]); !seen.empty()) j["seen"] = seen;  // a lab capture's places
      emit(j);
      ++p;
    }
  }

  for (const auto& line : s.summary_order()) {
    if (line.is_verdict) {
      const Verdict& v = s.verdicts()[line.index];
      nlohmann::json j = {{"kind", "verdict"}, {"name", v.name}, {"expected", v.expected},
                          {"observed", v.observed}, {"ok", v.ok}, {"text", v.text}};
      if (!v.ok && !v.why.empty()) j["why"] = v.why;
      emit(j);
    } else {
      const Fact& f = s.facts()[line.index];
      emit({{"kind", "fact"}, {"name", f.name}, {"value", f.value}, {"text", f.text}});
    }
  }

  if (s.options().capture) {
    nlohmann::json j = {{"kind", "capture"}, {"enabled", s.capture_problem() ? false : true}};
    if (s.capture_problem()) {
      j["problem"] = *s.capture_problem();
      j["not_permitted"] = s.capture_not_permitted();
    } else if (s.capture_stats().is_object()) {  // null when the capture was never armed (no port announced)
      j.update(s.capture_stats());
    }
    emit(j);
  }

  nlohmann::json failed = nlohmann::json::array();
  for (const auto& v : s.verdicts()) {
    if (!v.ok) failed.push_back(v.name);
  }
  nlohmann::json summary = {{"kind", "summary"}, {"ok", failed.empty() && !failure},
                            {"verdicts", s.verdicts().size()}, {"failed", failed}};
  if (failure) {
    emit({{"kind", "error"}, {"message", *failure}});
  }
  emit(summary);
}

std::string phase_words(capture::Phase p, const Lesson& common) {
  using capture::Phase;
  const auto step = [&](CommonNote key, const char* n) { return common.note(key, {{"step", n}}); };
  std::string phase;
  switch (p) {
    case Phase::none: break;
    case Phase::handshake_syn: phase = step(CommonNote{"phase_handshake"}, "1"); break;
    case Phase::handshake_synack: phase = step(CommonNote{"phase_handshake"}, "2"); break;
    case Phase::handshake_ack: phase = step(CommonNote{"phase_handshake"}, "3"); break;
    case Phase::syn_retransmission: phase = common.note(CommonNote{"phase_syn_retransmission"}); break;
    case Phase::data: phase = common.note(CommonNote{"phase_data"}); break;
    case Phase::ack: phase = common.note(CommonNote{"phase_ack"}); break;
    case Phase::teardown_fin1: phase = step(CommonNote{"phase_teardown"}, "1"); break;
    case Phase::teardown_ack1: phase = step(CommonNote{"phase_teardown"}, "2"); break;
    case Phase::teardown_fin2: phase = step(CommonNote{"phase_teardown"}, "3"); break;
    case Phase::teardown_fin2_ack1: phase = step(CommonNote{"phase_teardown"}, "2+3"); break;
    case Phase::teardown_ack2: phase = step(CommonNote{"phase_teardown"}, "4"); break;
    case Phase::reset: phase = common.note(CommonNote{"phase_reset"}); break;
    case Phase::refused: phase = common.note(CommonNote{"phase_refused"}); break;
    case Phase::datagram: phase = common.note(CommonNote{"phase_datagram"}); break;
    case Phase::unreachable: phase = common.note(CommonNote{"phase_unreachable"}); break;
    case Phase::fragment: phase = common.note(CommonNote{"phase_fragment"}); break;
  }
  return phase;
}

namespace {

// A packet's label on the ladder in the lesson's words, where the lesson gave it
// no note: its phase, and what an ICMP error answers or which bytes a fragment holds.
std::string packet_words(const capture::PacketRecord& p, const Lesson& common) {
  using capture::Phase;
  const std::string phase = phase_words(p.phase, common);
  if (p.phase == Phase::unreachable && p.related != 0)
    return common.note(CommonNote{"packet_unreachable"}, {{"frame", std::to_string(p.related)}});
  if (p.fragment && p.fragment->bytes > 0) {
    const std::string piece =
        common.note(p.fragment->more ? CommonNote{"packet_fragment_more"} : CommonNote{"packet_fragment"},
                    {{"first", std::to_string(p.fragment->offset)},
                     {"last", std::to_string(std::uint64_t{p.fragment->offset} + p.fragment->bytes - 1)}});
    // A later fragment is only its piece; the first one is also its datagram.
    return p.phase == Phase::fragment || phase.empty() ? piece : phase + "；" + piece;
  }
  return phase;
}

// Who stands in which column and in which words: one view for the ladder and the page.
capture::LadderView ladder_view(const Session& s, const Lesson& common) {
  capture::LadderView view = ladder_words(common, s.options().lang);
  view.server_port = s.server_port();
  if (s.named_participants()) {
    view.columns = s.columns();
    view.column_of = s.column_of();
    view.seen_in = [&s](const capture::PacketRecord& p) {
      std::vector<std::string> nodes;
      for (const auto& place : s.places_of(p)) nodes.push_back(place.substr(0, place.find(':')));  // "A:eth0"
      return nodes;
    };
  }
  return view;
}

CommonNote timeline_heading(const capture::LadderView& view) {
  return view.columns.empty() ? CommonNote{"timeline_heading"} : CommonNote{"timeline_heading_columns"};
}

}  // namespace

capture::LadderView ladder_words(const Lesson& common, Lang lang) {
  capture::LadderView view;
  if (lang == Lang::en) return view;  // English keeps capture's own, fuller labels
  view.client_word = common.note(CommonNote{"ladder_client"});
  view.server_word = common.note(CommonNote{"ladder_server"});
  view.packet_note = [&common](const capture::PacketRecord& p) { return packet_words(p, common); };
  view.mark_word = [&common](std::string_view name) { return mark_word(name, common); };
  return view;
}

std::string render_timeline(const Session& s, const Lesson& common, const ReportStyle& style) {
  const auto timeline = annotated_timeline(s);
  capture::LadderOptions ladder{ladder_view(s, common)};
  ladder.width = style.width;
  ladder.unicode = !style.ascii;
  ladder.color = style.color;
  std::string out = common.note(timeline_heading(ladder)) + "\n";
  out += capture::render_ladder(timeline, ladder);
  out += explain_analysis(s.packets(), common, style);
  return out;
}

std::optional<std::string> write_html_report(const std::string& path, const Session& s, const Lesson& common,
                                             const std::optional<std::string>& failure) {
  capture::HtmlPage page;
  page.lang = s.options().lang == Lang::zh ? capture::HtmlLang::zh : capture::HtmlLang::en;
  page.title = s.lesson().title();
  if (!s.options().no_lesson) page.goal = s.lesson().goal();
  page.view = ladder_view(s, common);
  page.timeline_heading = common.note(timeline_heading(page.view));
  page.summary_heading = common.note(CommonNote{"summary_heading"});
  if (failure) page.notices.push_back(common.note(CommonNote{"failed"}, {{"message", *failure}}));
  if (s.options().role == Role::client) page.notices.push_back(common.note(CommonNote{"client_only_hint"}));
  if (s.options().role == Role::server) page.notices.push_back(common.note(CommonNote{"server_only_hint"}));
  if (!failure) {
    for (const auto& line : s.summary_order()) {
      capture::HtmlSummaryLine out;
      if (line.is_verdict) {
        const Verdict& v = s.verdicts()[line.index];
        out.kind = v.ok ? capture::HtmlSummaryLine::Kind::ok : capture::HtmlSummaryLine::Kind::failed;
        out.text = v.text;
        out.detail = differs_text(v, common);
        if (!v.ok && !v.why.empty()) out.detail += " " + common.note(CommonNote{"why"}, {{"reason", v.why}});
      } else {
        out.text = s.facts()[line.index].text;
      }
      page.summary.push_back(std::move(out));
    }
  }
  page.footer = capture_lines(s, common);
  // The same layers as read --html, from the packets' bytes the session kept.
  page.layers = capture::packet_layers(s.capture_link(), s.raw_packets());
  const auto timeline = annotated_timeline(s);
  if (auto written = capture::write_output_file(path, capture::render_html(timeline, page), "HTML page"); !written)
    return error_text(written.error(), common, s.options().lang);
  return std::nullopt;
}

}  // namespace socklab::demo
