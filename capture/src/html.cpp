#include "socklab/capture/html.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "ladder_model.hpp"
#include "socklab/capture/format.hpp"
#include "socklab/net/error.hpp"

namespace socklab::capture {

namespace {

using namespace ladder_model;

// The page's own words; the lesson's text comes from the caller.
struct Words {
  std::string_view lang, ms, client, server, timeline, summary, empty, idle, phase, analysis, none, layers, link,
      network, transport, payload, link_not_kept, bytes, arguments, result, error, duration, local, peer, hint,
      frame;
};
constexpr Words english{
    "en", "ms", "client", "server", "Timeline", "Summary", "(no calls and no packets)", "idle {} (compressed)",
    "phase", "analysis", "none", "layers", "link", "network", "transport", "payload",
    "not kept by this run (read the pcap file for it)", "bytes", "arguments", "result", "error", "took",
    "local", "peer",
    "Hover over an arrow, or move to it with Tab, for its tcpdump line and layers; open a call (click or "
    "Enter) for its arguments and result.",
    "frame"};
constexpr Words chinese{
    "zh-CN", "毫秒", "客户端", "服务器", "时间线", "小结", "（没有调用，也没有报文）", "空闲 {}（已压缩）",
    "阶段", "分析", "无", "分层", "链路层", "网络层", "传输层", "载荷",
    "本次运行没有保存（请读取 pcap 文件）", "字节", "参数", "结果", "错误", "耗时",
    "本端", "对端",
    "把鼠标移到箭头上，或用 Tab 键移过去，可以看到它的 tcpdump 行和各层内容；点开一个调用（单击或回车）可以看到它的参数和结果。",
    "帧"};

// Gaps at least this long are drawn compressed, marked with their real length;
// shorter ones stretch the row above them by up to this many pixels.
constexpr std::int64_t compress_gap_ns = 10'000'000;
constexpr std::size_t kLabelRoom = 18;  // characters of an arrow label between two neighbouring lifelines (grid_css)

void escape_into(std::string& out, std::string_view text) {
  for (char ch : text) {
    switch (ch) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default:
        // Control characters would be invalid in the document: shown as spaces.
        out += static_cast<unsigned char>(ch) < 0x20 && ch != '\n' && ch != '\t' ? ' ' : ch;
    }
  }
}

std::string esc(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  escape_into(out, text);
  return out;
}

std::string gap_text(std::int64_t ns) {
  const double ms = static_cast<double>(ns) / 1e6;
  return ms < 1000 ? fmt::format("{:.1f} ms", ms) : fmt::format("{:.2f} s", ms / 1000);
}

std::string_view tone_class(Tone t) {
  switch (t) {
    case Tone::open: return "t-open";
    case Tone::close: return "t-close";
    case Tone::reset: return "t-reset";
    case Tone::data: return "t-data";
    case Tone::plain: break;
  }
  return "t-plain";
}

// Participants' lifelines, as percentages of the middle cell's width, so any
// number of columns share one layout (hosts, a switch and a router later).
struct Columns {
  std::vector<std::string> titles;
  [[nodiscard]] double x(std::size_t i) const { return 1.0 + spacing() * static_cast<double>(i); }
  // The distance between two neighbouring lifelines.
  [[nodiscard]] double spacing() const {
    return titles.size() < 2 ? 49.0 : 98.0 / static_cast<double>(titles.size() - 1);
  }
  // A lab lesson's grid: room for a kLabelRoom-character label ("P. 1:1449 len 1448")
  // between each two lifelines; the lanes and notes narrower as columns are added,
  // and beyond what the window holds the page scrolls sideways (as the terminal
  // ladder widens beyond its width), rather than labels running into each other.
  void grid_css(std::string& out) const {
    const std::size_t gaps = std::max<std::size_t>(titles.size(), 2) - 1;
    const int lane = gaps <= 3 ? 14 : 10, note = gaps <= 3 ? 22 : 16;
    fmt::format_to(std::back_inserter(out),
                   ".cols .row,.cols .gap{{grid-template-columns:5.5em minmax(8em,{0}%) minmax({2:.1f}em,1fr) "
                   "minmax(8em,{0}%) minmax(11em,{1}%)}}\n",
                   lane, note, std::max(24.0, 11.5 * static_cast<double>(gaps)));
  }
  // The lifelines as the middle cell's background, one layer per column:
  // drawn by CSS for every row, not repeated in each row's markup.
  void lifelines_css(std::string& out) const {
    for (const bool idle : {false, true}) {
      out += idle ? ".gap .mid{background:" : ".mid{background:";
      for (std::size_t i = 0; i < titles.size(); ++i) {
        fmt::format_to(std::back_inserter(out), "{}{} calc({:.2f}% - 1px) 0/2px {} repeat-y", i == 0 ? "" : ",",
                       idle ? "repeating-linear-gradient(var(--line) 0 3px,transparent 3px 7px)"
                            : "linear-gradient(var(--line),var(--line))",
                       x(i), idle ? "7px" : "100%");
      }
      out += "}\n";
    }
  }
};

std::string address_only(std::string_view endpoint, bool has_port) {
  std::string_view a = endpoint;
  if (has_port) {
    if (const auto colon = a.rfind(':'); colon != std::string_view::npos) a = a.substr(0, colon);
  }
  if (a.size() >= 2 && a.front() == '[' && a.back() == ']') a = a.substr(1, a.size() - 2);
  return std::string(a);
}

// The layers a packet's record carries, when the caller has no bytes to show.
using Layers = std::vector<std::pair<std::string, std::string>>;  // (layer, what it says)

Layers record_layers(const PacketRecord& p, const Words& w) {
  const bool ports = p.proto == Proto::tcp || p.proto == Proto::udp;
  Layers out;
  auto row = [&](std::string_view name, std::string value) { out.emplace_back(name, std::move(value)); };
  row(w.link, std::string(w.link_not_kept));
  if (!p.src.empty()) {
    const bool v6 = p.src.starts_with('[') || p.proto == Proto::icmp6 || std::count(p.src.begin(), p.src.end(), ':') > 1;
    row(w.network, fmt::format("IPv{} {} → {}", v6 ? 6 : 4, address_only(p.src, ports), address_only(p.dst, ports)));
  }
  if (p.proto == Proto::tcp && p.is_tcp) {
    std::string t = fmt::format("TCP {} → {}, [{}], seq {} ({}), ack {} ({}), win {} ({})", p.sport, p.dport, p.flags,
                                p.seq, p.seq_abs, p.ack, p.ack_abs, p.win, p.win_raw);
    if (!p.options.empty()) t += fmt::format(", options [{}]", p.options);
    row(w.transport, t);
  } else if (p.proto == Proto::udp) {
    row(w.transport, fmt::format("UDP {} → {}, length {}", p.sport, p.dport, p.len + 8));
  } else if (p.proto == Proto::icmp || p.proto == Proto::icmp6) {
    row(w.transport, fmt::format("{} {}", p.proto == Proto::icmp ? "ICMP" : "ICMP6", p.note));
  }
  std::string payload = fmt::format("{} {}", p.len, w.bytes);
  if (!p.preview.empty()) payload += fmt::format(" \"{}\"", p.preview);
  row(w.payload, payload);
  return out;
}

// format.hpp's layered view: after the "frame N: ..." line, one line per
// layer ("  link       Ethernet ..."); a line indented further continues it.
Layers layers_from_text(std::string_view text) {
  Layers out;
  std::size_t pos = text.find('\n');  // past the frame line
  while (pos != std::string_view::npos && pos < text.size()) {
    const std::size_t start = pos + 1;
    const std::size_t end = std::min(text.find('\n', start), text.size());
    const std::string_view line = text.substr(start, end - start);
    pos = end < text.size() ? end : std::string_view::npos;
    const std::size_t first = line.find_first_not_of(' ');
    if (first == std::string_view::npos) continue;
    if (first <= 2 || out.empty()) {
      const std::string_view rest = line.substr(first);
      const std::size_t gap = rest.find(' ');
      const std::size_t value = gap == std::string_view::npos ? rest.size() : rest.find_first_not_of(' ', gap);
      out.emplace_back(rest.substr(0, gap), value == std::string_view::npos ? std::string_view() : rest.substr(value));
    } else {
      out.back().second += "\n";
      out.back().second += line.substr(first);
    }
  }
  return out;
}

class Writer {
 public:
  Writer(std::span<const TimelineEntry> timeline, const HtmlPage& page)
      : timeline_(timeline),
        page_(page),
        view_(page.view),
        w_(page.lang == HtmlLang::zh ? chinese : english),
        sides_(timeline, page.view.server_port) {
    if (named()) {
      columns_.titles = view_.columns;
    } else {
      columns_.titles = {sides_.client_title(view_.client_word.empty() ? w_.client : view_.client_word),
                         sides_.server_title(view_.server_word.empty() ? w_.server : view_.server_word)};
    }
  }

  std::string page() {
    out_.reserve(4096 + timeline_.size() * 1200);
    head();
    out_ += "<body>\n<header>\n<h1>";
    escape_into(out_, page_.title);
    out_ += "</h1>\n";
    if (!page_.goal.empty()) out_ += "<p class=\"goal\">" + esc(page_.goal) + "</p>\n";
    out_ += "</header>\n<main>\n";
    for (const auto& n : page_.notices) out_ += "<p class=\"notice\" role=\"status\">" + esc(n) + "</p>\n";
    out_ += "<h2>" + esc(page_.timeline_heading.empty() ? w_.timeline : page_.timeline_heading) + "</h2>\n";
    out_ += "<p class=\"hint\">" + esc(w_.hint) + "</p>\n";
    ladder();
    summary();
    out_ += "</main>\n";
    if (!page_.footer.empty()) {
      out_ += "<footer>\n";
      for (const auto& f : page_.footer) out_ += "<p>" + esc(f) + "</p>\n";
      out_ += "</footer>\n";
    }
    script();
    out_ += "</body>\n</html>\n";
    return std::move(out_);
  }

 private:
  void head() {
    out_ += "<!DOCTYPE html>\n<html lang=\"";
    out_ += w_.lang;
    out_ +=
        "\">\n<head>\n<meta charset=\"utf-8\">\n"
        // Nothing may be fetched: no fonts, images, scripts or styles by URL.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        "script-src 'unsafe-inline'; base-uri 'none'; form-action 'none'\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<meta name=\"generator\" content=\"socklab\">\n<title>";
    escape_into(out_, page_.title);
    out_ += "</title>\n<style>\n";
    out_ += R"css(:root{--bg:#fff;--fg:#1b1f24;--dim:#6a737d;--line:#8c959f;--open:#1a7f37;--close:#9a6700;--reset:#cf222e;--data:#0969da;--plain:#57606a;--client:#0550ae;--server:#8250df;--tip:#f6f8fa}
*{box-sizing:border-box}
body{margin:0 auto;max-width:1400px;padding:1rem 1.5rem;background:var(--bg);color:var(--fg);font:15px/1.35 system-ui,"Noto Sans","Noto Sans CJK SC",sans-serif}
h1{font-size:1.5rem;margin:.2rem 0 .4rem}h2{font-size:1.15rem;margin:1rem 0 .3rem}
.goal{max-width:60rem;margin:.2rem 0 .6rem}.hint{color:var(--dim);font-size:.85rem;margin:.2rem 0 .6rem}
.notice{border-left:4px solid var(--close);background:#fff8c5;padding:.3rem .6rem}
code,.t,.lbl,.tip dd{font-family:ui-monospace,"DejaVu Sans Mono","Noto Sans Mono",monospace}
.ladder{border-top:1px solid #d0d7de;border-bottom:1px solid #d0d7de}
.row{display:grid;grid-template-columns:5.5em minmax(9em,17%) minmax(16em,1fr) minmax(9em,17%) minmax(12em,26%);align-items:stretch;position:relative;min-height:30px}
.row>span{padding:3px 6px;overflow-wrap:anywhere}
.row{padding-top:var(--s,0px)}.row>.mid{margin-top:calc(-1 * var(--s,0px))}
.t{color:var(--dim);text-align:right;font-size:.85rem;padding-top:7px!important}
.lane.l{text-align:right}.note{font-size:.9rem;color:#24292f}
.mid{position:relative;padding:0!important}
.mid svg{position:absolute;inset:0;width:100%;height:100%;overflow:visible}
.shaft{stroke-width:2.2}
.lbl{font-size:13px;text-anchor:middle;paint-order:stroke;stroke:var(--bg);stroke-width:4px}
.t-open{--c:var(--open)}.t-close{--c:var(--close)}.t-reset{--c:var(--reset)}.t-data{--c:var(--data)}.t-plain{--c:var(--plain)}
.pkt .shaft{stroke:var(--c)}.pkt .head{fill:var(--c)}.pkt .lbl{fill:var(--c)}
.head-row{min-height:34px;font-weight:600}.head-row .mid{background:none}.head-row .ttl{font-size:14px;text-anchor:middle;fill:var(--fg)}
.pkt{cursor:default}.pkt:hover,.pkt:focus{background:#f0f6ff;outline:none}
.pkt:focus-visible,.call summary:focus-visible{outline:3px solid #0969da;outline-offset:-3px}
.tip{position:absolute;z-index:5;left:5.5em;right:0;top:100%;background:var(--tip);border:1px solid #d0d7de;border-radius:6px;padding:.4rem .6rem;box-shadow:0 4px 12px #0002;font-size:.85rem}
.tip[hidden]{display:none}
.tip code{display:block;white-space:pre-wrap;overflow-wrap:anywhere;margin-bottom:.3rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.1rem .8rem;margin:.2rem 0}dt{color:var(--dim)}dd{margin:0;overflow-wrap:anywhere}
.call.client .lane.l{color:var(--client)}.call.server .lane.r{color:var(--server)}
details summary{cursor:pointer;list-style:none}details summary::-webkit-details-marker{display:none}
details summary::after{content:" ▸";color:var(--dim)}details[open] summary::after{content:" ▾"}
.callinfo{text-align:left;color:var(--fg);background:var(--tip);border:1px solid #d0d7de;border-radius:6px;padding:.3rem .5rem;font-size:.85rem}
.state{font-family:ui-monospace,monospace;font-size:.85rem;background:#eef1f4;border-radius:4px;padding:0 .3rem}
.gap{display:grid;grid-template-columns:5.5em minmax(9em,17%) minmax(16em,1fr) minmax(9em,17%) minmax(12em,26%);min-height:26px;position:relative}
.gap .glabel{grid-column:2/5;align-self:center;justify-self:center;background:var(--bg);border:1px dashed var(--line);border-radius:10px;padding:0 .6rem;font-size:.8rem;color:var(--dim);z-index:1}
.gap .mid{grid-column:3;grid-row:1;display:block;min-height:26px}
.summary ul{list-style:none;padding:0;margin:.3rem 0}.summary li{margin:.25rem 0;padding-left:1.6em;text-indent:-1.6em}
.mark{display:inline-block;width:1.6em;text-indent:0;font-weight:700}.ok .mark{color:var(--open)}.failed .mark{color:var(--reset)}.fact .mark{color:var(--dim)}
.mcall{display:block;padding:3px 0;overflow-wrap:anywhere}.call.member .lane,.call.member .mcall{color:var(--client)}
.nolbl{font-family:ui-monospace,"DejaVu Sans Mono","Noto Sans Mono",monospace;color:var(--c)}
.detail{display:block;color:var(--dim);font-size:.9rem;text-indent:0}
footer{color:var(--dim);font-size:.85rem;margin-top:1rem}
@media print{
@page{size:landscape;margin:10mm}
body{max-width:none;padding:0;font-size:10pt}
.hint,.tip{display:none!important}
.row,.gap{break-inside:avoid;min-height:22px}
.row,.gap{grid-template-columns:6em 17% 1fr 17% 26%}
.cols .row,.cols .gap{grid-template-columns:6em 14% 1fr 14% 22%}
*{-webkit-print-color-adjust:exact;print-color-adjust:exact}
details summary::after{content:""}
}
)css";
    columns_.lifelines_css(out_);
    if (named()) columns_.grid_css(out_);
    out_ += "</style>\n</head>\n";
  }

  void ladder() {
    out_ += named() ? "<div class=\"ladder cols\" role=\"list\">\n" : "<div class=\"ladder\" role=\"list\">\n";
    // The head: the time axis' unit and one title above each lifeline.
    out_ += "<div class=\"row head-row\" role=\"presentation\"><span class=\"t\">";
    escape_into(out_, w_.ms);
    out_ += "</span><span class=\"lane l\"></span><span class=\"mid\"><svg aria-hidden=\"false\">";
    for (std::size_t i = 0; i < columns_.titles.size(); ++i) {
      fmt::format_to(std::back_inserter(out_), R"(<text class="ttl" x="{:.2f}%" y="20">)", columns_.x(i));
      escape_into(out_, columns_.titles[i]);
      out_ += "</text>";
    }
    out_ += "</svg></span><span class=\"lane r\"></span><span class=\"note\"></span></div>\n";

    std::int64_t t0 = 0;
    if (!timeline_.empty()) {
      t0 = std::min_element(timeline_.begin(), timeline_.end(), [](const auto& a, const auto& b) {
             return a.t_ns < b.t_ns;
           })->t_ns;
    }
    std::optional<std::int64_t> previous;
    for (std::size_t i = 0; i < timeline_.size(); ++i) {
      const TimelineEntry& e = timeline_[i];
      const std::int64_t gap = previous ? e.t_ns - *previous : 0;
      previous = e.t_ns;
      if (gap >= compress_gap_ns) {
        out_ += "<div class=\"gap\" role=\"separator\"><span class=\"mid\"></span><span class=\"glabel\">⋯ ";
        escape_into(out_, fmt::format(fmt::runtime(w_.idle), gap_text(gap)));
        out_ += " ⋯</span></div>\n";
      }
      // Short gaps stretch the row a little: a burst reads as a burst.
      const long stretch =
          gap >= compress_gap_ns ? 0 : std::min(24L, std::lround(static_cast<double>(gap) / 1e6 * 1.5));
      const std::string time = fmt::format("{:.3f}", static_cast<double>(e.t_ns - t0) / 1e6);
      if (const auto* p = std::get_if<PacketRecord>(&e.event)) {
        packet_row(e, *p, time, stretch);
      } else {
        call_row(e, std::get<net::CallEvent>(e.event), time, stretch);
      }
    }
    if (timeline_.empty()) {
      out_ += "<div class=\"row\"><span class=\"t\"></span><span class=\"lane l\"></span><span class=\"mid\">";
      escape_into(out_, w_.empty);
      out_ += "</span></div>\n";
    }
    out_ += "</div>\n";
  }

  void row_start(std::string_view classes, long stretch, std::string_view extra = {}) {
    fmt::format_to(std::back_inserter(out_), "<div class=\"row {}\" role=\"listitem\"{}", classes, extra);
    if (stretch > 0) fmt::format_to(std::back_inserter(out_), " style=\"--s:{}px\"", stretch);
    out_ += '>';
  }

  // A lab lesson's own columns (LadderView::columns) rather than client and server.
  [[nodiscard]] bool named() const { return !view_.columns.empty(); }

  // A layer's name (capture's "link", "network", ...) in the page's words.
  [[nodiscard]] std::string layer_word(const std::string& name) const {
    for (const auto& [en, word] : {std::pair{english.link, w_.link}, std::pair{english.network, w_.network},
                                        std::pair{english.transport, w_.transport}, std::pair{english.payload, w_.payload}}) {
      if (name == en) return std::string(word);
    }
    return name;
  }

  // The arrows of a packet, as the terminal ladder draws them: client to server,
  // or among named columns (ladder_model's column_arrows).
  [[nodiscard]] std::vector<Arrow> arrows_of(const PacketRecord& p) const {
    if (named()) return column_arrows(view_, p);
    const bool up = sides_.to_server(p);
    return {{up ? 0U : 1U, up ? 1U : 0U, true}};
  }

  void packet_row(const TimelineEntry& e, const PacketRecord& p, const std::string& time, long stretch) {
    const std::string label = printable(segment_label(p));
    const std::string note = printable(note_for(e, view_.packet_note, view_.mark_word));
    const auto arrows = arrows_of(p);
    ++packets_;
    row_start(fmt::format("pkt {}", tone_class(packet_tone(p))), stretch,
              fmt::format(" tabindex=\"0\" data-frame=\"{}\" aria-describedby=\"tip\"", p.n));
    out_ += "<span class=\"t\">" + time + "</span><span class=\"lane l\">";
    if (!named()) escape_into(out_, sides_.conversation_tag(p, true));
    out_ += "</span><span class=\"mid\"><svg aria-hidden=\"true\">";
    const long y = 17 + stretch;  // the stretch is above the arrow: the time it waited
    for (const Arrow& a : arrows) {
      const double x1 = columns_.x(a.from), x2 = columns_.x(a.to);
      fmt::format_to(std::back_inserter(out_),
                     R"(<line class="shaft" x1="{:.2f}%" x2="{:.2f}%" y1="{}" y2="{}"/>)"
                     R"(<svg x="{:.2f}%" y="{}" overflow="visible"><path class="head" d="{}"/></svg>)",
                     x1, x2, y, y, x2, y, x2 > x1 ? "M-10,-5L0,0L-10,5z" : "M10,-5L0,0L10,5z");
      if (!a.labelled) continue;
      fmt::format_to(std::back_inserter(out_), R"(<text class="lbl" x="{:.2f}%" y="{}">)", (x1 + x2) / 2, y - 5);
      escape_into(out_, named() ? label_in(p, kLabelRoom * (a.to > a.from ? a.to - a.from : a.from - a.to)) : label);
      out_ += "</text>";
    }
    out_ += "</svg></span><span class=\"lane r\"></span><span class=\"note\">";
    if (arrows.empty()) {  // nowhere to draw it: said in words, as the ladder does
      out_ += "<span class=\"nolbl\">";
      escape_into(out_, label);
      out_ += "</span> ";
    }
    escape_into(out_, note);
    out_ += "</span></div>\n";

    // What the tooltip shows, kept once in a data block (not per row in the
    // DOM), so a 5,000-packet page stays light: built on hover or focus.
    std::string flags;
    if (p.malformed) flags = mark_word(view_.mark_word, "malformed") + ": " + p.malformed_reason;
    for (const auto& name : analysis_names(p.analysis)) flags += (flags.empty() ? "" : ", ") + mark_word(view_.mark_word, name);
    const std::string phase = view_.packet_note ? view_.packet_note(p) : std::string(to_string(p.phase));
    const auto it = page_.layers.find(p.n);
    const Layers layers = it != page_.layers.end() ? layers_from_text(it->second) : record_layers(p, w_);
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& [name, value] : layers) {
      // The notes line repeats the phase and analysis rows in capture's English:
      // a page given its words by the caller shows those rows instead.
      if (name == "notes" && (view_.packet_note || view_.mark_word)) continue;
      rows.push_back({layer_word(name), value});
    }
    details_[std::to_string(p.n)] = {{"line", fmt::format("{} {}: {}", w_.frame, p.n, p.line)},
                                     {"phase", phase.empty() ? std::string(w_.none) : std::string(phase)},
                                     {"analysis", flags.empty() ? std::string(w_.none) : flags},
                                     {"layers", std::move(rows)}};
  }

  void call_row(const TimelineEntry& e, const net::CallEvent& c, const std::string& time, long stretch) {
    const bool server = sides_.is_server_call(c);
    const CallText text = describe_call(c, true);
    const std::string note = printable(note_for(e));
    std::string lane;
    const std::string tag = sides_.call_tag(c);
    const std::string prefix = tag.empty() ? "" : tag + " ";
    if (c.call == "state") {
      lane = "<span class=\"state\">" + esc(prefix + text.full) + "</span>";
    } else if (c.call == "note") {
      lane = esc(prefix + text.full);
    } else {
      lane = "<details><summary>" + esc(prefix + text.full + (text.failure.empty() ? "" : " " + text.failure)) +
             "</summary><dl class=\"callinfo\">";
      auto item = [&](std::string_view name, const std::string& value) {
        if (!value.empty()) lane += "<dt>" + esc(name) + "</dt><dd>" + esc(printable(value)) + "</dd>";
      };
      item(w_.arguments, c.args.empty() ? std::string(w_.none) : c.args);
      item(w_.result, std::to_string(c.result));
      item(w_.error, net::errno_name(c.err));
      item(w_.duration, fmt::format("{:.3f} ms", static_cast<double>(c.dur_ns) / 1e6));
      item(w_.local, c.local);
      item(w_.peer, c.peer);
      if (!c.preview.empty()) item(w_.payload, "\"" + c.preview + "\"");
      lane += "</dl></details>";
    }
    ++calls_;
    // Where the call stands: the left lane (client, or the first column), the
    // right lane (server, or the last column), beside a middle column's lifeline,
    // or, for a participant with no column, in the note with its name.
    const std::size_t n = columns_.titles.size();
    const auto col = named() ? call_column(view_, c) : std::optional<std::size_t>(server ? 1 : 0);
    row_start(named() ? "call member" : fmt::format("call {}", server ? "server" : "client"), stretch,
              fmt::format(" data-call=\"{}\"", esc(c.call)));
    out_ += "<span class=\"t\">" + time + "</span><span class=\"lane l\">";
    if (col == 0) out_ += lane;
    out_ += "</span><span class=\"mid\">";
    if (col && *col > 0 && *col + 1 < n) {
      // Between its lifeline and the next one, never across it.
      fmt::format_to(std::back_inserter(out_), R"x(<span class="mcall" style="margin-left:calc({:.2f}% + 8px);max-width:calc({:.2f}% - 16px)">)x",
                     columns_.x(*col), columns_.spacing());
      out_ += lane;
      out_ += "</span>";
    }
    out_ += "</span><span class=\"lane r\">";
    if (col && *col + 1 == n && n > 1) out_ += lane;
    out_ += "</span><span class=\"note\">";
    if (!col) out_ += esc(participant_of(c) + ": ") + lane + (note.empty() ? "" : "<br>");
    escape_into(out_, note);
    out_ += "</span></div>\n";
  }

  void summary() {
    if (page_.summary.empty()) return;
    out_ += "<section class=\"summary\"><h2>";
    escape_into(out_, page_.summary_heading.empty() ? w_.summary : page_.summary_heading);
    out_ += "</h2><ul>\n";
    for (const auto& line : page_.summary) {
      const char* cls = line.kind == HtmlSummaryLine::Kind::ok       ? "ok"
                        : line.kind == HtmlSummaryLine::Kind::failed ? "failed"
                                                                     : "fact";
      const char* mark = line.kind == HtmlSummaryLine::Kind::ok       ? "✓"
                         : line.kind == HtmlSummaryLine::Kind::failed ? "✗"
                                                                      : "·";
      fmt::format_to(std::back_inserter(out_), "<li class=\"{}\"><span class=\"mark\">{}</span>", cls, mark);
      escape_into(out_, line.text);
      if (!line.detail.empty()) out_ += "<span class=\"detail\">" + esc(line.detail) + "</span>";
      out_ += "</li>\n";
    }
    out_ += "</ul></section>\n";
  }

  void script() {
    // The tooltips' contents. No '<' at all inside the block (JSON's \u003c
    // instead), so no "</script" or "<!--" in a payload can end or bend it.
    std::string data = nlohmann::json{{"words", {{"phase", w_.phase}, {"analysis", w_.analysis}, {"layers", w_.layers}}},
                                      {"packets", details_}}
                           .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    for (std::size_t at = data.find('<'); at != std::string::npos; at = data.find('<', at)) data.replace(at, 1, "\\u003c");
    out_ += "<div id=\"tip\" class=\"tip\" role=\"tooltip\" hidden></div>\n<script type=\"application/json\" id=\"details\">";
    out_ += data;
    out_ += "</script>\n";
    // Counts the packets whose arrow the browser actually drew (a shaft of non-zero length)
    // and notes when the laid-out page was ready (ms since navigation), for
    // the tests and bench/html; Escape leaves a focused arrow. Printing
    // keeps calls as they are (closed: the ladder fits fewer pages).
    fmt::format_to(std::back_inserter(out_), "<script>\n(function(){{var d=document.documentElement;d.setAttribute('data-packets','{}');d.setAttribute('data-calls','{}');",
                   packets_, calls_);
    out_ += R"js(
function count(){var rows=new Set();document.querySelectorAll('line.shaft').forEach(function(l){if(l.getBoundingClientRect().width>1)rows.add(l.closest('.pkt'));});d.setAttribute('data-drawn-arrows',String(rows.size));d.setAttribute('data-rendered-ms',String(Math.round(performance.now())));}
if(document.readyState==='complete')count();else window.addEventListener('load',count);
var info=null,tip=document.getElementById('tip');
function el(tag,text){var e=document.createElement(tag);if(text!==undefined)e.textContent=text;return e;}
function show(row){if(!info)info=JSON.parse(document.getElementById('details').textContent);var p=info.packets[row.getAttribute('data-frame')];if(!p)return;tip.textContent='';tip.appendChild(el('code',p.line));
var dl=el('dl');[[info.words.phase,p.phase],[info.words.analysis,p.analysis]].concat(p.layers).forEach(function(r){dl.appendChild(el('dt',r[0]));var dd=el('dd');dd.appendChild(el('code',r[1]));dl.appendChild(dd);});
tip.appendChild(dl);row.appendChild(tip);tip.hidden=false;}
function hide(){tip.hidden=true;}
function rowOf(t){return t&&t.closest?t.closest('.pkt'):null;}
document.addEventListener('mouseover',function(e){var r=rowOf(e.target);if(r)show(r);else if(!tip.contains(e.target)&&!rowOf(document.activeElement))hide();});
document.addEventListener('focusin',function(e){var r=rowOf(e.target);if(r)show(r);else hide();});
document.addEventListener('focusout',function(e){if(!rowOf(e.relatedTarget))hide();});
document.addEventListener('keydown',function(e){if(e.key==='Escape'){hide();if(document.activeElement&&document.activeElement.blur)document.activeElement.blur();}});
})();
</script>
)js";
  }

  std::span<const TimelineEntry> timeline_;
  const HtmlPage& page_;
  const LadderView& view_;
  const Words& w_;
  Sides sides_;
  Columns columns_;
  std::string out_;
  std::size_t packets_ = 0, calls_ = 0;
  nlohmann::json details_ = nlohmann::json::object();  // frame -> tooltip contents
};

}  // namespace

std::string render_html(std::span<const TimelineEntry> timeline, const HtmlPage& page) {
  return Writer(timeline, page).page();
}

std::string packet_layers(const AnalyzedPacket& p) {
  TextBuffer text;
  append_layers(text, p);
  return {text.data(), text.size()};
}

std::map<std::uint64_t, std::string> packet_layers(LinkType link, std::span<const RawPacket> packets) {
  PacketAnalyzer analyzer(link);
  std::map<std::uint64_t, std::string> out;
  for (const auto& raw : packets) {
    const AnalyzedPacket& a = analyzer.next(raw.ts_ns, raw.bytes, raw.wire_len);
    out.emplace(a.n, packet_layers(a));
  }
  return out;
}

}  // namespace socklab::capture
