// `socklab-capture read`: the built tool, run as a user would, outputs and exit codes.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

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

Run run_tool(const std::vector<std::string>& args) {
  TempDir tmp;
  const auto out = tmp.path / "out", err = tmp.path / "err";
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (o < 0 || e < 0 || ::dup2(o, 1) < 0 || ::dup2(e, 2) < 0) ::_exit(126);
    std::vector<char*> argv;
    std::string tool = SOCKLAB_CAPTURE_TOOL;
    argv.push_back(tool.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(tool.c_str(), argv.data());
    ::_exit(127);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  Run r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
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
