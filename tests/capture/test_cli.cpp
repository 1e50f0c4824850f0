// `socklab-capture read`: the built tool, run as a user would, outputs and exit codes.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstring>

#include <nlohmann/json.hpp>

#include "golden.hpp"
#include "temp_dir.hpp"

namespace {

struct Run {
  int exit_code = -1;
  std::string out, err;
};

std::string slurp(const std::filesystem::path& p) {
  const auto b = read_file(p);
  return {b.begin(), b.end()};
}

// Starts the tool with the given descriptors as its standard input and output
// (-1: inherit); its standard error goes to `err`.
pid_t spawn_tool(const std::vector<std::string>& args, int in, int out, const std::filesystem::path& err) {
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    std::signal(SIGPIPE, SIG_DFL);  // as a shell starts it, whatever the test runner did
    const int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (e < 0 || ::dup2(e, 2) < 0) ::_exit(126);
    if ((in >= 0 && ::dup2(in, 0) < 0) || (out >= 0 && ::dup2(out, 1) < 0)) ::_exit(126);
    std::vector<char*> argv;
    std::string tool = SOCKLAB_CAPTURE_TOOL;
    argv.push_back(tool.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(tool.c_str(), argv.data());
    ::_exit(127);
  }
  return pid;
}

int wait_exit_code(pid_t pid) {
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Runs the tool to the end; `stdin_bytes`, when given, arrive through a pipe.
Run run_tool(const std::vector<std::string>& args, const std::vector<char>* stdin_bytes = nullptr) {
  TempDir tmp;
  const auto out = tmp.path / "out", err = tmp.path / "err";
  const int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  REQUIRE(o >= 0);
  int feed[2] = {-1, -1};
  if (stdin_bytes != nullptr) REQUIRE(::pipe2(feed, O_CLOEXEC) == 0);
  const pid_t pid = spawn_tool(args, feed[0], o, err);
  ::close(o);
  if (stdin_bytes != nullptr) {
    std::signal(SIGPIPE, SIG_IGN);  // a tool that stops reading early must not kill the test
    ::close(feed[0]);
    std::size_t done = 0;
    while (done < stdin_bytes->size()) {
      const ssize_t n = ::write(feed[1], stdin_bytes->data() + done, stdin_bytes->size() - done);
      if (n <= 0) break;  // the tool stopped reading (an error it reports)
      done += static_cast<std::size_t>(n);
    }
    ::close(feed[1]);
  }
  Run r;
  r.exit_code = wait_exit_code(pid);
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

std::string capture(const char* name) { return (golden::data_dir() / "captures" / name).string(); }

std::vector<std::string> lines_of(const std::string& s) { return golden::split(s.substr(0, s.size() - 1), '\n'); }

}  // namespace

TEST_CASE("read prints tcpdump-style lines with phases, and the file's header on stderr", "[cli]") {
  const Run r = run_tool({"read", capture("handshake.pcap")});
  CHECK(r.exit_code == 0);
  const auto lines = lines_of(r.out);
  REQUIRE(lines.size() == 7);
  CHECK(lines[0].rfind("1 0.000000 IP 127.0.0.1.", 0) == 0);
  CHECK(lines[0].find(": Flags [S], seq 0, win 65495, options [mss 65495,sackOK,TS val") != std::string::npos);
  CHECK(lines[0].find("length 0  [handshake 1/3]") != std::string::npos);
  CHECK(lines[1].find("Flags [S.], seq 0, ack 1,") != std::string::npos);
  CHECK(lines[6].find("  [teardown 4/4]") != std::string::npos);
  CHECK(r.err.find("reading from file " + capture("handshake.pcap") + ", link-type EN10MB (Ethernet)") !=
        std::string::npos);
}

TEST_CASE("read --json prints the contract, one object per line", "[cli][json]") {
  const Run r = run_tool({"read", "--json", capture("udp_unreachable.pcap")});
  CHECK(r.exit_code == 0);
  const auto lines = lines_of(r.out);
  REQUIRE(lines.size() == 5);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const auto j = nlohmann::json::parse(lines[i]);
    CHECK(j["kind"] == "packet");
    CHECK(j["n"] == i + 1);
    for (const char* key : {"t", "src", "dst", "proto", "len", "phase", "analysis", "malformed"}) {
      INFO(key);
      CHECK(j.contains(key));
    }
  }
  const auto last = nlohmann::json::parse(lines[4]);
  CHECK(last["proto"] == "icmp");
  CHECK(last["related"] == 4);
}

TEST_CASE("read --layers, --absolute-seq and --count", "[cli]") {
  const Run layers = run_tool({"read", "--layers", "-c", "1", capture("ipv6.pcap")});
  CHECK(layers.exit_code == 0);
  CHECK(layers.out.find("frame 1:") != std::string::npos);
  CHECK(layers.out.find("frame 2:") == std::string::npos);
  CHECK(layers.out.find("  network    IPv6  ::1 > ::1") != std::string::npos);
  const Run abs = run_tool({"read", "--absolute-seq", capture("refused.pcap")});
  CHECK(abs.exit_code == 0);
  const auto tcpdump = golden::read_lines(capture("refused.pcap") + ".tcpdump-S.txt");
  const auto lines = lines_of(abs.out);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].find(tcpdump[0] + "  [handshake 1/3]") != std::string::npos);
  CHECK(lines[1].find(tcpdump[1] + "  [refused]") != std::string::npos);
}

TEST_CASE("read: exit codes and errors for bad files and bad usage", "[cli][errors]") {
  TempDir tmp;
  SECTION("missing file: 1") {
    const Run r = run_tool({"read", (tmp.path / "missing.pcap").string()});
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("missing.pcap: cannot open: No such file or directory") != std::string::npos);
    CHECK(r.out.empty());
  }
  SECTION("not a capture: 1") {
    const std::string text = "just some text\n";
    const Run r = run_tool({"read", tmp.write("x.txt", {text.begin(), text.end()}).string()});
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("x.txt: not a capture file") != std::string::npos);
  }
  SECTION("truncated in the middle: the packets before are printed, exit 3") {
    const auto good = read_file(capture("data.pcap"));
    const Run r = run_tool({"read", tmp.write("cut.pcap", {good.begin(), good.end() - 10}).string()});
    CHECK(r.exit_code == 3);
    CHECK(lines_of(r.out).size() == 15);
    CHECK(r.err.find("cut.pcap: damaged after packet 15") != std::string::npos);
    CHECK(r.err.find("incomplete: the 15 packets before the damage were printed") != std::string::npos);
  }
  SECTION("bad usage: 2") {
    CHECK(run_tool({"read"}).exit_code == 2);
    CHECK(run_tool({"read", "--json", "--layers", capture("data.pcap")}).exit_code == 2);
    CHECK(run_tool({"read", "--no-such-flag", capture("data.pcap")}).exit_code == 2);
    CHECK(run_tool({}).exit_code == 2);
  }
  SECTION("--help shows examples and the exit codes") {
    const Run r = run_tool({"read", "--help"});
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("Examples:") != std::string::npos);
    CHECK(r.out.find("socklab-capture read --json") != std::string::npos);
    CHECK(r.out.find("3  the file is damaged or truncated") != std::string::npos);
  }
}

TEST_CASE("read --ladder draws the capture with client and server columns", "[cli][ladder]") {
  const Run r = run_tool({"read", "--ladder", "--ascii", "--color", "never", capture("handshake.pcap")});
  CHECK(r.exit_code == 0);
  const auto lines = lines_of(r.out);
  REQUIRE(lines.size() >= 8);
  CHECK(lines[0].find("client :") != std::string::npos);
  CHECK(lines[0].find("server :") != std::string::npos);
  CHECK(r.out.find("S seq 0") != std::string::npos);
  CHECK(r.out.find("handshake 1/3") != std::string::npos);
  CHECK(r.out.find("teardown 4/4") != std::string::npos);
  CHECK(r.out.find("\x1b[") == std::string::npos);  // no colour when asked for none
  for (const auto& l : lines) {
    INFO(l);
    CHECK(l.size() <= 80);  // ASCII: bytes are columns
    for (const char c : l) CHECK(static_cast<unsigned char>(c) < 0x80);
  }
  CHECK(run_tool({"read", "--ladder", "--color", "sometimes", capture("handshake.pcap")}).exit_code == 2);
}

TEST_CASE("read -c: a whole number of packets, 1 or more, refused otherwise in words", "[cli][errors]") {
  for (const char* bad : {"-1", "0", "abc", "1.5", ""}) {
    INFO("-c '" << bad << "'");
    const Run r = run_tool({"read", "-c", bad, capture("data.pcap")});
    CHECK(r.exit_code == 2);
    CHECK(r.out.empty());
    CHECK(r.err.find(std::string("'") + bad + "' is not a whole number of packets, 1 or more") != std::string::npos);
    CHECK(r.err.find("179769") == std::string::npos);
  }
  CHECK(lines_of(run_tool({"read", "-c", "2", capture("data.pcap")}).out).size() == 2);
}

TEST_CASE("read -: standard input, a pipe, pcap and pcapng, as tcpdump -r -", "[cli][stdin]") {
  for (const auto& file : {capture("data.pcap"), (golden::data_dir() / "corpus" / "chrissanders__tcp_dupack.pcapng").string()}) {
    INFO(file);
    const auto bytes = read_file(file);
    const Run from_file = run_tool({"read", file});
    const Run piped = run_tool({"read", "-"}, &bytes);
    CHECK(piped.exit_code == 0);
    REQUIRE(from_file.exit_code == 0);
    CHECK(piped.out == from_file.out);
    CHECK(piped.err.rfind("reading from file -, link-type EN10MB", 0) == 0);
  }
  SECTION("damaged input names standard input") {
    const auto good = read_file(capture("data.pcap"));
    const std::vector<char> cut(good.begin(), good.end() - 10);
    const Run r = run_tool({"read", "-"}, &cut);
    CHECK(r.exit_code == 3);
    CHECK(lines_of(r.out).size() == 15);
    CHECK(r.err.find("standard input: damaged after packet 15") != std::string::npos);
    const std::vector<char> none;
    const Run empty = run_tool({"read", "-"}, &none);
    CHECK(empty.exit_code == 1);
    CHECK(empty.err.find("standard input: the input is empty") != std::string::npos);
  }
}

TEST_CASE("read: a pcapng cut inside its first block ends inside its header, as a pcap", "[cli][errors]") {
  TempDir tmp;
  const auto good = read_file(golden::data_dir() / "corpus" / "chrissanders__tcp_dupack.pcapng");
  for (std::size_t keep : {4, 8, 11, 20}) {
    INFO(keep << " bytes");
    const std::vector<char> cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(keep));
    const auto path = tmp.write("cut.pcapng", cut).string();
    const Run r = run_tool({"read", path});
    CHECK(r.exit_code == 1);
    CHECK(r.err.find(path + ": the file ends inside its header") != std::string::npos);
    const Run piped = run_tool({"read", "-"}, &cut);
    CHECK(piped.exit_code == 1);
    CHECK(piped.err.find("standard input: the file ends inside its header") != std::string::npos);
  }
}

TEST_CASE("read from a FIFO still being written: each packet's line comes out at once", "[cli][fifo]") {
  TempDir tmp;
  const auto fifo = tmp.path / "live.pcap";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  const auto file = read_file(capture("data.pcap"));
  const std::size_t first_record_end = 24 + 16 + 74;  // the file header and the 74-byte SYN
  REQUIRE(static_cast<unsigned char>(file[24 + 8]) == 74);
  int out[2];
  REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
  const pid_t pid = spawn_tool({"read", fifo.string()}, -1, out[1], tmp.path / "err");
  ::close(out[1]);
  const int w = ::open(fifo.c_str(), O_WRONLY | O_CLOEXEC);  // waits for the tool to open it
  REQUIRE(w >= 0);
  REQUIRE(::write(w, file.data(), first_record_end) == static_cast<ssize_t>(first_record_end));
  // The writer has more to send and keeps the FIFO open: the first line must come now.
  // (The poll limit only turns a missing line into a failure instead of a hang.)
  std::string got;
  while (got.find('\n') == std::string::npos) {
    pollfd p{out[0], POLLIN, 0};
    REQUIRE(::poll(&p, 1, 30'000) == 1);
    char buf[512];
    const ssize_t n = ::read(out[0], buf, sizeof buf);
    REQUIRE(n > 0);
    got.append(buf, static_cast<std::size_t>(n));
  }
  CHECK(got.rfind("1 0.000000 IP 127.0.0.1.", 0) == 0);
  CHECK(got.find("[handshake 1/3]") != std::string::npos);
  const auto rest = static_cast<ssize_t>(file.size() - first_record_end);
  REQUIRE(::write(w, file.data() + first_record_end, static_cast<std::size_t>(rest)) == rest);
  ::close(w);
  char buf[4096];
  for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;) got.append(buf, static_cast<std::size_t>(n));
  ::close(out[0]);
  CHECK(wait_exit_code(pid) == 0);
  CHECK(lines_of(got).size() == 16);
  CHECK(run_tool({"read", "-l", capture("data.pcap")}).out == got);
}

TEST_CASE("read | head -1: the reader going away ends the run quietly with 0", "[cli][pipe]") {
  TempDir tmp;
  // 976 lines (about 150 kB): more than a pipe holds (64 kB), so the tool is still writing.
  auto file = read_file(capture("data.pcap"));
  const std::vector<char> records(file.begin() + 24, file.end());
  for (int i = 0; i < 60; ++i) file.insert(file.end(), records.begin(), records.end());
  const auto big = tmp.write("big.pcap", file);
  int out[2];
  REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
  const pid_t pid = spawn_tool({"read", big.string()}, -1, out[1], tmp.path / "err");
  ::close(out[1]);
  std::string got;
  while (got.find('\n') == std::string::npos) {
    char c;
    REQUIRE(::read(out[0], &c, 1) == 1);
    got.push_back(c);
  }
  ::close(out[0]);  // as head -1 does after its line
  CHECK(wait_exit_code(pid) == 0);
  CHECK(slurp(tmp.path / "err").find("writing the output failed") == std::string::npos);
  CHECK(got.rfind("1 0.000000 IP ", 0) == 0);
}

TEST_CASE("read --max-streams: past the bound, one notice and the packets still shown", "[cli][memory]") {
  const Run all = run_tool({"read", "--json", capture("backlog.pcap")});
  const Run capped = run_tool({"read", "--json", "--max-streams", "1", capture("backlog.pcap")});
  REQUIRE(all.exit_code == 0);
  CHECK(capped.exit_code == 0);
  const auto a = lines_of(all.out), b = lines_of(capped.out);
  REQUIRE(a.size() == b.size());
  std::size_t untracked = 0;
  for (const auto& line : b) untracked += nlohmann::json::parse(line).contains("stream") ? 0 : 1;
  CHECK(untracked > 0);
  const std::string notice = "packet 4: the stream table is full (--max-streams 1, all still open): packets of new "
                             "conversations are shown from now on without stream, phase or analysis";
  const auto at = capped.err.find(notice);
  CHECK(at != std::string::npos);
  CHECK(capped.err.find(notice, at + 1) == std::string::npos);  // said once
  CHECK(all.err.find(notice) == std::string::npos);
  const Run bad = run_tool({"read", "--max-streams", "-1", capture("backlog.pcap")});
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("'-1' is not a whole number of conversations, from 0 to 4294967295") != std::string::npos);
}
