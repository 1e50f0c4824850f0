// Issue 10, "claims that are not what happened" and wording: each demo says only
// what its run observed, in words that fit the numbers (no capture needed here;
// the wire's side is in test_demo_claims_capture.cpp).
#include <catch2/catch.hpp>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "demo_checks.hpp"
#include "lesson.hpp"
#include "report.hpp"
#include "server_setup.hpp"
#include "socklab/net.hpp"

using namespace socklab;
using socklab::test::fact_of;
using nlohmann::json;
using test::of_kind;
using test::run_demo;

namespace {

std::string verdict_text(const std::vector<json>& lines, std::string_view name) {
  for (const auto& v : of_kind(lines, "verdict")) {
    if (v.at("name") == name) return v.at("text").get<std::string>();
  }
  FAIL("no verdict " << name);
  return {};
}

std::filesystem::path temp_file(const std::string& name, std::string_view content) {
  const auto path = std::filesystem::temp_directory_path() / (name + "-" + std::to_string(::getpid()));
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

}  // namespace

TEST_CASE("a note chooses the word for its count: {n|one|other}", "[demos][lesson][wording]") {
  CHECK(demo::fill("Capture: {n} {n|packet|packets}.", {{"n", "1"}}, "t") == "Capture: 1 packet.");
  CHECK(demo::fill("Capture: {n} {n|packet|packets}.", {{"n", "0"}}, "t") == "Capture: 0 packets.");
  CHECK(demo::fill("{n} {n|send() call|send() calls}", {{"n", "12"}}, "t") == "12 send() calls");
  CHECK_THROWS_AS(demo::fill("{n|packet}", {{"n", "1"}}, "t"), std::logic_error);
  // The capture line of every demo, in both languages.
  const auto en = demo::Lesson::load("common", demo::Lang::en);
  REQUIRE(en);
  CHECK(en->note("capture_stats", {{"captured", "1"}, {"dropped", "0"}}) ==
        "Capture: 1 packet, 0 dropped by the kernel.");
  const auto zh = demo::Lesson::load("common", demo::Lang::zh);
  REQUIRE(zh);
  CHECK(zh->note("capture_stats", {{"captured", "1"}, {"dropped", "0"}}) == "抓包：共 1 个报文，内核丢弃 0 个。");
}

TEST_CASE("plurals in the lessons' summaries", "[demos][lessons][wording]") {
  const auto backlog = demo::Lesson::load("backlog", demo::Lang::en);
  REQUIRE(backlog);
  CHECK(backlog->note("syns_dropped", {{"dropped", "2"}, {"clients", "1"}}) ==
        "The listener dropped 2 SYNs: 1 client, each one twice so far.");
  CHECK(backlog->note("verdict_queue", {{"length", "1"}, {"limit", "0"}}).starts_with(
      "The listener's accept queue held 1 connection with a limit of 0"));
  const auto sticky = demo::Lesson::load("sticky", demo::Lang::en);
  REQUIRE(sticky);
  CHECK(sticky->note("fact_file_pieces", {{"pieces", "1"}, {"piece", "4096"}}) ==
        "The server sent the body in 1 send() call of up to 4096 bytes.");
}

TEST_CASE("--fix fixed and --fix length name their framing in words", "[demos][lessons][wording]") {
  auto r = run_demo({DEMO_STICKY, "--fix", "fixed", "--json"});
  REQUIRE(r.exit_code == 0);
  CHECK(verdict_text(r.json(), "messages_whole") ==
        "With a fixed size of 8 bytes marking the boundaries, the receiver got every message whole: hello hai hahaha.");
  r = run_demo({DEMO_STICKY, "--fix", "length", "--json"});
  REQUIRE(r.exit_code == 0);
  CHECK(verdict_text(r.json(), "messages_whole") ==
        "With a '!I' length prefix marking the boundaries, the receiver got every message whole: hello hai hahaha.");
  r = run_demo({DEMO_STICKY, "--fix", "fixed", "--json", "--lang", "zh"});
  REQUIRE(r.exit_code == 0);
  CHECK(verdict_text(r.json(), "messages_whole") == "用固定长度 8 字节划分边界后，接收方拿到的每条消息都完整：hello hai hahaha。");
}

TEST_CASE("the --clients limit is stated as 2 x (backlog + 1)", "[demos][lessons][wording]") {
  const auto r = run_demo({DEMO_BACKLOG, "--backlog", "0", "--clients", "3"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("at most 2 clients (2 x (backlog + 1))") != std::string::npos);
  CHECK(r.err.find("twice") == std::string::npos);
}

TEST_CASE("demo-handshake says which span its connect() time is", "[demos][wording]") {
  const auto r = run_demo({DEMO_HANDSHAKE, "--json"});
  REQUIRE(r.exit_code == 0);
  const auto f = fact_of(r.json(), "connect_ns");
  CHECK(std::regex_match(f.at("text").get<std::string>(),
                         std::regex(R"(The connect\(\) call took [0-9.]+ (µs|ms|s), from its start until it reported success \(the program's view\)\.)")));
}

TEST_CASE("demo-teardown lists every client state the run read after close(), in order", "[demos][wording]") {
  const auto r = run_demo({DEMO_TEARDOWN, "--json"});
  REQUIRE(r.exit_code == 0);
  const auto lines = r.json();
  json shown = json::array();  // the client's states in the timeline, after its close()
  bool closed = false;
  for (const auto& c : of_kind(lines, "call")) {
    if (c.at("side") != "client") continue;
    if (c.at("call") == "close") closed = true;
    if (closed && c.at("call") == "state") shown.push_back(c.at("args"));
  }
  const auto states = fact_of(lines, "client_states").at("value");
  CHECK(states == shown);
  // The server sees the client in FIN_WAIT_2 before it closes (it waits for that).
  CHECK(std::find(states.begin(), states.end(), "FIN_WAIT_2") != states.end());
  CHECK(states.back() == "TIME_WAIT");
}

TEST_CASE("demo-teardown --abort: the server's failed recv() keeps its connection's port", "[demos][wording]") {
  const auto r = run_demo({DEMO_TEARDOWN, "--abort", "--json"});
  REQUIRE(r.exit_code == 0);
  int accepted_port = 0;
  bool checked = false;
  for (const auto& c : of_kind(r.json(), "call")) {
    if (c.at("side") != "server") continue;
    if (c.at("call") == "accept" && accepted_port == 0) accepted_port = test::port_of(c.at("peer"));
    if (c.at("call") == "recv" && c.value("error", "") == "ECONNRESET") {
      REQUIRE(c.contains("peer"));
      CHECK(test::port_of(c.at("peer")) == accepted_port);  // the first connection's, the one reset
      checked = true;
    }
  }
  CHECK(checked);
  // And the ladder labels it, as it labels the segments.
  const auto text = run_demo({DEMO_TEARDOWN, "--abort", "--no-lesson"});
  CHECK(std::regex_search(text.out, std::regex(R"(│ :[0-9]+ recv 64 ✗ ECONNRESET)")));
}

TEST_CASE("a lone demo-sticky client claims nothing about the server's recv()", "[demos][lessons][wording]") {
  const auto run = test::run_two_processes({DEMO_STICKY}, {});
  const auto lines = run.client.json();
  const auto layers = fact_of(lines, "three_layers");
  INFO(layers.dump());
  CHECK(layers.at("value").at("recv").is_null());
  CHECK(layers.at("text").get<std::string>().find("recv() chunks of") == std::string::npos);
  CHECK(layers.at("text").get<std::string>().find("The recv() calls ran in the server's process.") != std::string::npos);
  // The server, which did read, says so.
  CHECK(fact_of(run.server.json(), "three_layers").at("text").get<std::string>().find("recv() chunks of 14 bytes") !=
        std::string::npos);
}

TEST_CASE("loopback is decided by the addresses used", "[demos][wording]") {
  CHECK(demo::is_loopback(net::Endpoint::loopback_v4(80)));
  CHECK(demo::is_loopback(net::Endpoint::loopback_v6(80)));
  CHECK(demo::is_loopback(*net::Endpoint::parse("127.3.4.5:80")));
  CHECK_FALSE(demo::is_loopback(*net::Endpoint::parse("192.0.2.1:80")));  // TEST-NET-1: no machine's own
  CHECK_FALSE(demo::is_loopback(*net::Endpoint::parse("[2001:db8::1]:80")));
}

TEST_CASE("--fix header: an empty file came with nothing glued; the header shown as received", "[demos][lessons][wording]") {
  const auto empty = temp_file("socklab-empty", "");
  auto r = run_demo({DEMO_STICKY, "--fix", "header", "--file", empty.string(), "--json"});
  std::filesystem::remove(empty);
  REQUIRE(r.exit_code == 0);
  const auto end = fact_of(r.json(), "header_end").at("text").get<std::string>();
  CHECK(end.find("glued") == std::string::npos);
  CHECK(end.find("no bytes of the file came with it") != std::string::npos);

  // A classic server that adds fields: the client shows them all.
  auto listener = net::TcpListener::bind(net::Endpoint::loopback_v4(0));
  REQUIRE(listener);
  std::jthread server([&] {
    auto got = listener->accept(std::chrono::seconds(10));
    if (!got) return;
    const std::string header = R"({"file_name": "a.txt", "file_size": 5, "file_content": "notes", "file_root": "/srv"})";
    const auto n = static_cast<std::uint32_t>(header.size());
    const std::string prefix{static_cast<char>(n & 0xff), static_cast<char>((n >> 8) & 0xff), 0, 0};  // '<i'
    (void)got->stream.send_all(prefix + header + "hello");
    (void)got->stream.wait_readable(std::chrono::seconds(10));  // until the client hangs up
  });
  r = run_demo({DEMO_STICKY, "--role", "client", "--port", std::to_string(listener->endpoint().port()), "--fix",
                "header", "--endian", "little", "--json"});
  REQUIRE(r.exit_code == 0);
  const auto said = verdict_text(r.json(), "header_received");
  CHECK(said.find(R"("file_content":"notes")") != std::string::npos);
  CHECK(said.find(R"("file_root":"/srv")") != std::string::npos);
}

TEST_CASE("--file that has no size to announce is refused with the reason", "[demos][lessons][wording]") {
  const auto r = run_demo({DEMO_STICKY, "--fix", "header", "--file", "/dev/urandom"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("--file /dev/urandom: not a regular file, so it has no size for the header to announce") !=
        std::string::npos);
}

TEST_CASE("the ladder explains the analysis marks it shows, in the lesson's language", "[demos][wording]") {
  capture::PacketRecord p;
  p.analysis = capture::retransmission;
  const std::vector<capture::PacketRecord> packets{p};
  const auto en = demo::Lesson::load("common", demo::Lang::en);
  REQUIRE(en);
  const auto text = demo::explain_analysis(packets, *en, {.width = 200});
  CHECK(text.find("[retransmission] the same bytes sent again") != std::string::npos);
  CHECK(text.find("Loopback loses nothing on the way") != std::string::npos);
  const auto zh = demo::Lesson::load("common", demo::Lang::zh);
  REQUIRE(zh);
  CHECK(demo::explain_analysis(packets, *zh, {.width = 200}).find("[重传] 同样的字节又发了一次") !=
        std::string::npos);
  CHECK(demo::explain_analysis({}, *en, {}).empty());
}
