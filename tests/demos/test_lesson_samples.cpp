// The sample outputs in the lesson texts ("What you will see", lessons/en and
// lessons/zh) against real runs, so the texts cannot drift from the programs.
//
// Each sample block is announced by a comment naming the command it shows:
//   <!-- sample: demo-udp --capture --no-lesson --loss -->
//   ```text
// The test runs that command once per language (adding --lang) and compares.
//
// What is compared, and what is not (runs differ in these, a text cannot):
// - Every number is left out (ports, times, ISNs, timestamps, durations, and
//   also counts): the words, flags, calls, states and arrows are compared.
// - The random name of a directory mkdtemp() made ("/tmp/socklab-unix-Za4TQ")
//   is left out.
// - Line breaks and spaces are left out: a note wrapped at another word (a
//   number of another width) reads the same. Text cut short ("hellohai…")
//   is left out too: where it is cut depends on the width of the time.
// - A ladder row is compared as a whole (its time and client column, its
//   arrow, its server column with the continuation lines of its note); the
//   rows are compared as a multiset, not in order, because the client's and
//   the server's threads interleave differently from run to run.
// - The other lines (headings, summary items with their continuations,
//   the capture line) are compared as items, also as a multiset.
// - A fact of the summary (a "·" item) says what this run measured, and that
//   varies with timing (which states were read in passing, whether an ACK came
//   alone): only its words before the first number or colon are compared.
//   Verdicts (✓ ✗) are compared whole: they are the same in every run.
// A sample that starts with the timeline's heading and has no "..." line is a
// whole run: its rows and items must be exactly the run's. Any other sample is
// an excerpt: each of its rows and items must be in the run.
//
// To regenerate the samples from real runs (after a change of wording):
//   SOCKLAB_UPDATE_SAMPLES=1 build/tests/demos/test_lesson_samples
// (as root). A whole sample is replaced by the run's output; an excerpt keeps
// its ladder rows and gets the run's summary (from its heading on); rows of an
// excerpt the run no longer has are reported, for a person to pick new ones.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "demo_runner.hpp"

namespace {

namespace fs = std::filesystem;
using Strings = std::vector<std::string>;

const std::map<std::string, std::string> kPrograms{
    {"demo-handshake", DEMO_HANDSHAKE}, {"demo-teardown", DEMO_TEARDOWN}, {"demo-sticky", DEMO_STICKY},
    {"demo-udp", DEMO_UDP},             {"demo-backlog", DEMO_BACKLOG},     {"demo-unix", DEMO_UNIX},
    {"demo-layers", DEMO_LAYERS},       {"demo-ports", DEMO_PORTS},
    {"demo-web", DEMO_WEB},
    {"demo-lan", DEMO_LAN},
    {"demo-router", DEMO_ROUTER},
    {"demo-synflood", DEMO_SYNFLOOD},
};
const Strings kLessons{"handshake", "teardown", "sticky", "udp", "backlog", "unix", "layers", "ports", "web",
                       "lan", "router", "synflood"};
constexpr std::string_view kMarker = "<!-- sample: ";
constexpr std::string_view kBar = "│";

Strings split_lines(const std::string& text) {
  Strings lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Spaces, the ladder's box drawing and every number taken out (see the top).
std::string normalised(std::string_view text) {
  static const Strings kDrawing{"│", "┬", "┴", "─", "▶", "◀"};
  static constexpr std::string_view kCut = "…";
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    const char c = text[i];
    if (c == ' ' || c == '\t') {
      ++i;
      continue;
    }
    if (text.substr(i).starts_with(kCut)) {
      // Text cut to fit its column: where it is cut depends on the width of
      // the time beside it, so what was cut (from the quote, else the column's
      // start: the parts of a row are normalised one by one) is left out.
      const auto quote = out.rfind('"');
      out.resize(quote == std::string::npos ? 0 : quote + 1);
      out += kCut;
      i += kCut.size();
      continue;
    }
    if (c >= '0' && c <= '9') {
      while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
      out += '#';
      continue;
    }
    bool drawing = false;
    for (const auto& d : kDrawing) {
      if (text.substr(i).starts_with(d)) {
        i += d.size();
        drawing = true;
        break;
      }
    }
    if (!drawing) out += text[i++];
  }
  // A call's peer ("recvfrom 3 ← :34865") is left out by the ladder where its
  // column is too narrow, which also depends on the width of the time beside it.
  for (const std::string_view peer : {"←:#", "<-:#"}) {
    for (auto at = out.find(peer); at != std::string::npos; at = out.find(peer, at)) out.erase(at, peer.size());
  }
  // So is a call's IPv4 endpoint shown whole ("bind 0.0.0.0:37398") or as its port (":37398").
  static constexpr std::string_view kAddress = "#.#.#.#:";
  for (auto at = out.find(kAddress); at != std::string::npos; at = out.find(kAddress, at)) out.replace(at, kAddress.size(), ":");
  return out;
}

// A directory made by mkdtemp() for the run ("/tmp/socklab-unix-Za4TQ" after
// normalising) has a random name: it is compared as "/tmp/socklab-unix-*".
std::string without_temp_names(std::string s) {
  static const std::regex kTemp(R"((/tmp/socklab-[a-z]+-)[A-Za-z#]+)");
  return std::regex_replace(s, kTemp, "$1*");
}

bool blank(std::string_view s) { return s.find_first_not_of(' ') == std::string_view::npos; }

struct Items {
  Strings rows;   // ladder rows: "left|arrow|right" (normalised), continuations joined
  Strings other;  // every other item (normalised)
};

Items items_of(const Strings& lines) {
  Items items;
  bool in_item = false;  // the last "other" item can take a continuation line
  for (const auto& line : lines) {
    if (line.find(kBar) != std::string::npos) {
      Strings parts;
      for (std::size_t start = 0;;) {
        const auto bar = line.find(kBar, start);
        parts.push_back(line.substr(start, bar == std::string::npos ? std::string::npos : bar - start));
        if (bar == std::string::npos) break;
        start = bar + kBar.size();
      }
      std::string right;
      for (std::size_t i = 2; i < parts.size(); ++i) right += parts[i];
      const std::string middle = parts.size() > 1 ? parts[1] : "";
      if (blank(parts[0]) && normalised(middle).empty() && !items.rows.empty()) {
        items.rows.back() += normalised(right);  // the note goes on
      } else {
        items.rows.push_back(normalised(parts[0]) + "|" + normalised(middle) + "|" + normalised(right));
      }
      in_item = false;
      continue;
    }
    if (blank(line) || line == "..." || normalised(line).empty()) {
      in_item = false;
      continue;
    }
    const auto lead = line.find_first_not_of(' ');
    const std::string_view body = std::string_view(line).substr(lead);
    const bool bullet = body.starts_with("✓") || body.starts_with("✗") || body.starts_with("·") ||
                        body.starts_with("- ") || body.starts_with("!");
    if (in_item && lead > 0 && !bullet) {
      items.other.back() += normalised(line);
    } else {
      items.other.push_back(normalised(line));
      in_item = true;
    }
  }
  // A number the wrapping cut in two ("pid=93" / "45,": a long word is cut at the
  // column's edge, and where depends on the other numbers' widths) is one number.
  static const std::regex kCutNumber("#{2,}");
  for (auto& row : items.rows) row = std::regex_replace(without_temp_names(row), kCutNumber, "#");
  for (auto& item : items.other) item = std::regex_replace(without_temp_names(item), kCutNumber, "#");
  for (auto& item : items.other) {
    if (item.starts_with("·")) item = item.substr(0, item.find_first_of("#:："));
  }
  return items;
}

// What of `sample` is not in `run` (each item as often as the sample has it).
Strings missing(Strings sample, Strings run) {
  std::sort(sample.begin(), sample.end());
  std::sort(run.begin(), run.end());
  Strings out;
  std::set_difference(sample.begin(), sample.end(), run.begin(), run.end(), std::back_inserter(out));
  return out;
}

struct Sample {
  fs::path file;
  std::string lang;
  std::string command;       // "demo-udp --capture --no-lesson --loss"
  std::size_t first_line;    // index of the first line inside the block
  std::size_t end_line;      // index of the closing ```
};

std::vector<Sample> samples_of(const fs::path& file, const std::string& lang, const Strings& lines) {
  std::vector<Sample> out;
  for (std::size_t i = 0; i + 1 < lines.size(); ++i) {
    if (!lines[i].starts_with(kMarker)) continue;
    const auto close = lines[i].find(" -->");
    REQUIRE(close != std::string::npos);
    REQUIRE(lines[i + 1] == "```text");
    std::size_t end = i + 2;
    while (end < lines.size() && lines[end] != "```") ++end;
    REQUIRE(end < lines.size());
    out.push_back({file, lang, lines[i].substr(kMarker.size(), close - kMarker.size()), i + 2, end});
  }
  return out;
}

std::string summary_heading(const std::string& lang) {
  const auto common = read_file(fs::path(SOCKLAB_SOURCE_DIR) / "lessons" / lang / "common.md");
  const std::string key = "\n- summary_heading: ";
  const auto at = common.find(key);
  REQUIRE(at != std::string::npos);
  return common.substr(at + key.size(), common.find('\n', at + key.size()) - at - key.size());
}

// The command's output, run once per language and command.
const Strings& run_of(const std::string& command, const std::string& lang) {
  static std::map<std::string, Strings> runs;
  const std::string key = lang + " " + command;
  if (auto it = runs.find(key); it != runs.end()) return it->second;
  std::istringstream words(command);
  Strings args;
  for (std::string w; words >> w;) args.push_back(w);
  REQUIRE(kPrograms.contains(args.front()));
  // Started under its bare name, as a reader types it: a hint that repeats the
  // command line ("run again as root: sudo demo-ports ...") then reads the same
  // from any build directory.
  const std::string name = args.front();
  args.front() = kPrograms.at(name);
  args.insert(args.begin(), {"/bin/bash", "-c", "exec -a \"$0\" \"$@\"", name});
  args.insert(args.end(), {"--lang", lang});
  const auto r = socklab::test::run_demo(args);
  INFO(command << " --lang " << lang << "\n" << r.err);
  REQUIRE(r.exit_code == 0);
  return runs[key] = split_lines(r.out);
}

}  // namespace

TEST_CASE("every sample output in the lesson texts matches a real run", "[demos][lessons][samples]") {
  const char* update_env = std::getenv("SOCKLAB_UPDATE_SAMPLES");
  const bool update = update_env != nullptr && std::string_view(update_env) == "1";
  std::size_t checked = 0;
  for (const std::string lang : {"en", "zh"}) {
    const std::string heading = summary_heading(lang);
    for (const auto& lesson : kLessons) {
      const fs::path file = fs::path(SOCKLAB_SOURCE_DIR) / "lessons" / lang / (lesson + ".md");
      Strings lines = split_lines(read_file(file));
      auto samples = samples_of(file, lang, lines);
      CHECK(!samples.empty());
      // From the last block up, so a regenerated block does not move the ones not yet done.
      for (auto s = samples.rbegin(); s != samples.rend(); ++s) {
        const Strings& run = run_of(s->command, lang);
        Strings sample(lines.begin() + static_cast<std::ptrdiff_t>(s->first_line),
                       lines.begin() + static_cast<std::ptrdiff_t>(s->end_line));
        const bool whole = !sample.empty() && !run.empty() && sample.front() == run.front() &&
                           std::find(sample.begin(), sample.end(), "...") == sample.end();
        if (update) {
          Strings fresh = run;
          if (!whole) {
            // Keep the excerpt's rows, take the run's summary.
            const auto own = std::find(sample.begin(), sample.end(), heading);
            const auto theirs = std::find(run.begin(), run.end(), heading);
            fresh.assign(sample.begin(), own);
            if (own != sample.end() && theirs != run.end()) fresh.insert(fresh.end(), theirs, run.end());
          }
          while (!fresh.empty() && blank(fresh.back())) fresh.pop_back();
          lines.erase(lines.begin() + static_cast<std::ptrdiff_t>(s->first_line),
                      lines.begin() + static_cast<std::ptrdiff_t>(s->end_line));
          lines.insert(lines.begin() + static_cast<std::ptrdiff_t>(s->first_line), fresh.begin(), fresh.end());
          sample = fresh;
        }
        const Items want = items_of(sample);
        const Items got = items_of(run);
        INFO(file.string() << ": the sample of `" << s->command << "` (line " << s->first_line << ")");
        std::string run_text;
        for (const auto& l : run) run_text += l + "\n";
        INFO("the run printed:\n" << run_text);
        for (const auto& row : missing(want.rows, got.rows)) FAIL_CHECK("ladder row not in the run: " << row);
        for (const auto& item : missing(want.other, got.other)) FAIL_CHECK("line not in the run: " << item);
        if (whole) {
          for (const auto& row : missing(got.rows, want.rows)) FAIL_CHECK("the run has a row the sample lacks: " << row);
          for (const auto& item : missing(got.other, want.other)) FAIL_CHECK("the run has a line the sample lacks: " << item);
        }
        ++checked;
      }
      if (update) {
        std::string text;
        for (const auto& l : lines) text += l + "\n";
        const auto original = read_file(file);
        if (!original.ends_with('\n')) text.pop_back();
        std::ofstream(file, std::ios::binary | std::ios::trunc) << text;
      }
    }
  }
  CHECK(checked >= 28);  // every sample of both languages, not a vacuous pass
}
