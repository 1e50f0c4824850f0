// Lessons 3 to 5 (demo-sticky, demo-udp, demo-backlog) run as programs without
// capture: the verdicts of every variant, the calls that carry the lesson, both
// roles in two processes, IPv6, bad usage, the lesson notes, the ladder's width.
#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include "demo_checks.hpp"
#include "socklab/capture/terminal.hpp"
#include "socklab/net.hpp"

using socklab::test::check_verdicts;
using socklab::test::fact_value;
using socklab::test::of_kind;
using socklab::test::run_demo;
using socklab::test::RunResult;
using socklab::test::verdicts;
using Strings = std::vector<std::string>;
using nlohmann::json;

namespace {

struct Variant {
  std::string program;
  Strings flags;
  Strings expected;  // the verdicts it gives without capture (each side its own in two processes)
  bool two_processes = true;
};

const std::vector<Variant> kVariants{
    {DEMO_STICKY, {}, {"glued_read"}},
    {DEMO_STICKY, {"--nagle"}, {"glued_read", "nagle_holds_small_writes"}},
    {DEMO_STICKY, {"--split"}, {"split_into_chunks"}},
    {DEMO_STICKY, {"--fix", "length"}, {"messages_whole"}},
    {DEMO_STICKY, {"--fix", "length", "--endian", "little"}, {"messages_whole"}, false},
    {DEMO_STICKY, {"--fix", "delimiter"}, {"messages_whole"}, false},
    {DEMO_STICKY, {"--fix", "fixed"}, {"messages_whole"}, false},
    {DEMO_STICKY, {"--fix", "header"}, {"file_sent", "header_received", "file_intact"}},
    {DEMO_STICKY, {"--fix", "header", "--endian", "little"}, {"file_sent", "header_received", "file_intact"}, false},
    {DEMO_STICKY, {"--short-reads"}, {"naive_header_short", "recv_exact_whole"}},
    {DEMO_UDP, {}, {"datagrams_kept", "tcp_glued"}},
    {DEMO_UDP, {"--truncate"}, {"truncated", "rest_lost"}, false},
    {DEMO_UDP, {"--loss"}, {"udp_loses_datagrams", "drops_counted", "kernel_counter", "tcp_whole"}},
    {DEMO_UDP, {"--unreachable"}, {"send_succeeds", "recv_refused"}, false},
    {DEMO_UDP, {"--max"}, {"largest_datagram_sent", "one_more_fails", "largest_datagram_received"}, false},
    {DEMO_UDP, {"--echo"}, {"answered_to_sender", "replies_from_server"}},
    {DEMO_BACKLOG, {}, {"completed_before_accept", "left_in_syn_sent", "all_complete_after_accept",
                        "accept_queue_full", "syns_dropped", "all_accepted"}},
};

std::string name_of(const Variant& v) {
  std::string n = v.program.substr(v.program.rfind('/') + 1);
  for (const auto& f : v.flags) n += " " + f;
  return n;
}

Strings with(Strings args, const Strings& more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

// The calls of one side with one name, in order.
std::vector<json> calls(const std::vector<json>& lines, std::string_view side, std::string_view name) {
  std::vector<json> out;
  for (const auto& c : of_kind(lines, "call")) {
    if (c.at("side") == side && c.at("call") == name) out.push_back(c);
  }
  return out;
}

std::vector<std::int64_t> results(const std::vector<json>& cs) {
  std::vector<std::int64_t> out;
  for (const auto& c : cs) out.push_back(c.at("result").get<std::int64_t>());
  return out;
}

std::string read_source(const std::string& relative) {
  std::ifstream in(std::string(SOCKLAB_SOURCE_DIR) + "/" + relative);
  REQUIRE(in);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("lessons 3-5: every variant runs and gives its verdicts (no capture)", "[demos][lessons]") {
  for (const auto& v : kVariants) {
    SECTION(name_of(v)) {
      const auto r = run_demo(with(with({v.program}, v.flags), {"--json"}));
      check_verdicts(r, v.expected);
      const auto lines = r.json();
      CHECK(of_kind(lines, "packet").empty());
      CHECK(lines.front().at("kind") == "lesson");
      CHECK(lines.back().at("kind") == "summary");
    }
  }
}

TEST_CASE("sticky: three send() calls, one recv() of 1024 returning all 14 bytes", "[demos][lessons][sticky]") {
  const auto lines = run_demo({DEMO_STICKY, "--json"}).json();
  CHECK(results(calls(lines, "client", "send")) == std::vector<std::int64_t>{5, 3, 6});
  const auto recvs = calls(lines, "server", "recv");
  REQUIRE(recvs.size() == 1);
  CHECK(recvs[0].at("args") == "1024");
  CHECK(recvs[0].at("result") == 14);
  CHECK(recvs[0].at("preview") == "hellohaihahaha");
  // The server waited on the queue (SO_RCVLOWAT), never on a sleep.
  bool lowat = false;
  for (const auto& c : calls(lines, "server", "setsockopt")) lowat = lowat || c.at("args") == "SO_RCVLOWAT=14";
  CHECK(lowat);
  const auto layers = fact_value(lines, "three_layers");
  CHECK(layers.at("send") == json({5, 3, 6}));
  CHECK(layers.at("recv") == json({14}));
}

TEST_CASE("sticky --nagle: Nagle holds the small writes back, TCP_NODELAY does not", "[demos][lessons][sticky]") {
  const auto lines = run_demo({DEMO_STICKY, "--nagle", "--json"}).json();
  const auto v = verdicts(lines);
  CHECK(v.at("nagle_holds_small_writes").at("observed") == json({{"nagle", 9}, {"nodelay", 0}}));
  CHECK(v.at("glued_read").at("observed") == json({"hellohaihahaha", "hellohaihahaha"}));
  bool quickack = false, nodelay = false;
  for (const auto& c : calls(lines, "server", "setsockopt")) quickack = quickack || c.at("args") == "TCP_QUICKACK=0";
  for (const auto& c : calls(lines, "client", "setsockopt")) nodelay = nodelay || c.at("args") == "TCP_NODELAY=1";
  CHECK(quickack);
  CHECK(nodelay);
}

TEST_CASE("sticky --split: 1 MiB in one send(), many recv() chunks", "[demos][lessons][sticky]") {
  const auto lines = run_demo({DEMO_STICKY, "--split", "--json"}).json();
  CHECK(results(calls(lines, "client", "send")) == std::vector<std::int64_t>{1 << 20});
  const auto chunks = results(calls(lines, "server", "recv"));
  CHECK(chunks.size() > 1);
  std::int64_t total = 0;
  for (auto n : chunks) {
    CHECK(n < (1 << 20));
    total += n;
  }
  CHECK(total == 1 << 20);
  for (const auto& c : calls(lines, "server", "recv")) CHECK(c.at("args") == "1048576");  // room for all of it
}

TEST_CASE("sticky --fix: each codec marks the frame boundaries in the one glued chunk", "[demos][lessons][sticky]") {
  struct Case {
    Strings flags;
    std::string first_send;  // the client's first send(), framed
    json boundaries;
  };
  const std::vector<Case> cases{
      {{"--fix", "length"}, "\\x00\\x00\\x00\\x05hello", json({{9, 16, 26}})},
      {{"--fix", "length", "--endian", "little"}, "\\x05\\x00\\x00\\x00hello", json({{9, 16, 26}})},
      {{"--fix", "delimiter"}, "hello\\n", json({{6, 10, 17}})},
      {{"--fix", "fixed"}, "hello\\x00\\x00\\x00", json({{8, 16, 24}})},
  };
  for (const auto& c : cases) {
    INFO(c.flags.back());
    const auto lines = run_demo(with({DEMO_STICKY, "--json"}, c.flags)).json();
    const auto sends = calls(lines, "client", "send");
    REQUIRE(sends.size() == 3);
    CHECK(sends[0].at("preview") == c.first_send);
    CHECK(fact_value(lines, "frame_boundaries") == c.boundaries);
    CHECK(verdicts(lines).at("messages_whole").at("observed") == json({"hello", "hai", "hahaha"}));
  }
}

TEST_CASE("sticky --fix header: header and file's first bytes come in one recv(1024)", "[demos][lessons][sticky]") {
  const auto r = run_demo({DEMO_STICKY, "--fix", "header", "--json"});
  const auto v = check_verdicts(r, {"file_intact"});
  const auto lines = r.json();
  CHECK(v.at("header_received").at("observed").at("file_name") == "socklab-sample.txt");
  const auto first = calls(lines, "client", "recv").at(0);
  CHECK(first.at("result") == 1024);
  const auto header_end = fact_value(lines, "header_end").get<int>();
  CHECK(header_end > 4);
  CHECK(header_end < 1024);  // the rest of that chunk is the file
  // Big-endian by default: the first byte of a small length is 0.
  CHECK(calls(lines, "server", "send").at(0).at("preview").get<std::string>().starts_with("\\x00\\x00\\x00"));
}

TEST_CASE("sticky --fix header --file: a file of the user's, checked byte for byte", "[demos][lessons][sticky]") {
  const std::string path = std::string(SOCKLAB_BINARY_DIR) + "/lessons-test-file.bin";
  {
    std::ofstream out(path, std::ios::binary);
    for (int i = 0; i < 100000; ++i) out.put(static_cast<char>((i * 7919) % 251));
  }
  const auto r = run_demo({DEMO_STICKY, "--fix", "header", "--file", path, "--json"});
  const auto v = check_verdicts(r, {"file_sent", "header_received", "file_intact"});
  CHECK(v.at("file_intact").at("observed") == json({{"bytes", 100000}, {"same_bytes", true}}));
  CHECK(v.at("header_received").at("observed").at("file_name") == "lessons-test-file.bin");
  // Past the first few, the send() and recv() calls are summarised, not listed.
  const auto lines = r.json();
  CHECK(calls(lines, "server", "send").size() <= 9);
  CHECK(calls(lines, "client", "recv").size() <= 8);
  std::remove(path.c_str());
}

TEST_CASE("sticky --short-reads: recv(4) trusted gets 1 byte, recv_exact loops", "[demos][lessons][sticky]") {
  for (const char* endian : {"big", "little"}) {
    INFO(endian);
    const auto lines = run_demo({DEMO_STICKY, "--short-reads", "--endian", endian, "--json"}).json();
    const auto recvs = calls(lines, "server", "recv");
    REQUIRE(recvs.size() == 6);
    CHECK(recvs[0].at("args") == "4");
    CHECK(recvs[0].at("result") == 1);  // the naive receiver's only recv()
    CHECK(results({recvs.begin() + 1, recvs.end()}) == std::vector<std::int64_t>{1, 1, 1, 1, 5});
    CHECK(fact_value(lines, "recv_exact_calls") == json({1, 1, 1, 1, 5}));
    CHECK_THAT(fact_value(lines, "naive_error").get<std::string>(), Catch::Contains("a prefix is 4 bytes, got 1"));
    // The client sent the header a byte at a time.
    const auto sends = results(calls(lines, "client", "send"));
    REQUIRE(sends.size() >= 5);
    CHECK(std::vector<std::int64_t>(sends.end() - 5, sends.end()) == std::vector<std::int64_t>{1, 1, 1, 1, 5});
  }
}

TEST_CASE("udp: three datagrams, three recvfrom(); TCP glues the same messages", "[demos][lessons][udp]") {
  const auto lines = run_demo({DEMO_UDP, "--json"}).json();
  const auto sendtos = calls(lines, "client", "sendto");
  CHECK(results(sendtos) == std::vector<std::int64_t>{5, 3, 6});
  const auto recvfroms = calls(lines, "server", "recvfrom");
  REQUIRE(recvfroms.size() == 3);
  CHECK(results(recvfroms) == std::vector<std::int64_t>{5, 3, 6});
  for (const auto& c : recvfroms) CHECK_THAT(c.at("args").get<std::string>(), Catch::StartsWith("1024 127.0.0.1:"));
  // No connect() for UDP: the client's only connect is its TCP one.
  CHECK(calls(lines, "client", "connect").size() == 1);
  CHECK(results(calls(lines, "server", "recv")) == std::vector<std::int64_t>{14});
  // In one process the server can tell its client's port: each datagram came from it.
  CHECK(verdicts(lines).at("sender_port").at("ok") == true);
}

TEST_CASE("udp --truncate, --unreachable, --max: the calls say it", "[demos][lessons][udp]") {
  const auto trunc = run_demo({DEMO_UDP, "--truncate", "--json"}).json();
  const auto first = calls(trunc, "server", "recvfrom").at(0);
  CHECK_THAT(first.at("args").get<std::string>(), Catch::Contains("MSG_TRUNC"));
  CHECK(first.at("result") == 48);  // the real size, though 16 were copied

  const auto unreach = run_demo({DEMO_UDP, "--unreachable", "--json"}).json();
  CHECK(calls(unreach, "client", "send").at(0).at("result") == 13);
  CHECK(calls(unreach, "client", "recv").at(0).at("error") == "ECONNREFUSED");

  for (const bool v6 : {false, true}) {
    INFO((v6 ? "IPv6" : "IPv4"));
    const auto r = run_demo(v6 ? Strings{DEMO_UDP, "--max", "-6", "--json"} : Strings{DEMO_UDP, "--max", "--json"});
    check_verdicts(r, {"largest_datagram_sent", "one_more_fails", "largest_datagram_received"});
    const auto sends = calls(r.json(), "client", "sendto");
    REQUIRE(sends.size() == 2);
    const std::int64_t max = v6 ? 65527 : 65507;
    CHECK(sends[0].at("result") == max);
    CHECK(sends[1].at("error") == "EMSGSIZE");
    CHECK(fact_value(r.json(), "limit") == max);
  }
}

TEST_CASE("udp --loss: the numbers add up with the kernel's counters", "[demos][lessons][udp]") {
  const auto r = run_demo({DEMO_UDP, "--loss", "--json"});
  const auto v = check_verdicts(r, {"udp_loses_datagrams", "drops_counted", "kernel_counter", "tcp_whole"});
  const auto lines = r.json();
  const auto arrived = fact_value(lines, "arrived");
  const auto drops = v.at("drops_counted").at("observed").get<int>();
  CHECK(static_cast<int>(arrived.size()) + drops == 20);
  CHECK(arrived.size() >= 1);
  CHECK(drops >= 1);
  CHECK(v.at("kernel_counter").at("observed").at("at_least").get<int>() >= drops);
  // The first datagrams are the ones that fit: numbers 1, 2, ... in order.
  for (std::size_t i = 0; i < arrived.size(); ++i) CHECK(arrived[i] == static_cast<int>(i) + 1);
  CHECK(fact_value(lines, "rcvbuf").get<int>() >= 4096);
}

TEST_CASE("backlog: N+1 complete without accept(), for several N", "[demos][lessons][backlog]") {
  const auto r = run_demo({DEMO_BACKLOG, "--backlog", "0", "--clients", "2", "--json"});
  const auto v = check_verdicts(r, {"completed_before_accept", "left_in_syn_sent", "accept_queue_full",
                                    "all_accepted", "all_complete_after_accept"});
  CHECK(v.at("completed_before_accept").at("observed") == 1);
  CHECK(v.at("left_in_syn_sent").at("observed") == 1);
  CHECK(v.at("accept_queue_full").at("observed") == json({{"length", 1}, {"limit", 0}}));
  const auto settings = fact_value(r.json(), "kernel_settings");
  for (const char* name : {"net.core.somaxconn", "net.ipv4.tcp_max_syn_backlog", "net.ipv4.tcp_syncookies",
                           "net.ipv4.tcp_abort_on_overflow"}) {
    CHECK(settings.contains(name));
    CHECK(settings.at(name).is_string());
  }
}

TEST_CASE("lessons 3-5: --role server and --role client in two processes", "[demos][lessons][roles]") {
  for (const auto& v : kVariants) {
    if (!v.two_processes) continue;
    SECTION(name_of(v)) {
      const auto run = socklab::test::run_two_processes(with({v.program}, v.flags), v.expected);
      // The server's own command line for its clients carries the variant's flags.
      for (const auto& f : v.flags) CHECK_THAT(run.announcement, Catch::Contains(f));
      for (const auto& c : of_kind(run.server.json(), "call")) CHECK(c.at("side") == "server");
      for (const auto& c : of_kind(run.client.json(), "call")) CHECK(c.at("side") == "client");
    }
  }
  SECTION("udp --unreachable: a lone client against a port where no socket receives") {
    // A UDP socket connected to itself holds the port but accepts nobody else's datagrams.
    auto holder = socklab::net::UdpSocket::bind(socklab::net::Endpoint::loopback_v4(0));
    REQUIRE(holder);
    const auto at = *holder->local_endpoint();
    REQUIRE(holder->connect(at));
    const auto r = run_demo({DEMO_UDP, "--unreachable", "--role", "client", "--port", std::to_string(at.port()), "--json"});
    check_verdicts(r, {"send_succeeds", "recv_refused"});
  }
}

TEST_CASE("lessons 3-5 over IPv6 with -6", "[demos][lessons]") {
  for (const Strings& args : {Strings{DEMO_STICKY, "-6"}, Strings{DEMO_STICKY, "-6", "--fix", "header"},
                              Strings{DEMO_UDP, "-6"}, Strings{DEMO_UDP, "-6", "--loss"},
                              Strings{DEMO_BACKLOG, "-6", "--backlog", "1", "--clients", "3"}}) {
    INFO(args[0] << " " << args.back());
    const auto r = run_demo(with(args, {"--json"}));
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    const auto lines = r.json();
    CHECK(of_kind(lines, "summary").at(0).at("ok") == true);
    bool v6 = false;
    for (const auto& c : of_kind(lines, "call")) {
      if (c.at("call") == "bind") v6 = v6 || c.at("args").get<std::string>().starts_with("[::1]:");
    }
    CHECK(v6);
  }
}

TEST_CASE("lessons 3-5: bad usage exits 2 and names the flag", "[demos][lessons][cli]") {
  struct Case {
    Strings args;
    std::string says;
  };
  const std::vector<Case> cases{
      {{DEMO_STICKY, "--endian", "little"}, "--endian"},
      {{DEMO_STICKY, "--endian", "middle", "--fix", "length"}, "--endian"},
      {{DEMO_STICKY, "--fix", "json"}, "--fix"},
      {{DEMO_STICKY, "--fix", "header", "--file", "/no/such/file.txt"}, "/no/such/file.txt"},
      {{DEMO_STICKY, "--fix", "header", "--file", "/"}, "/"},
      {{DEMO_STICKY, "--file", "/etc/hostname"}, "--file goes with --fix header"},
      {{DEMO_STICKY, "--nagle", "--split"}, "at most 1"},
      {{DEMO_STICKY, "--fix", "length", "--short-reads"}, "at most 1"},
      {{DEMO_UDP, "--loss", "--max"}, "at most 1"},
      {{DEMO_UDP, "--role", "server", "--unreachable"}, "--unreachable has no server"},
      {{DEMO_BACKLOG, "--backlog", "-1"}, "--backlog"},
      {{DEMO_BACKLOG, "--backlog", "65"}, "--backlog"},
      {{DEMO_BACKLOG, "--clients", "0"}, "--clients"},
      {{DEMO_BACKLOG, "--clients", "many"}, "--clients"},
      {{DEMO_BACKLOG, "--backlog", "0", "--clients", "3"}, "at most 2 clients"},
  };
  for (const auto& c : cases) {
    INFO(c.args.back());
    const auto r = run_demo(c.args);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains(c.says));
    CHECK(r.out.empty());
  }
}

TEST_CASE("lessons 3-5: a file the server cannot read is an error naming it", "[demos][lessons][cli]") {
  if (::geteuid() == 0) return;  // root reads any file
  const std::string path = std::string(SOCKLAB_BINARY_DIR) + "/lessons-unreadable.txt";
  { std::ofstream(path) << "secret"; }
  std::filesystem::permissions(path, std::filesystem::perms::none);
  const auto r = run_demo({DEMO_STICKY, "--fix", "header", "--file", path});
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Catch::Contains(path));
  std::filesystem::remove(path);
}

TEST_CASE("udp: a port in use for UDP is reported with the remedy", "[demos][lessons][cli]") {
  auto taken = socklab::net::UdpSocket::bind(socklab::net::Endpoint::loopback_v4(0));
  REQUIRE(taken);
  const auto port = std::to_string(taken->local_endpoint()->port());
  const auto r = run_demo({DEMO_UDP, "--role", "server", "--port", port});
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("already in use"));
  CHECK_THAT(r.err, Catch::Contains(port));
}

// Their notes are checked against the code when each program is built (demos/CMakeLists.txt).
TEST_CASE("lessons 3-5: each lesson has the sections of lessons 1 and 2", "[demos][lessons][cli]") {
  for (const std::string demo : {"sticky", "udp", "backlog"}) {
    INFO(demo);
    for (const char* lang : {"en", "zh"}) {
      const std::string text = read_source(std::string("lessons/") + lang + "/" + demo + ".md");
      CHECK(std::count(text.begin(), text.end(), '\n') > 60);
      CHECK_THAT(text, Catch::Contains("```text"));  // a real run's output
    }
  }
}

TEST_CASE("lessons 3-5: the text fits 80 columns, in English and Chinese, Unicode and ASCII", "[demos][lessons][width]") {
  for (const auto& v : kVariants) {
    const bool slow = v.program == DEMO_BACKLOG;
    for (const Strings& style : {Strings{"--lang", "en"}, Strings{"--lang", "zh"}, Strings{"--lang", "zh", "--ascii"}}) {
      if (slow && style.size() == 3) continue;  // two seconds a run: its ASCII form is the same ladder
      const auto r = run_demo(with(with({v.program}, v.flags), style));
      INFO(name_of(v) << " " << style.back());
      REQUIRE(r.exit_code == 0);
      std::size_t widest = 0;
      for (const auto& line : r.out_lines()) {
        INFO(line);
        CHECK(socklab::capture::display_width(line) <= 80);
        widest = std::max(widest, socklab::capture::display_width(line));
      }
      CHECK(widest > 60);
      if (style.back() == "--ascii") {
        for (const auto& line : r.out_lines()) {
          for (const char* box : {"│", "─", "▶", "◀", "✓", "✗"}) CHECK_THAT(line, !Catch::Contains(box));
        }
      }
    }
  }
}
