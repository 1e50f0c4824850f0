// Every string a user sees in a --lang zh run is Chinese, protocol tokens
// excepted: every demo and variant runs with --lang zh --capture, and its
// stdout and stderr are searched for Latin words outside a short, explicit
// allow-list.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <array>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sys/socket.h>

#include <chrono>
#include <regex>
#include <thread>

#include "demo_runner.hpp"
#include "net_helpers.hpp"
#include "socklab/net.hpp"

namespace {

using Strings = std::vector<std::string>;

// Words that stay Latin in Chinese text: what the user types or greps for.
const std::set<std::string, std::less<>> kAllowed{
    // calls and socket options, as in the code and man pages
    "socket", "bind", "listen", "accept", "connect", "send", "recv", "sendto", "recvfrom", "close", "shutdown",
    "setsockopt", "getsockopt", "getpeername", "getsockname", "read", "write", "poll", "recv_exact", "sendall", "ioctl", "unlink", "capset",
    // tcpdump's words on the ladder, TCP options
    "seq", "ack", "len", "win", "frag", "unreachable", "mss", "sackOK", "wscale", "val", "ecr", "nop", "lo", "any",
    "tell",  // ARP who-has 10.0.0.3 tell 10.0.0.1
    "netlink", "neigh", "sw", "eth0",  // the kernel's interface, `ip neigh`, the lab's switch and interface names
    // units
    "ms", "s", "µs", "MiB", "KiB",
    // listen()'s argument and struct ucred's fields, as the man pages name them
    "backlog", "pid", "uid", "gid",
    // kernel counters in /proc/net/snmp and /proc/net/netstat, as nstat names them
    "UdpRcvbufErrors", "TcpExtTCPReqQFullDrop", "TcpExtListenDrops", "TcpExtSyncookiesSent", "TcpExtSyncookiesRecv",
    "TcpExtTCPSynRetrans",
    // the defence's name ("SYN cookie"), as the kernel's sysctl and the literature call it
    "cookie",
    // programs and tools the text names
    "sudo", "setcap", "cap_net_raw", "cap_net_admin", "eip", "tcpdump", "traceroute", "nn", "r", "netstat", "su", "ss", "ip", "ls",
    // ss -ltnp's process column: users:(("demo-ports",pid=1,fd=3))
    "fd",
    "Wireshark", "pcap", "pcapng", "libpcap", "proc", "net", "snmp", "python", "Python", "struct", "pack", "sleep", "root", "zh",
    // names
    "Linux", "Nagle", "socklab", "Chromium", "ClientHello",
    // demo-layers: the Ethernet header's field, the virtual link the lab uses
    "EtherType", "veth",
    // demo-web: the resolver call, the programs that visit, HTTP header names
    "getaddrinfo", "curl", "chromium", "localhost", "http", "https", "Accept", "Connection", "Host",
    // demo-router: routes as `ip route` prints them, nstat's counter names
    "default", "via", "dev", "scope", "link", "eth0", "eth1", "IcmpInTimeExcds", "IpForwDatagrams", "IpInHdrErrors", "IcmpOutTimeExcds",
};

// The payloads the lessons send, where a line shows them unquoted (a framed
// message "[00000006]hahaha", the list of messages received) or a quote was
// wrapped onto the next line: data, not UI text.
// "txt": the end of the file name sample.txt in --fix header's JSON header, wrapped.
// "x16": the first byte of a TLS ClientHello (0x16), which demo-web --bad sends as data.
const std::set<std::string, std::less<>> kPayload{"hello", "hai", "hahaha", "x00", "n", "txt", "x16"};

bool latin(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// The Latin words of `line` that are not protocol tokens.
// quoted: a quote opened on an earlier line is still open (a wrapped payload).
Strings foreign_words(std::string_view line, bool* quoted_across = nullptr) {
  Strings out;
  // demo-layers prints header bytes in hex ("dc 15 13 88 00 0d"): a line with a
  // few such tokens is a dump, and then "dc" is a byte, not a word.
  const auto hex_byte = [](std::string_view t) {
    return t.size() == 2 && std::all_of(t.begin(), t.end(), [](char ch) { return std::isxdigit(static_cast<unsigned char>(ch)) && !std::isupper(static_cast<unsigned char>(ch)); });
  };
  std::size_t bytes_in_line = 0;
  for (std::size_t i = 0; i < line.size();) {
    std::size_t end = i;
    while (end < line.size() && line[end] != ' ' && static_cast<unsigned char>(line[end]) < 0x80) ++end;
    if (end > i && hex_byte(line.substr(i, end - i))) ++bytes_in_line;
    i = end + 1;
  }
  bool quoted = quoted_across != nullptr && *quoted_across;  // payload text between quotes is the data sent
  bool flag_value = false;  // the word after a flag is its value: --fix length
  for (std::size_t i = 0; i < line.size();) {
    const char c = line[i];
    if (c == '"') {
      quoted = !quoted;
      ++i;
      continue;
    }
    if (c == ' ' || quoted) {
      ++i;
      continue;
    }
    // A token: up to the next space or non-ASCII character.
    std::size_t end = i;
    while (end < line.size() && line[end] != ' ' && line[end] != '"' && static_cast<unsigned char>(line[end]) < 0x80) ++end;
    if (end == i) {
      ++i;  // a byte of a Chinese character
      continue;
    }
    std::string_view token = line.substr(i, end - i);
    i = end;
    if (std::exchange(flag_value, token.starts_with("--"))) continue;
    // A byte in hex: with a digit in it, or in a dump of them; a number written 0x0800.
    const bool has_digit = std::any_of(token.begin(), token.end(), [](char ch) { return std::isdigit(static_cast<unsigned char>(ch)); });
    if (hex_byte(token) && (has_digit || bytes_in_line >= 3)) continue;
    if (token.starts_with("0x") && token.size() > 2 &&
        std::all_of(token.begin() + 2, token.end(), [](char ch) { return std::isxdigit(static_cast<unsigned char>(ch)); }))
      continue;
    // Flags (--fix, -6), paths (/tmp/x, ./demo-x), addresses and ports,
    // programs (demo-udp), identifiers (net.ipv4.tcp_syncookies, SO_REUSEADDR, inet_diag).
    if (token.starts_with('-') || token.find_first_of("/-:._") != std::string_view::npos) continue;
    // The words inside the token ("recv(1024)" -> "recv"; "[S.]" -> "S").
    for (std::size_t w = 0; w < token.size();) {
      if (!latin(token[w])) {
        ++w;
        continue;
      }
      std::size_t e = w;
      while (e < token.size() && (latin(token[e]) || token[e] == '_' || std::isdigit(static_cast<unsigned char>(token[e])))) ++e;
      const std::string_view word = token.substr(w, e - w);
      w = e;
      // Constants, states, errno names, flags, protocol names: SOCK_STREAM,
      // TIME_WAIT, ECONNREFUSED, S, P, TCP, IPv6, SIOCOUTQ, TCP_NODELAY.
      const bool constant = std::none_of(word.begin(), word.end(), [](char ch) { return ch >= 'a' && ch <= 'z'; }) ||
                            word == "IPv4" || word == "IPv6" || word == "ICMPv6";
      // A hexadecimal number (0x5975, a checksum): the "x" is not a word.
      const bool hex = word.size() > 1 && word[0] == 'x' && w - word.size() > 0 && token[w - word.size() - 1] == '0' &&
                       word.substr(1).find_first_not_of("0123456789abcdef") == std::string_view::npos;
      if (hex || constant || kAllowed.contains(word) || kPayload.contains(word)) continue;
      // A word cut short by the ladder's width ("le…" for len) counts as the token it starts.
      // A word cut short by the ladder's width ("le…" for len, "f…" in a JSON
      // payload): too short to judge, and the full word is shown elsewhere.
      if (e == token.size() && line.substr(i).starts_with("…") && word.size() <= 2) continue;
      // So does one that starts an allowed word ("setsocko…" for setsockopt).
      if (e == token.size() && line.substr(i).starts_with("…") &&
          std::ranges::any_of(kAllowed, [&](std::string_view a) { return a.starts_with(word); }))
        continue;
      out.emplace_back(word);
    }
  }
  if (quoted_across != nullptr) *quoted_across = quoted;
  return out;
}

// The foreign words of every line of `text` (a program's stderr, say).
Strings foreign_words_in(const std::string& text) {
  Strings out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    for (auto& w : foreign_words(text.substr(start, end - start))) out.push_back(std::move(w));
    start = end + 1;
  }
  return out;
}

}  // namespace

TEST_CASE("foreign_words finds English and lets protocol tokens be", "[demos][zh]") {
  CHECK(foreign_words("connect :46123 │ … EINPROGRESS connect() 发出 SYN").empty());
  CHECK(foreign_words("选项 [mss 65495,sackOK,TS val 1 ecr 0,nop,wscale 10]，--fix length").empty());
  CHECK(foreign_words("send 5 \"hello world\" 第 1 次").empty());
  CHECK(foreign_words("recvfrom 5 ← :38485 \"hel…\"").empty());
  CHECK(foreign_words("recvfrom 5 from :38485") == Strings{"from"});
  CHECK(foreign_words("13：dc 15 13 88 00 0d 14 21。").empty());  // header bytes
  CHECK(foreign_words("6f。").empty());
  CHECK(foreign_words("EtherType 0x0800（IPv4）").empty());
  CHECK(foreign_words("be sure") == Strings{"be", "sure"});
  CHECK(foreign_words("再重启：ok。") == Strings{"ok"});
  CHECK(foreign_words("首部校验和 0x5975。").empty());
  CHECK(foreign_words("x5975 0xzz") == Strings{"x5975", "xzz"});
  CHECK(foreign_words("0.307 setsocko… │").empty());
  CHECK(foreign_words("0.307 teardo… │") == Strings{"teardo"});
  CHECK(foreign_words("teardown 1/4") == Strings{"teardown"});
  CHECK(foreign_words(":35824 at 0.00, 1.02 s") == Strings{"at"});
  CHECK(foreign_words("长度前缀 '!I' [00]: a prefix is 4 bytes").size() == 4);
}

TEST_CASE("a command line CLI11 refuses is named in Chinese with --lang zh", "[demos][zh]") {
  // The bad input, and what the message must quote of it.
  const std::vector<std::pair<Strings, std::string>> cases{
      {{DEMO_HANDSHAKE, "--lang", "zh", "--bogus"}, "--bogus"},
      {{DEMO_HANDSHAKE, "--lang", "zh", "--port", "70000"}, "--port 70000"},
      {{DEMO_HANDSHAKE, "--port=abc", "--lang=zh"}, "--port=abc"},
      {{DEMO_HANDSHAKE, "--lang", "zh", "--role", "boss"}, "--role boss"},
      {{DEMO_PORTS, "--lang", "zh", "--reuseport", "--privileged"}, "--reuseport, --privileged"},
      {{DEMO_TEARDOWN, "--lang", "zh", "--merged", "--abort"}, "--merged, --abort"},  // CLI11 lists them in brackets
  };
  for (const auto& [cmd, input] : cases) {
    const auto r = socklab::test::run_demo(cmd);
    INFO(r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find(input) != std::string::npos);
    CHECK(foreign_words_in(r.err).empty());
  }
  // English runs keep CLI11's own words.
  const auto en = socklab::test::run_demo({DEMO_HANDSHAKE, "--lang", "en", "--bogus"});
  CHECK(en.exit_code == 2);
  CHECK(en.err.find("not expected: --bogus") != std::string::npos);
}

// The flags' own checks run before the lesson, and before anything is captured;
// they too speak the run's language (issue 10 item 17).
TEST_CASE("a bad -w, --html or address is refused in Chinese with --lang zh", "[demos][zh]") {
  const std::string dir = SOCKLAB_BINARY_DIR;
  const std::string missing = dir + "/no-such-directory/x.pcap";
  // The bad input, and what the message must quote of it.
  const std::vector<std::pair<Strings, std::string>> cases{
      {{DEMO_HANDSHAKE, "-w", dir}, dir},
      {{DEMO_HANDSHAKE, "-w", missing}, missing},
      {{DEMO_UDP, "--html", dir}, dir},
      {{DEMO_HANDSHAKE, "--pcapng"}, "--pcapng"},
      {{DEMO_HANDSHAKE, "--role", "client"}, "--role client"},
      {{DEMO_HANDSHAKE, "--role", "client", "--port", "5000", "--listen", "0.0.0.0"}, "--listen"},
      {{DEMO_HANDSHAKE, "--role", "server", "--host", "10.0.0.1"}, "--host"},
      {{DEMO_HANDSHAKE, "--host", "nosuchhost.invalid"}, "nosuchhost.invalid"},
      {{DEMO_HANDSHAKE, "-6", "--host", "127.0.0.1"}, "127.0.0.1"},
  };
  for (const auto& [args, input] : cases) {
    Strings cmd = args;
    cmd.insert(cmd.end(), {"--lang", "zh"});
    const auto r = socklab::test::run_demo(cmd);
    INFO(r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.out.empty());
    CHECK(r.err.find(input) != std::string::npos);
    CHECK(foreign_words_in(r.err).empty());
  }
  // English runs say it in English, with the same facts.
  const auto en = socklab::test::run_demo({DEMO_HANDSHAKE, "-w", missing, "--lang", "en"});
  CHECK(en.exit_code == 2);
  CHECK(en.err.find("-w capture file " + missing + ": its directory does not exist") != std::string::npos);
}

// What goes wrong speaks the run's language too: a client whose server is not
// there, and the lessons' own checks of their flags (issue 10 item 17).
TEST_CASE("errors speak Chinese with --lang zh: refused connects, the lessons' own flag checks", "[demos][zh]") {
  const auto refusing = socklab::test::refusing_port();  // a SYN there is refused, as for a stopped server
  const std::string& port = refusing.port;
  const std::vector<std::pair<Strings, int>> cases{
      {{DEMO_HANDSHAKE, "--role", "client", "--port", port}, 1},
      {{DEMO_TEARDOWN, "--role", "client", "--port", port}, 1},
      {{DEMO_STICKY, "--role", "client", "--port", port}, 1},
      {{DEMO_BACKLOG, "--role", "client", "--port", port}, 1},
      {{DEMO_BACKLOG, "--clients", "20", "--backlog", "2"}, 2},
      {{DEMO_HANDSHAKE, "--role", "server", "--refused"}, 2},
      {{DEMO_UDP, "--role", "server", "--unreachable"}, 2},
      {{DEMO_STICKY, "--endian", "little"}, 2},
      {{DEMO_STICKY, "--file", "/etc/hostname"}, 2},
      {{DEMO_STICKY, "--fix", "header", "--file", "/dev/null"}, 2},
      {{DEMO_LAYERS, "--role", "client", "--port", "5000"}, 2},
      {{DEMO_LAN, "--role", "server"}, 2},
      {{DEMO_ROUTER, "--role", "server"}, 2},
  };
  for (const auto& [args, code] : cases) {
    Strings cmd = args;
    cmd.insert(cmd.end(), {"--lang", "zh"});
    const auto r = socklab::test::run_demo(cmd);
    std::string shown;
    for (const auto& a : cmd) shown += a + " ";
    INFO(shown << "\n" << r.err);
    CHECK(r.exit_code == code);
    CHECK_FALSE(r.err.empty());
    CHECK(foreign_words_in(r.out).empty());
    CHECK(foreign_words_in(r.err).empty());
  }
  // The lab lessons refuse --role with their own note.
  for (const char* demo : {DEMO_LAN, DEMO_ROUTER}) {
    const auto r = socklab::test::run_demo({demo, "--role", "server", "--lang", "zh"});
    CHECK(r.err.find("本课自己扮演所有主机") != std::string::npos);
  }
}

TEST_CASE("every demo and variant speaks Chinese with --lang zh", "[zh-sweep]") {
  const std::vector<Strings> runs{
      {DEMO_HANDSHAKE},
      {DEMO_HANDSHAKE, "--refused"},
      {DEMO_TEARDOWN},
      {DEMO_TEARDOWN, "--merged"},
      {DEMO_TEARDOWN, "--half-close"},
      {DEMO_TEARDOWN, "--abort"},
      {DEMO_TEARDOWN, "--reuse"},
      {DEMO_STICKY},
      {DEMO_STICKY, "--nagle"},
      {DEMO_STICKY, "--split"},
      {DEMO_STICKY, "--fix", "length"},
      {DEMO_STICKY, "--fix", "delimiter"},
      {DEMO_STICKY, "--fix", "fixed"},
      {DEMO_STICKY, "--fix", "header"},
      {DEMO_STICKY, "--short-reads"},
      {DEMO_STICKY, "--short-reads", "--endian", "little"},
      {DEMO_UDP},
      {DEMO_UDP, "--truncate"},
      {DEMO_UDP, "--loss"},
      {DEMO_UDP, "--unreachable"},
      {DEMO_UDP, "--unreachable", "-6"},
      {DEMO_UDP, "--max"},
      {DEMO_UDP, "--max", "-6"},
      {DEMO_UDP, "--echo"},
      {DEMO_BACKLOG},
      {DEMO_UNIX},
      // --quiz: the questions, the grades, the score (with --capture: every question is asked)
      {DEMO_HANDSHAKE, "--answers", "2,SYN_SENT,1"},
      {DEMO_TEARDOWN, "--answers", "4,CLOSE_WAIT,TIME_WAIT"},
      {DEMO_STICKY, "--answers", "1,3"},
      {DEMO_UDP, "--answers", "3,3"},
      {DEMO_UDP, "--loss", "--answers", "20,20000"},
      {DEMO_BACKLOG, "--answers", "3,3,6"},
      {DEMO_UNIX, "--answers", "0,10,是"},
      {DEMO_PORTS},
      {DEMO_PORTS, "--reuseport"},
      {DEMO_WEB},
      {DEMO_WEB, "--bad", "--head-timeout", "200"},
      {DEMO_WEB, "--client", "curl"},
      {DEMO_WEB, "--client", "chromium"},
      {DEMO_LAN}, {DEMO_LAN, "--hub"},
      {DEMO_ROUTER},
      {DEMO_ROUTER, "--ttl", "1"},
      {DEMO_SYNFLOOD},
      {DEMO_LAYERS},
      {DEMO_LAYERS, "--udp"},
  };
  // Variants that take no --capture (nothing goes over a network).
  const std::vector<Strings> plain_runs{{DEMO_UNIX, "--stale"}, {DEMO_PORTS, "--privileged"}};
  std::vector<Strings> all = runs;
  all.insert(all.end(), plain_runs.begin(), plain_runs.end());
  for (const auto& args : all) {
    // Without --capture for the run-again hint, then with it for the wire's notes.
    for (bool capture : {false, true}) {
      Strings cmd = args;
      cmd.insert(cmd.end(), {"--lang", "zh"});
      if (capture) cmd.push_back("--capture");
      const bool plain = std::find(plain_runs.begin(), plain_runs.end(), args) != plain_runs.end();
      if (capture && plain) continue;
      if (!capture && args.size() > 1 && !plain) continue;  // the hint is the same code in every variant
      const auto r = socklab::test::run_demo(cmd);
      std::string shown;
      for (const auto& a : cmd) shown += a + " ";
      INFO(shown);
      CHECK(r.exit_code == 0);
      for (const std::string* stream : {&r.out, &r.err}) {
        bool quoted = false;
        std::size_t start = 0;
        while (start < stream->size()) {
          std::size_t end = stream->find('\n', start);
          if (end == std::string::npos) end = stream->size();
          const std::string line = stream->substr(start, end - start);
          start = end + 1;
          const auto words = foreign_words(line, &quoted);
          if (words.empty()) continue;
          std::string list;
          for (const auto& w : words) list += w + " ";
          FAIL_CHECK("English in a zh run: [" << list << "] in: " << line);
        }
      }
    }
  }
}

// --help speaks the run's language too: the demo's own flags (lessons/zh/<demo>.md),
// the common ones, the groups and CLI11's own words (common.md).
TEST_CASE("--help of every demo is Chinese with --lang zh", "[demos][zh]") {
  const Strings demos{DEMO_HANDSHAKE, DEMO_TEARDOWN, DEMO_STICKY, DEMO_UDP, DEMO_BACKLOG, DEMO_UNIX,
                      DEMO_LAYERS,    DEMO_LAN,      DEMO_PORTS,  DEMO_WEB, DEMO_ROUTER,  DEMO_SYNFLOOD};
  for (const auto& demo : demos) {
    const auto r = socklab::test::run_demo({demo, "--help", "--lang", "zh"});
    INFO(demo);
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("用法") != std::string::npos);
    for (const auto& w : foreign_words_in(r.out)) FAIL_CHECK("English in --help --lang zh: " << w << "\n" << r.out);
  }
  // A flag of the demo's own, in its lesson's words; the language from the environment too.
  const auto zh = socklab::test::run_demo({DEMO_HANDSHAKE, "--help"}, {{"LANG", "zh_CN.UTF-8"}, {"LC_ALL", ""}});
  CHECK(zh.out.find("连接一个没人监听的端口") != std::string::npos);
  // English keeps the texts written beside the flags.
  const auto en = socklab::test::run_demo({DEMO_HANDSHAKE, "--help", "--lang", "en"});
  CHECK(en.out.find("Connect to a port nobody listens on") != std::string::npos);
  CHECK(en.out.find("Print this help message and exit") != std::string::npos);
}

// A lesson stopped by a lib error (DemoFailure from must()) names the error in
// the run's language: glibc's strerror() text is English whatever --lang says.
TEST_CASE("a socket error that stops a lesson is said in Chinese with --lang zh", "[demos][zh]") {
  namespace net = socklab::net;
  using namespace std::chrono_literals;
  // A "server" that accepts and resets at once: the client's next call on the connection fails.
  auto listener = net::TcpListener::bind(net::Endpoint::loopback_v4(0), {});
  REQUIRE(listener);
  std::thread resetter([&] {
    if (auto c = listener->accept(10s)) (void)c->stream.set_linger(0s);  // closed here: an RST
  });
  const auto r = socklab::test::run_demo(
      {DEMO_TEARDOWN, "--role", "client", "--port", std::to_string(listener->endpoint().port()), "--lang", "zh"});
  resetter.join();
  INFO(r.err);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("课程中途停止") != std::string::npos);
  // Which call fails depends on when the RST arrives (getpeername, send, recv): each names its errno.
  CHECK(std::regex_search(r.err, std::regex("：.+（E[A-Z]+")));
  CHECK(foreign_words_in(r.out).empty());
  CHECK(foreign_words_in(r.err).empty());
}

// A lesson stopped by its own note (its server's port already taken), and a lab
// lesson without the lab's privileges.
TEST_CASE("a lesson's own failure notes are Chinese with --lang zh", "[demos][zh]") {
  const auto held = socklab::test::refusing_port();  // bound: the lesson's server cannot bind it
  const auto taken = socklab::test::run_demo({DEMO_HANDSHAKE, "--port", held.port, "--lang", "zh"});
  INFO(taken.err);
  CHECK(taken.exit_code == 1);
  CHECK(taken.err.find("课程中途停止") != std::string::npos);
  CHECK(foreign_words_in(taken.err).empty());
  CHECK(foreign_words_in(taken.out).empty());

  const auto lab = socklab::test::run_demo(
      {SOCKLAB_SETPRIV, "--bounding-set=-all", "--inh-caps=-all", "--", DEMO_ROUTER, "--lang", "zh"});
  INFO(lab.err);
  CHECK(lab.exit_code == 5);
  CHECK(lab.err.find("CAP_NET_ADMIN") != std::string::npos);
  CHECK(foreign_words_in(lab.err).empty());
}
