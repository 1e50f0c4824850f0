// What the programs tell a user to type or read next: "run again" hints that
// repeat the user's own command line, the server's word to the students (an
// address they can reach), and --help that fits the terminal.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "demo_runner.hpp"
#include "net_helpers.hpp"
#include "options.hpp"
#include "socklab/cli/help_format.hpp"

using socklab::test::run_demo;
using socklab::test::start_demo;
using Strings = std::vector<std::string>;

namespace {

std::size_t widest_line(const std::string& text) {
  std::size_t widest = 0, start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    widest = std::max(widest, end - start);  // --help is ASCII: bytes are columns
    start = end + 1;
  }
  return widest;
}

// Lines of an ASCII --help that break earlier than wrapping needs: of two lines
// of a description (the same indent, at least 4; not an option's name), the
// second's first word would have fitted on the first. An option group's lines,
// wrapped to fit and wrapped again after CLI11 indented them, break so
// ("... while the first" / "is" / "unacknowledged").
std::vector<std::string> early_breaks(const std::string& text, std::size_t width) {
  std::vector<std::string> lines, out;
  for (std::size_t start = 0; start < text.size();) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const std::string& above = lines[i - 1];
    const std::string& line = lines[i];
    const std::size_t indent = line.find_first_not_of(' ');
    if (indent == std::string::npos || indent < 4 || above.find_first_not_of(' ') != indent || above[indent] == '-') continue;
    const std::size_t word = line.find(' ', indent);
    const std::size_t word_size = (word == std::string::npos ? line.size() : word) - indent;
    if (above.size() + 1 + word_size <= width) out.push_back(above + "\n" + line);
  }
  return out;
}

// The line of `text` that contains `needle` ("" when none does).
std::string line_with(const std::string& text, std::string_view needle) {
  const auto at = text.find(needle);
  if (at == std::string::npos) return {};
  const auto start = text.rfind('\n', at);
  const auto end = text.find('\n', at);
  return text.substr(start == std::string::npos ? 0 : start + 1, end == std::string::npos ? std::string::npos : end - (start == std::string::npos ? 0 : start + 1));
}

std::string replace_all(std::string text, std::string_view from, std::string_view to) {
  for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) text.replace(at, from.size(), to);
  return text;
}

}  // namespace

TEST_CASE("shell_quote leaves plain words alone and single-quotes the rest", "[demos][hints]") {
  using socklab::demo::shell_quote;
  CHECK(shell_quote("--fix") == "--fix");
  CHECK(shell_quote("/usr/local/bin/demo-udp") == "/usr/local/bin/demo-udp");
  CHECK(shell_quote("a b") == "'a b'");
  CHECK(shell_quote("") == "''");
  CHECK(shell_quote("it's") == "'it'\\''s'");
  CHECK(shell_quote("$(rm -rf ~)") == "'$(rm -rf ~)'");
}

#if SOCKLAB_HAVE_PCAP  // without libpcap the demos say --capture cannot help, not how to run it again
TEST_CASE("the run-again hint is the user's own command line plus --capture, under sudo", "[demos][hints]") {
  // A file name a shell would split and mis-read, unquoted.
  const auto file = std::filesystem::temp_directory_path() / fmt::format("socklab hint's {}.txt", ::getpid());
  std::ofstream(file) << "hello";
  struct Case {
    Strings args;
    std::string expected_tail;
  };
  const std::vector<Case> cases{
      {{DEMO_HANDSHAKE, "--refused"}, " --refused --capture"},
      {{DEMO_TEARDOWN, "--merged", "-6", "--lang", "zh"}, " --merged -6 --lang zh --capture"},
      {{DEMO_STICKY, "--fix", "length", "--no-lesson"}, " --fix length --no-lesson --capture"},
      {{DEMO_STICKY, "--fix", "header", "--file", file.string()},
       " --fix header --file '" + replace_all(file.string(), "'", "'\\''") + "' --capture"},
  };
  for (const auto& c : cases) {
    INFO(c.args.back());
    const auto r = run_demo(c.args);
    // The hint is wrapped to 80 columns: compare it with the line breaks taken out.
    std::string out;
    for (char ch : r.out) out += ch == '\n' ? ' ' : ch;
    CHECK_THAT(out, Catch::Contains("sudo " + c.args.front() + c.expected_tail));
  }
  std::filesystem::remove(file);
}
#endif

TEST_CASE("a server on loopback says students elsewhere need --listen 0.0.0.0", "[demos][hints]") {
  for (const char* demo : {DEMO_UDP, DEMO_HANDSHAKE}) {
    auto server = start_demo({demo, "--role", "server"});
    const auto err = server.wait_for_stderr("--listen 0.0.0.0");
    CHECK_THAT(err, Catch::Contains("--listen 0.0.0.0"));
    CHECK_THAT(err, Catch::Contains("loopback"));
  }
  auto v6 = start_demo({DEMO_UDP, "--role", "server", "-6"});
  CHECK_THAT(v6.wait_for_stderr("--listen ::"), Catch::Contains("--listen ::."));
}

TEST_CASE("a server on 0.0.0.0 lists the addresses students can use", "[demos][hints]") {
  // What `ip` says, independently of the demo's getifaddrs: interfaces that are
  // up, not loopback, their global IPv4 addresses.
  const auto ip = socklab::test::run({SOCKLAB_IP, "-json", "address"});
  REQUIRE(ip.exit_code == 0);
  Strings expected;
  for (const auto& link : nlohmann::json::parse(ip.out)) {
    const auto flags = link.value("flags", nlohmann::json::array());
    const auto has = [&](const char* f) { return std::find(flags.begin(), flags.end(), f) != flags.end(); };
    if (!has("UP") || has("LOOPBACK")) continue;
    for (const auto& a : link.value("addr_info", nlohmann::json::array())) {
      if (a.value("family", "") == "inet" && a.value("scope", "") == "global") expected.push_back(a.at("local"));
    }
  }
  for (const char* demo : {DEMO_UDP, DEMO_STICKY}) {
    auto server = start_demo({demo, "--role", "server", "--listen", "0.0.0.0"});
    const auto err = server.wait_for_stderr(expected.empty() ? "besides loopback" : "--host:");
    INFO(err);
    if (expected.empty()) {
      CHECK_THAT(err, Catch::Contains("cannot reach it"));
      continue;
    }
    const auto listed = line_with(err, "--host:");
    for (const auto& a : expected) CHECK_THAT(listed, Catch::Contains(a));
    CHECK_THAT(listed, !Catch::Contains("127.0.0.1"));
    // The command students copy names a real address, not a placeholder.
    CHECK_THAT(err, Catch::Contains("--host " + expected.front() + " --port "));
  }
}

TEST_CASE("wrap_help keeps the description column and fits the width", "[demos][help]") {
  const std::string line =
      "  --listen TEXT               Server: the address to listen on (default 127.0.0.1, ::1 with -6; 0.0.0.0 lets "
      "other machines in)";
  const auto wrapped = socklab::cli::wrap_help(line + "\n", 60);
  CHECK(widest_line(wrapped) <= 60);
  CHECK(wrapped.starts_with("  --listen TEXT               Server:"));
  CHECK_THAT(wrapped, Catch::Contains("\n                              "));  // continuations under the description
  CHECK(socklab::cli::wrap_help("short\nlines\n", 60) == "short\nlines\n");
}

TEST_CASE("every program's --help fits 80 columns off a terminal, and COLUMNS when set", "[demos][help]") {
  const std::vector<Strings> helps{
      {DEMO_HANDSHAKE, "--help"}, {DEMO_TEARDOWN, "--help"},         {DEMO_STICKY, "--help"},
      {DEMO_UDP, "--help"},       {DEMO_BACKLOG, "--help"},
      {DEMO_CHAT, "--help"},      {DEMO_CHAT, "server", "--help"}, {DEMO_CHAT, "client", "--help"},
#ifdef SOCKLAB_CAPTURE_TOOL
      {SOCKLAB_CAPTURE_TOOL, "--help"}, {SOCKLAB_CAPTURE_TOOL, "read", "--help"}, {SOCKLAB_CAPTURE_TOOL, "record", "--help"},
#endif
  };
  for (const auto& args : helps) {
    INFO(args.front() << " " << args[1]);
    auto env = socklab::test::demo_environment();
    env["COLUMNS"] = "";
    const auto plain = run_demo(args, env);
    CHECK(plain.exit_code == 0);
    CHECK(widest_line(plain.out) <= 80);
    CHECK(widest_line(plain.out) > 60);  // it does use the width
    for (const auto& b : early_breaks(plain.out, 80)) FAIL_CHECK("a line broken early (80 columns):\n" << b);
    env["COLUMNS"] = "50";
    const auto narrow = run_demo(args, env);
    CHECK(narrow.exit_code == 0);
    CHECK(widest_line(narrow.out) <= 50);
    for (const auto& b : early_breaks(narrow.out, 50)) FAIL_CHECK("a line broken early (50 columns):\n" << b);
  }
}

TEST_CASE("a lone client refused is told plainly that no server listens there, and nothing else", "[demos][hints]") {
  // The kernel answers a SYN there with RST, as for a stopped server.
  const auto refusing = socklab::test::refusing_port();
  const std::string& port = refusing.port;
  for (const char* demo : {DEMO_HANDSHAKE, DEMO_STICKY}) {
    const auto r = run_demo({demo, "--role", "client", "--port", port});
    INFO(demo << ": " << r.out << r.err);
    CHECK(r.exit_code == 1);
    CHECK(r.out.empty());  // no ladder: its notes would tell of a lesson that did not happen
    CHECK_THAT(r.err, Catch::Contains("Nothing listens on 127.0.0.1:" + port +
                                      ": the connection was refused (ECONNREFUSED), so no server runs there, or it "
                                      "has stopped."));
    CHECK(r.err.find("loopback") == std::string::npos);
    CHECK(r.err.find("ESTABLISHED") == std::string::npos);

    const auto zh = run_demo({demo, "--role", "client", "--port", port, "--lang", "zh"});
    CHECK(zh.exit_code == 1);
    CHECK_THAT(zh.err, Catch::Contains("127.0.0.1:" + port + " 上没有程序在监听"));

    // --json keeps its contract (lesson first, summary last) with the same plain error.
    const auto js = run_demo({demo, "--role", "client", "--port", port, "--json"});
    CHECK(js.exit_code == 1);
    const auto lines = js.json();
    const auto errors = socklab::test::of_kind(lines, "error");
    REQUIRE(errors.size() == 1);
    CHECK_THAT(errors[0].at("message").get<std::string>(), Catch::StartsWith("Nothing listens on"));
    for (const auto& c : socklab::test::of_kind(lines, "call")) CHECK(c.value("note", "").find("loopback") == std::string::npos);
  }
}
