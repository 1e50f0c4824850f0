#include <cerrno>
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <map>
#include <set>
#include <string_view>

#include <fmt/format.h>

#include "ladder_model.hpp"
#include "socklab/capture/terminal.hpp"
#include "socklab/capture/timeline.hpp"
#include "socklab/net/error.hpp"


namespace socklab::capture {

namespace {

bool moves_data(std::string_view call) {
  return call == "send" || call == "sendto" || call == "recv" || call == "recvfrom";
}

std::vector<std::string> split_words(std::string_view text) {
  std::vector<std::string> words;
  for (std::size_t pos = 0; pos < text.size();) {
    const auto end = std::min(text.find(' ', pos), text.size());
    if (end > pos) words.emplace_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  return words;
}

// "127.0.0.1:8080" -> ":8080"; anything else unchanged.
std::string port_only(const std::string& text) {
  const auto port = ladder_model::port_of(text);
  return port ? fmt::format(":{}", *port) : text;
}

}  // namespace

namespace ladder_model {

std::optional<std::uint16_t> port_of(std::string_view endpoint) {
  const auto colon = endpoint.rfind(':');
  if (colon == std::string_view::npos || colon + 1 >= endpoint.size()) return std::nullopt;
  if (endpoint.front() != '[' && endpoint.find(':') != colon) return std::nullopt;  // bare IPv6
  unsigned value = 0;
  const auto* first = endpoint.data() + colon + 1;
  const auto* last = endpoint.data() + endpoint.size();
  const auto [end, ec] = std::from_chars(first, last, value);
  if (ec != std::errc{} || end != last || value > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

std::optional<std::uint16_t> bound_port_of(std::string_view endpoint) {
  const auto port = port_of(endpoint);
  if (port && *port == 0) return std::nullopt;
  return port;
}

Tone packet_tone(const PacketRecord& p) {
  if (p.proto == Proto::icmp || p.proto == Proto::icmp6 || has_flag(p, 'R')) return Tone::reset;
  if (has_flag(p, 'S')) return Tone::open;
  if (has_flag(p, 'F')) return Tone::close;
  if (p.len > 0) return Tone::data;
  return Tone::plain;
}

std::string printable(std::string text) {
  for (char& ch : text)
    if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) ch = ' ';
  return text;
}

CallText describe_call(const net::CallEvent& c, bool unicode) {
  CallText t;
  // A non-blocking connect's EINPROGRESS is the SYN on its way, not a failure.
  if (c.err == EINPROGRESS)
    t.failure = fmt::format("{} EINPROGRESS", unicode ? "…" : "...");
  else if (c.err != 0 || c.result < 0)
    t.failure = fmt::format("{} {}", unicode ? "✗" : "!", c.err != 0 ? net::errno_name(c.err) : "failed");
  const std::string preview = c.preview.empty() ? "" : fmt::format(" \"{}\"", c.preview);
  auto with = [](std::string_view call, const std::string& args) {
    return args.empty() ? std::string(call) : fmt::format("{} {}", call, args);
  };
  if (!t.failure.empty()) {
    t.full = with(c.call, c.args);
    t.compact = with(c.call, port_only(c.args));
  } else if (c.call == "accept") {
    const auto port = port_of(c.peer);
    t.full = port ? fmt::format("accept :{}", *port) : with("accept", c.args);
  } else if (moves_data(c.call)) {
    // args: the size asked for, then what else matters (recvfrom's sender
    // "127.0.0.1:40001", "MSG_PEEK", "MSG_TRUNC"). The ladder shows the size the
    // call returned, and an arrow before the address a datagram came from, so the
    // line reads the same in every language.
    std::string extra, extra_compact, flags;
    const auto words = split_words(c.args);
    for (std::size_t i = 0; i < words.size(); ++i) {
      if (i == 0 && !words[i].empty() && std::isdigit(static_cast<unsigned char>(words[i][0]))) continue;
      const bool flag = words[i].starts_with("MSG_");
      const std::string from = c.call == "recvfrom" && !flag ? (unicode ? "← " : "<- ") : "";
      extra += " " + from + words[i];
      extra_compact += " " + from + port_only(words[i]);
      if (flag) flags += " " + words[i];
    }
    const std::string result = c.result == 0 && c.call == "recv" ? "0 (EOF)" : std::to_string(c.result);
    t.full = fmt::format("{} {}{}{}", c.call, result, extra, preview);
    t.bare = fmt::format("{} {}{}", c.call, result, extra_compact);
    t.compact = t.bare + preview;
    t.minimal = fmt::format("{} {}{}", c.call, result, flags);
    t.preview = c.preview;
  } else if (c.call == "state") {
    t.full = fmt::format("[{}]", c.args);
  } else if (c.call == "note") {
    t.full = c.args;
  } else {
    t.full = with(c.call, c.args);
    t.compact = with(c.call, port_only(c.args));
  }
  if (t.compact.empty()) t.compact = t.full;
  if (t.minimal.empty()) t.minimal = c.call == "state" || c.call == "note" ? t.full : c.call;
  if (t.bare.empty()) t.bare = t.compact;
  for (std::string* text : {&t.full, &t.compact, &t.bare, &t.minimal, &t.preview})
    *text = printable(std::move(*text));
  return t;
}

std::string mark_word(const std::function<std::string(std::string_view)>& words, std::string_view name) {
  return words ? words(name) : std::string(name);
}

std::string note_for(const TimelineEntry& e, const std::function<std::string(const PacketRecord&)>& own_note,
                     const std::function<std::string(std::string_view)>& mark_word) {
  const auto word = [&mark_word](std::string_view name) { return ladder_model::mark_word(mark_word, name); };
  const auto* p = std::get_if<PacketRecord>(&e.event);
  if (p == nullptr) return e.note;
  std::string note = e.note;
  if (note.empty() && own_note) {
    note = own_note(*p);
  } else if (note.empty()) {
    note = std::string(to_string(p->phase));
    if ((p->proto == Proto::icmp || p->proto == Proto::icmp6 || p->phase == Phase::fragment) && !p->note.empty()) {
      note = p->note;
    } else if (p->fragment && !p->note.empty()) {
      note += (note.empty() ? "" : "; ") + p->note;  // a first fragment: "datagram; fragment 0-1447 ..."
    }
  }
  std::string tags;
  if (p->malformed) tags = word("malformed");
  for (const auto& name : analysis_names(p->analysis)) {
    if (name == "retransmission" && p->phase == Phase::syn_retransmission) continue;  // said by the phase
    tags += (tags.empty() ? "" : ", ") + word(name);
  }
  if (!tags.empty()) note = "[" + tags + "]" + (note.empty() ? "" : " " + note);
  return note;
}

// The column a packet's end belongs to: by MAC first (each hop of a routed frame is
// its own arrow), then by IP address; nullopt when neither is in a column.
static std::optional<std::size_t> column_index(const LadderView& v, const std::string& mac, const std::string& endpoint) {
  auto find = [&](const std::string& key) -> std::optional<std::size_t> {
    const auto it = v.column_of.find(key);
    if (key.empty() || it == v.column_of.end()) return std::nullopt;
    const auto col = std::find(v.columns.begin(), v.columns.end(), it->second);
    if (col == v.columns.end()) return std::nullopt;
    return static_cast<std::size_t>(col - v.columns.begin());
  };
  if (auto by_mac = find(mac)) return by_mac;
  std::string address = endpoint;
  if (port_of(address)) address = address.substr(0, address.rfind(':'));
  if (address.size() > 2 && address.front() == '[') address = address.substr(1, address.size() - 2);
  return find(address);
}

std::string label_in(const PacketRecord& p, std::size_t room) {
  std::string label = printable(segment_label(p));
  if (display_width(label) <= room || p.proto != Proto::other) return label;
  if (p.line.starts_with("ARP, Request")) return "ARP who-has";
  if (p.line.starts_with("ARP, Reply")) return "ARP is-at";
  return label;
}

std::vector<Arrow> column_arrows(const LadderView& view, const PacketRecord& p) {
  const std::size_t n = view.columns.size();
  const auto from = column_index(view, p.eth_src, p.src);
  const auto to = p.eth_dst == "ff:ff:ff:ff:ff:ff" ? std::nullopt : column_index(view, p.eth_dst, p.dst);
  if (from && to && *from != *to) return {{*from, *to, true}};
  std::vector<Arrow> out;
  if (from && n > 1) {
    // Everyone else: towards both edges, the label on the longer side; a frame whose
    // places are known reaches only the columns that saw it (a broadcast stops at the
    // router: the other LAN never sees it).
    std::size_t left = 0, right = n - 1;
    if (view.seen_in) {
      std::vector<std::size_t> seen;
      for (const auto& name : view.seen_in(p)) {
        const auto col = std::find(view.columns.begin(), view.columns.end(), name);
        if (col != view.columns.end()) seen.push_back(static_cast<std::size_t>(col - view.columns.begin()));
      }
      if (std::ranges::any_of(seen, [&](std::size_t k) { return k != *from; })) {
        seen.push_back(*from);
        left = std::ranges::min(seen);
        right = std::ranges::max(seen);
      }
    }
    const bool right_longer = right - *from >= *from - left;
    if (*from < right) out.push_back({*from, right, right_longer});
    if (*from > left) out.push_back({*from, left, !right_longer});
  }
  return out;
}

std::string participant_of(const net::CallEvent& c) {
  return c.participant.empty() ? std::string(net::to_string(c.side)) : c.participant;
}

std::optional<std::size_t> call_column(const LadderView& view, const net::CallEvent& c) {
  const auto col = std::find(view.columns.begin(), view.columns.end(), participant_of(c));
  if (col == view.columns.end()) return std::nullopt;
  return static_cast<std::size_t>(col - view.columns.begin());
}

}  // namespace ladder_model

namespace {

using namespace ladder_model;

struct Ansi {
  bool on;
  [[nodiscard]] std::string paint(std::string_view text, std::string_view code) const {
    if (!on || text.empty()) return std::string(text);
    return fmt::format("\x1b[{}m{}\x1b[0m", code, text);
  }
};
constexpr std::string_view red = "31", green = "32", yellow = "33", blue = "34", magenta = "35",
                           cyan = "36", dim = "2";

std::string_view packet_color(const PacketRecord& p) {
  switch (packet_tone(p)) {
    case Tone::reset: return red;
    case Tone::open: return green;
    case Tone::close: return yellow;
    case Tone::data: return cyan;
    case Tone::plain: break;
  }
  return {};
}

struct Geometry {
  std::size_t time, client, arrow, right;
};

Geometry layout(std::size_t width, std::size_t time_width) {
  width = std::max<std::size_t>(width, 60);
  const std::size_t rest = width - time_width - 1;
  Geometry g{time_width, rest * 26 / 100, rest * 32 / 100, 0};
  g.right = rest - g.client - g.arrow - 3;  // two lifelines and a space
  return g;
}

std::string arrow(std::string_view label, std::size_t width, bool to_right, bool unicode) {
  const std::string dash = unicode ? "─" : "-";
  const std::string text = fit(label, width - 5, unicode);
  const std::size_t dashes = width - display_width(text) - 3;  // two spaces and the head
  const std::size_t left = dashes / 2, right = dashes - left;
  std::string out;
  auto run = [&](std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) out += dash;
  };
  if (!to_right) out += unicode ? "◀" : "<";
  run(left);
  out += ' ';
  out += text;
  out += ' ';
  run(right);
  if (to_right) out += unicode ? "▶" : ">";
  return out;
}

}  // namespace

using namespace ladder_model;


std::string segment_label(const PacketRecord& p) {
  // A fragment after the first, in tcpdump's notation: where it starts and how many bytes.
  if (p.phase == Phase::fragment && p.fragment) return fmt::format("frag ({}|{})", p.fragment->offset, p.fragment->bytes);
  switch (p.proto) {
    case Proto::tcp: {
      const std::string& f = p.flags;
      if (p.len > 0) return fmt::format("{} {}:{} len {}", f, p.seq, p.seq + p.len, p.len);
      if (has_flag(p, 'S') || has_flag(p, 'F') || has_flag(p, 'R')) {
        if (has_flag(p, '.')) return fmt::format("{} seq {} ack {}", f, p.seq, p.ack);
        return fmt::format("{} seq {}", f, p.seq);
      }
      return fmt::format("{} ack {}", f.empty() ? "." : f, p.ack);
    }
    case Proto::udp: return fmt::format("UDP len {}", p.len);
    case Proto::icmp:
    case Proto::icmp6: {
      const std::string_view name = p.proto == Proto::icmp ? "ICMP" : "ICMP6";
      if (p.phase == Phase::unreachable) return fmt::format("{} unreachable", name);
      return std::string(name);
    }
    case Proto::other: {
      // ARP in tcpdump's words, from its line: "ARP who-has 10.0.0.3 tell 10.0.0.1",
      // "ARP 10.0.0.3 is-at 02:00:00:00:00:0c" (the lab lessons' first frames).
      for (std::string_view lead : {"ARP, Request ", "ARP, Reply "}) {
        if (!p.line.starts_with(lead)) continue;
        std::string_view rest = std::string_view(p.line).substr(lead.size());
        rest = rest.substr(0, rest.rfind(", length"));
        return fmt::format("ARP {}", rest);
      }
      break;
    }
  }
  return fmt::format("{} len {}", to_string(p.proto), p.len);
}

std::string call_label(const net::CallEvent& c, bool unicode) {
  const CallText t = describe_call(c, unicode);
  return t.failure.empty() ? t.full : t.full + " " + t.failure;
}

namespace {

// One column per participant (LadderOptions::columns): the first column's calls stand
// left of its lifeline, the last one's in the note column, every other one's in the
// gap right of its lifeline.
// The time column: each entry's milliseconds since the earliest, and its width.
struct TimeColumn {
  std::vector<std::string> times;
  std::size_t width = 2;
};

TimeColumn time_column(std::span<const TimelineEntry> timeline) {
  TimeColumn c;
  std::int64_t t0 = 0;
  if (!timeline.empty()) {
    t0 = std::min_element(timeline.begin(), timeline.end(), [](const auto& a, const auto& b) {
           return a.t_ns < b.t_ns;
         })->t_ns;
  }
  for (const auto& e : timeline) {
    c.times.push_back(fmt::format("{:.3f}", static_cast<double>(e.t_ns - t0) / 1e6));
    c.width = std::max(c.width, c.times.back().size());
  }
  return c;
}

std::string render_columns(std::span<const TimelineEntry> timeline, const LadderOptions& options) {
  const bool uni = options.unicode;
  const Ansi ansi{options.color};
  const std::size_t n = options.columns.size();
  const std::string line = uni ? "│" : "|", top = uni ? "┬" : "+", bottom = uni ? "┴" : "+";

  const auto [times, time_width] = time_column(timeline);
  // Up to four columns fit 80: the gaps never shrink below what "S. seq 0 ack 1"
  // needs cut to its flags and numbers; more columns widen the picture instead.
  constexpr std::size_t left_width = 10, min_gap = 13, max_gap = 28, min_note = 18;
  const std::size_t avail = std::max<std::size_t>(options.width, 60) - time_width - 1;
  std::size_t gap = max_gap;
  if (n > 1) {
    const std::size_t fixed = left_width + n + 1 + min_note;
    gap = avail > fixed ? std::clamp((avail - fixed) / (n - 1), min_gap, max_gap) : min_gap;
  }
  const std::size_t used = left_width + n + 1 + (n > 1 ? (n - 1) * gap : 0);
  const std::size_t note_width = avail > used + min_note ? avail - used : min_note;

  // A row: the left area, then lifeline and gap in turn (no gap after the last).
  struct Row {
    std::vector<std::string> pieces;
  };
  auto blank_row = [&] {
    Row r;
    r.pieces.push_back(std::string(left_width, ' '));
    for (std::size_t k = 0; k < n; ++k) {
      r.pieces.push_back(line);
      if (k + 1 < n) r.pieces.push_back(std::string(gap, ' '));
    }
    return r;
  };
  auto span_width = [&](std::size_t from, std::size_t to) { return (to - from) * gap + (to - from - 1); };
  std::string out;
  auto emit = [&](std::string_view time, const Row& r, std::string_view note) {
    std::string row = std::string(time) + " ";
    for (const auto& piece : r.pieces) row += piece;
    if (!note.empty()) row += fmt::format(" {}", note);
    out += row + '\n';
  };
  const std::string blank_time(time_width, ' ');
  auto continue_note = [&](std::span<const std::string> lines) {
    for (const auto& l : lines) emit(blank_time, blank_row(), l);
  };

  // The header: each lifeline starts with the participant's name beside it.
  {
    std::string head = pad_left("ms", time_width) + " " + std::string(left_width, ' ');
    for (std::size_t k = 0; k < n; ++k) {
      head += top;
      const std::size_t room = k + 1 < n ? gap : note_width + 1;
      const std::string name = fit(" " + options.columns[k], room, uni);
      head += k + 1 < n ? name + std::string(room - display_width(name), ' ') : name;
    }
    out += head + '\n';
  }

  for (std::size_t i = 0; i < timeline.size(); ++i) {
    const TimelineEntry& e = timeline[i];
    const std::string time = ansi.paint(pad_left(times[i], time_width), dim);
    std::vector<std::string> note = wrap(printable(note_for(e, options.packet_note, options.mark_word)), note_width);
    if (note.size() == 1 && note[0].empty()) note.clear();
    Row row = blank_row();

    if (const auto* p = std::get_if<PacketRecord>(&e.event)) {
      const auto arrows = column_arrows(options, *p);
      const std::string label = printable(segment_label(*p));
      const std::string_view color = packet_color(*p);
      // One arrow from `a` to `b` over the pieces between their lifelines.
      auto draw = [&](std::size_t a, std::size_t b, bool with_label) {
        const std::size_t lo = std::min(a, b), hi = std::max(a, b);
        const std::size_t width = span_width(lo, hi);
        std::string text;
        if (with_label) {
          text = arrow(label_in(*p, width - 5), width, b > a, uni);
        } else {  // the other way of a broadcast: dashes only
          if (b < a) text += uni ? "◀" : "<";
          for (std::size_t k = 0; k + 1 < width; ++k) text += uni ? "─" : "-";
          if (b > a) text += uni ? "▶" : ">";
        }
        const std::size_t first = 2 + 2 * lo, last = 2 * hi;  // gap lo .. gap hi-1
        row.pieces[first] = ansi.paint(text, color);
        for (std::size_t k = first + 1; k <= last; ++k) row.pieces[k].clear();
      };
      for (const Arrow& a : arrows) draw(a.from, a.to, a.labelled);
      if (arrows.empty()) note.insert(note.begin(), label);  // nothing tells where it goes: said in words
      emit(time, row, note.empty() ? "" : note.front());
      if (!note.empty()) continue_note(std::span(note).subspan(1));
      continue;
    }
    const auto& c = std::get<net::CallEvent>(e.event);
    const std::string who = participant_of(c);
    const auto col = call_column(options, c);
    const std::size_t k = col.value_or(n);
    const CallText text = describe_call(c, uni);
    const bool in_note = !col || k + 1 == n;
    const std::size_t room = in_note ? note_width : k == 0 ? left_width - 1 : gap - 1;
    std::string label;
    for (const std::string* form : {&text.full, &text.compact, &text.bare, &text.minimal}) {
      const std::string with = text.failure.empty() ? *form : *form + " " + text.failure;
      if (display_width(with) <= room) {
        label = with;
        break;
      }
    }
    if (label.empty()) label = fit(text.minimal, room, uni);
    if (in_note) {
      const std::string shown = !col ? who + ": " + label : label;
      emit(time, row, ansi.paint(shown, magenta));
      continue_note(note);
      continue;
    }
    if (k == 0) {
      row.pieces[0] = ansi.paint(pad_left(label, left_width - 1), blue) + " ";
    } else {
      row.pieces[2 * k + 2] = " " + ansi.paint(label, blue) + std::string(gap - 1 - display_width(label), ' ');
    }
    emit(time, row, note.empty() ? "" : note.front());
    if (!note.empty()) continue_note(std::span(note).subspan(1));
  }
  if (timeline.empty()) emit(blank_time, blank_row(), "(no calls and no packets)");
  Row last = blank_row();
  for (std::size_t k = 0; k < n; ++k) last.pieces[1 + 2 * k] = bottom;
  emit(blank_time, last, "");
  return out;
}

}  // namespace

std::string render_ladder(std::span<const TimelineEntry> timeline, const LadderOptions& options) {
  if (!options.columns.empty()) return render_columns(timeline, options);
  const bool uni = options.unicode;
  const Ansi ansi{options.color};
  const Sides sides(timeline, options.server_port);
  const std::string line = uni ? "│" : "|";

  const auto [times, time_width] = time_column(timeline);
  Geometry g = layout(options.width, time_width);
  // Labels such as "P. 32782:65550 len 32768" need more than the arrow's default
  // share; when the right column's text is short (a capture read alone: phases
  // only), the arrow takes the room the right column does not use.
  std::size_t label_need = 0, right_need = 0;
  for (const auto& e : timeline) {
    if (const auto* p = std::get_if<PacketRecord>(&e.event)) {
      label_need = std::max(label_need, display_width(printable(segment_label(*p))) + 5);
    } else if (sides.is_server_call(std::get<net::CallEvent>(e.event))) {
      right_need = std::max(right_need, display_width(call_label(std::get<net::CallEvent>(e.event), uni)));
    }
    right_need = std::max(right_need, display_width(printable(note_for(e, options.packet_note, options.mark_word))));
  }
  if (label_need > g.arrow && right_need < g.right) {
    const std::size_t give = std::min(label_need - g.arrow, g.right - std::max<std::size_t>(right_need, 12));
    if (g.right > std::max<std::size_t>(right_need, 12)) {
      g.arrow += give;
      g.right -= give;
    }
  }
  const std::string blank_time(g.time, ' ');
  const std::string blank_client(g.client, ' ');
  const std::string blank_arrow(g.arrow, ' ');

  std::string out;
  auto emit = [&](std::string_view time, std::string_view left, std::string_view middle,
                  std::string_view right) {
    std::string row = fmt::format("{} {}{}{}{}", time, left, line, middle, line);
    if (!right.empty()) row += fmt::format(" {}", right);
    out += row;
    out += '\n';
  };
  // Rows after the first of an entry: the lifelines go on, the right column continues.
  auto continue_right = [&](std::span<const std::string> lines) {
    for (const auto& l : lines) emit(blank_time, blank_client, blank_arrow, l);
  };

  const std::string top = uni ? "┬" : "+", bottom = uni ? "┴" : "+";
  out += fmt::format("{} {} {}{}{} {}\n", pad_left("ms", g.time),
                     pad_left(fit(sides.client_title(options.client_word.empty() ? "client" : options.client_word), g.client - 1, uni), g.client - 1), top,
                     blank_arrow, top, fit(sides.server_title(options.server_word.empty() ? "server" : options.server_word), g.right, uni));

  for (std::size_t i = 0; i < timeline.size(); ++i) {
    const TimelineEntry& e = timeline[i];
    const std::string time = ansi.paint(pad_left(times[i], g.time), dim);
    std::vector<std::string> right = wrap(printable(note_for(e, options.packet_note, options.mark_word)), g.right);
    if (right.size() == 1 && right[0].empty()) right.clear();

    if (const auto* p = std::get_if<PacketRecord>(&e.event)) {
      const std::string middle =
          ansi.paint(arrow(printable(segment_label(*p)), g.arrow, sides.to_server(*p), uni), packet_color(*p));
      const std::string tag = sides.conversation_tag(*p, uni);
      const std::string left = tag.empty() ? blank_client : pad_left(fit(tag, g.client - 1, uni), g.client - 1) + " ";
      emit(time, left, middle, right.empty() ? "" : right.front());
      if (!right.empty()) continue_right(std::span(right).subspan(1));
      continue;
    }
    const auto& c = std::get<net::CallEvent>(e.event);
    const CallText text = describe_call(c, uni);
    const std::string tag = sides.call_tag(c);
    const bool server = sides.is_server_call(c);
    const std::size_t room = server ? g.right : g.client - 1;
    // The fullest form that fits: the address goes first, then the data preview
    // is cut, then dropped, then the rest but flags. A failure that does not fit
    // moves to the note.
    const std::string prefix = tag.empty() ? "" : tag + " ";
    auto first_fitting = [&](bool with_failure) -> std::string {
      const std::string failure = with_failure && !text.failure.empty() ? " " + text.failure : "";
      for (const std::string* form : {&text.full, &text.compact}) {
        if (display_width(prefix + *form + failure) <= room) return prefix + *form + failure;
      }
      const std::size_t fixed = display_width(prefix + text.bare + failure) + 3;  // space, two quotes
      if (!text.preview.empty() && room >= fixed + 4)
        return prefix + text.bare + " \"" + fit(text.preview, room - fixed, uni) + "\"" + failure;
      for (const std::string* form : {&text.bare, &text.minimal}) {
        if (display_width(prefix + *form + failure) <= room) return prefix + *form + failure;
      }
      return {};
    };
    std::string label = first_fitting(true);
    if (label.empty() && !text.failure.empty()) {
      label = first_fitting(false);
      const std::string note = printable(note_for(e, options.packet_note, options.mark_word));
      right = wrap(note.empty() ? text.failure : text.failure + " " + note, g.right);
    }
    if (label.empty()) label = fit(prefix + text.minimal, room, uni);
    if (server) {
      // The server's calls stand in the right column; the note follows below.
      emit(time, blank_client, blank_arrow, ansi.paint(label, magenta));
      continue_right(right);
    } else {
      const std::string left = pad_left(label, g.client - 1);
      emit(time, ansi.paint(left, blue) + " ", blank_arrow, right.empty() ? "" : right.front());
      if (!right.empty()) continue_right(std::span(right).subspan(1));
    }
  }
  if (timeline.empty()) emit(blank_time, blank_client, blank_arrow, "(no calls and no packets)");
  out += fmt::format("{} {}{}{}{}\n", blank_time, blank_client, bottom, blank_arrow, bottom);
  return out;
}

}  // namespace socklab::capture
