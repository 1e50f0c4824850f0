// `socklab-capture read FILE`: a capture file as lines, JSON, layers or a ladder.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <span>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "checks.hpp"
#include "commands.hpp"
#include "socklab/capture/analyzer.hpp"
#include "socklab/capture/capture_file.hpp"
#include "socklab/capture/format.hpp"
#include "socklab/capture/html.hpp"
#include "socklab/capture/pcap_reader.hpp"
#include "socklab/capture/record.hpp"
#include "socklab/capture/terminal.hpp"
#include "socklab/capture/timeline.hpp"

namespace {

using namespace socklab::capture;

// Exit codes of `read` (also in --help and capture/JSON.md).
constexpr int exit_ok = 0;
constexpr int exit_unreadable = 1;  // missing, not a capture, empty, unsupported link type
constexpr int exit_incomplete = 3;  // damaged/truncated: the packets before the damage were printed

enum class Mode { lines, json, layers, ladder, html };

// The ladder and the HTML page draw a whole file at once: they are meant for a
// lesson's packets, and stay usable up to this many (bench/html).
constexpr std::uint64_t ladder_max_packets = 5000;

struct ReadOptions {
  std::string file;
  bool lines = false, json = false, layers = false, ladder = false;
  bool absolute_seq = false;
  bool line_buffered = false;  // -l
  std::uint64_t count = 0;     // 0: no limit (the option itself accepts 1 or more)
  std::size_t max_streams = AnalyzerOptions{}.max_streams;
  // --ladder only
  bool ascii = false;
  std::string color = "auto";
  std::optional<std::uint16_t> server_port;
  // --html only
  std::string html;
  std::string lang;  // en, zh; empty: from the environment
};

// --lang, else LC_ALL, LC_MESSAGES, LANG as the demos do: zh* means Chinese.
HtmlLang html_lang(const std::string& flag) {
  if (!flag.empty()) return flag == "zh" ? HtmlLang::zh : HtmlLang::en;
  for (const char* name : {"LC_ALL", "LC_MESSAGES", "LANG"}) {
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0') continue;
    return std::string_view(v).starts_with("zh") ? HtmlLang::zh : HtmlLang::en;
  }
  return HtmlLang::en;
}

// The page of `read --html`: the capture's ladder with each packet's layers.
int write_html_page(const ReadOptions& o, std::span<const PacketRecord> packets, std::map<std::uint64_t, std::string> layers,
                    std::uint64_t left_out, std::uint64_t last_frame) {
  HtmlPage page;
  page.lang = html_lang(o.lang);
  const bool zh = page.lang == HtmlLang::zh;
  page.title = o.file;
  page.view.server_port = o.server_port;
  page.layers = std::move(layers);
  if (left_out > 0) {
    page.notices.push_back(
        zh ? fmt::format("只显示了前 {} 个报文；其余 {} 个（第 {} 到 {} 帧）没有画出。用 -c 选择更少的报文。", packets.size(),
                         left_out, packets.size() + 1, last_frame)
           : fmt::format("Only the first {} packets are drawn; the other {} (frames {} to {}) are left out. Use -c to "
                         "choose fewer.",
                         packets.size(), left_out, packets.size() + 1, last_frame));
  }
  page.footer.push_back(zh ? fmt::format("由 socklab-capture read --html 从 {} 生成，共 {} 个报文。", o.file, packets.size() + left_out)
                           : fmt::format("Made by socklab-capture read --html from {}, {} packets.", o.file,
                                         packets.size() + left_out));
  const auto timeline = merge_timeline({}, packets);
  if (auto written = write_output_file(o.html, render_html(timeline, page), "HTML page"); !written) {
    fmt::print(stderr, "socklab-capture: --html {}\n", written.error().message());
    return exit_unreadable;
  }
  if (left_out > 0) {
    fmt::print(stderr, "socklab-capture: --html draws the first {} packets; {} more are left out; use -c to choose fewer\n",
               packets.size(), left_out);
  }
  fmt::print(stderr, "socklab-capture: wrote {}\n", o.html);
  return exit_ok;
}

// Output goes through one big buffer written in large blocks, or after every
// packet when someone is watching the packets arrive (see run_read).
class Output {
 public:
  explicit Output(std::FILE* f, bool per_packet) : f_(f), per_packet_(per_packet) {}
  TextBuffer& buf() { return buf_; }
  // False once the output is gone or failed: reading more is pointless.
  bool packet_done() {
    if (per_packet_ || buf_.size() >= flush_at) return flush();
    return true;
  }
  bool flush() {
    if (!ok_) return false;
    if (buf_.size() != 0 && std::fwrite(buf_.data(), 1, buf_.size(), f_) != buf_.size()) fail();
    buf_.clear();
    if (ok_ && std::fflush(f_) != 0) fail();
    return ok_;
  }
  // The reader of a pipe went away (`| head -1`): not an error, as for tcpdump.
  [[nodiscard]] bool closed_by_reader() const { return closed_by_reader_; }

 private:
  void fail() {
    ok_ = false;
    closed_by_reader_ = errno == EPIPE;
  }
  static constexpr std::size_t flush_at = 1 << 20;
  std::FILE* f_;
  bool per_packet_;
  TextBuffer buf_;
  bool ok_ = true;
  bool closed_by_reader_ = false;
};

// Packets are shown as they come when the input may still be growing (a pipe,
// a FIFO, standard input) or a person reads the output; a regular file into a
// file or pipe is written in large blocks, which is much faster.
bool show_each_packet(const ReadOptions& o) {
  if (o.line_buffered || ::isatty(STDOUT_FILENO) == 1) return true;
  struct stat st {};
  if (o.file == "-") return ::fstat(STDIN_FILENO, &st) != 0 || !S_ISREG(st.st_mode);
  return ::stat(o.file.c_str(), &st) != 0 || !S_ISREG(st.st_mode);
}

void put_time(TextBuffer& out, std::int64_t rel_ns) {
  if (rel_ns < 0) {
    out.push_back('-');
    rel_ns = -rel_ns;
  }
  fmt::format_to(std::back_inserter(out), "{}.{:06}", rel_ns / 1'000'000'000, (rel_ns % 1'000'000'000) / 1000);
}

void put_line(TextBuffer& out, const AnalyzedPacket& a) {
  fmt::format_int n(a.n);
  out.append(n.data(), n.data() + n.size());
  out.push_back(' ');
  put_time(out, a.rel_ns);
  out.push_back(' ');
  append_tcpdump_line(out, a);
  const std::size_t mark = out.size();
  out.append(std::string_view("  ["));
  const std::size_t start = out.size();
  append_notes(out, a);
  if (out.size() == start) {
    out.resize(mark);
  } else {
    out.push_back(']');
  }
  out.push_back('\n');
}

int run_read(const ReadOptions& o) {
  const Mode mode = !o.html.empty() ? Mode::html
                    : o.json        ? Mode::json
                    : o.layers      ? Mode::layers
                    : o.ladder      ? Mode::ladder
                                    : Mode::lines;
  // The page's file is checked before reading: a bad --html is reported before any work.
  if (mode == Mode::html) {
    if (auto target = output_file_target(o.html, "HTML page"); !target) {
      fmt::print(stderr, "socklab-capture: --html {}\n", target.error().message());
      return exit_unreadable;
    }
  }
  auto reader = PcapReader::open(o.file);
  if (!reader) {
    fmt::print(stderr, "socklab-capture: {}\n", reader.error());
    return exit_unreadable;
  }
  fmt::print(stderr, "reading from file {}, link-type {}, snapshot length {}\n", o.file, to_string(reader->link()),
             reader->snaplen());
  // A closed pipe shows as EPIPE on the write, handled there, instead of killing us.
  std::signal(SIGPIPE, SIG_IGN);
  PacketAnalyzer analyzer(reader->link(),
                          AnalyzerOptions{.absolute_seq = o.absolute_seq, .max_streams = o.max_streams});
  bool told_stream_limit = false;
  Output out(stdout, mode != Mode::ladder && show_each_packet(o));
  std::vector<PacketRecord> ladder;
  std::uint64_t shown = 0;
  std::map<std::uint64_t, std::string> html_layers;
  std::uint64_t left_out = 0, last_frame = 0;
  while (auto p = reader->next()) {
    if (mode == Mode::html && shown == ladder_max_packets) {
      // Drawn no more, but counted, so the page says what it left out.
      analyzer.next(p->ts_ns, p->bytes, p->wire_len);
      ++left_out;
      last_frame = shown + left_out;
      if (o.count != 0 && shown + left_out == o.count) break;
      continue;
    }
    const AnalyzedPacket& a = analyzer.next(p->ts_ns, p->bytes, p->wire_len);
    if (!told_stream_limit && analyzer.streams_refused() != 0) {
      told_stream_limit = true;
      fmt::print(stderr,
                 "socklab-capture: packet {}: the stream table is full (--max-streams {}, all still open): "
                 "packets of new conversations are shown from now on without stream, phase or analysis\n",
                 a.n, o.max_streams);
    }
    TextBuffer& b = out.buf();
    switch (mode) {
      case Mode::lines:
        put_line(b, a);
        break;
      case Mode::json:
        append_json(b, a);
        b.push_back('\n');
        break;
      case Mode::layers:
        if (shown != 0) b.push_back('\n');
        append_layers(b, a);
        break;
      case Mode::ladder:
        ladder.push_back(make_record(a));
        break;
      case Mode::html:
        ladder.push_back(make_record(a));
        html_layers.emplace(a.n, packet_layers(a));
        break;
    }
    if (!out.packet_done()) break;
    if (++shown == o.count) break;
    if (mode == Mode::ladder && shown == ladder_max_packets) {
      fmt::print(stderr, "socklab-capture: --ladder shows the first {} packets; use -c to choose fewer\n",
                 ladder_max_packets);
      break;
    }
  }
  if (mode == Mode::html) {
    const int written = write_html_page(o, ladder, std::move(html_layers), left_out, last_frame);
    if (written != exit_ok) return written;
  }
  if (mode == Mode::ladder) {
    LadderOptions lo;
    lo.server_port = o.server_port;
    lo.width = static_cast<std::size_t>(std::max(60, terminal_width(1)));
    lo.unicode = !o.ascii && locale_is_utf8();
    lo.color = use_color(parse_color_mode(o.color).value_or(ColorMode::auto_detect), 1);
    const auto timeline = merge_timeline({}, ladder);
    const std::string picture = render_ladder(timeline, lo);
    out.buf().append(picture.data(), picture.data() + picture.size());
  }
  if (!out.flush()) {
    if (out.closed_by_reader()) return exit_ok;
    fmt::print(stderr, "socklab-capture: writing the output failed: {}\n", std::strerror(errno));
    return exit_unreadable;
  }
  if (reader->damaged()) {
    fmt::print(stderr, "socklab-capture: {}\nsocklab-capture: incomplete: the {} before the damage {} printed\n",
               reader->damage(),
               reader->packets_read() == 1 ? std::string("packet") : fmt::format("{} packets", reader->packets_read()),
               reader->packets_read() == 1 ? "was" : "were");
    return exit_incomplete;
  }
  return exit_ok;
}

}  // namespace

void add_read_command(CLI::App& app, int& exit_code) {
  auto opts = std::make_shared<ReadOptions>();
  CLI::App* cmd = app.add_subcommand("read", "Read a pcap/pcapng file and show what happened on the wire");
  cmd->add_option("FILE", opts->file, "The capture file (pcap or pcapng); - reads standard input")->required();
  auto* lines = cmd->add_flag("--lines", opts->lines,
                              "tcpdump-style lines with each segment's phase and analysis (the default)");
  auto* json = cmd->add_flag("--json", opts->json, "One JSON object per packet (the contract in capture/JSON.md)");
  auto* layers = cmd->add_flag("--layers", opts->layers, "Each header in turn: link, network, transport, payload");
  auto* ladder = cmd->add_flag("--ladder", opts->ladder, "A ladder diagram: client left, server right");
  auto* html = cmd->add_option("--html", opts->html,
                               "Write the ladder as one self-contained HTML page (SVG; hover a packet for its "
                               "line and layers) to this file; only a regular file is replaced, a symbolic "
                               "link is followed")
                   ->check(CLI::Validator(
                       [](const std::string& v) { return v.empty() ? "a file name is needed (--html '' names none)" : ""; },
                       "FILE"));
  lines->excludes(json, layers, ladder, html);
  json->excludes(layers, ladder, html);
  layers->excludes(ladder, html);
  ladder->excludes(html);
  cmd->add_option("--lang", opts->lang, "--html: the page's language, en or zh (default from LANG)")
      ->check(CLI::IsMember({"en", "zh"}));
  cmd->add_flag("--absolute-seq,-S", opts->absolute_seq,
                "Absolute sequence numbers (tcpdump -S) instead of relative ones (SYN = 0)");
  cmd->add_option("-c,--count", opts->count, "Stop after this many packets (1 or more)")
      ->check(whole_number(1, std::numeric_limits<std::uint64_t>::max(), "packets"));
  cmd->add_flag("-l,--line-buffered", opts->line_buffered,
                "Write each packet's output at once (as tcpdump -l); the default when the input is a "
                "pipe or FIFO or the output a terminal");
  cmd->add_option("--max-streams", opts->max_streams,
                  "Conversations (TCP and UDP) analysed at once; past it, closed ones are forgotten first, "
                  "then new ones go without analysis, said once (0: no bound)")
      ->check(whole_number(0, std::numeric_limits<std::uint32_t>::max(), "conversations"))
      ->capture_default_str();
  cmd->add_flag("--ascii", opts->ascii, "--ladder: plain ASCII instead of box drawing");
  cmd->add_option("--color", opts->color, "--ladder: colour (auto: only on a terminal, never with NO_COLOR set)")
      ->check(CLI::IsMember({"auto", "always", "never"}));
  cmd->add_option("--server-port", opts->server_port,
                  "--ladder, --html: the server's port (right column); default: the port that received the SYN");
  cmd->footer(
      "Examples:\n"
      "  socklab-capture read handshake.pcap               # lines: IP 127.0.0.1.51514 > ...  [handshake 1/3]\n"
      "  socklab-capture read --json handshake.pcap | jq .phase\n"
      "  socklab-capture read --layers -c 3 handshake.pcap # the headers of the first 3 packets\n"
      "  socklab-capture read --ladder handshake.pcap      # client left, server right\n"
      "  socklab-capture read --ladder --ascii --color never backlog.pcap\n"
      "  socklab-capture read --html handshake.html handshake.pcap  # open it in a browser\n"
      "  socklab-capture read --absolute-seq handshake.pcap  # compare with: tcpdump -nn -S -r handshake.pcap\n"
      "  tcpdump -i lo -U -w - port 8080 | socklab-capture read -   # packets as they are captured\n"
      "\n"
      "Exit codes:\n"
      "  0  the whole file was read (or the reader of the output went away, as with | head)\n"
      "  1  the file could not be read: missing, empty, not a capture, unsupported link type; or the "
      "--html FILE cannot be written (checked before reading: -w's rules, see record --help)\n"
      "  2  bad usage\n"
      "  3  the file is damaged or truncated: the packets before the damage were printed");
  cmd->callback([opts, &exit_code] { exit_code = run_read(*opts); });
}
