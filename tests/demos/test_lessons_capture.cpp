// Lessons 3 to 5 with --capture (needs CAP_NET_RAW: root in CI): what each
// variant shows on the wire, read from the packets the demo recorded.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "demo_checks.hpp"
#include "socklab/capture/terminal.hpp"

using socklab::test::captured;
using socklab::test::fact_value;
using socklab::test::of_kind;
using socklab::test::port_of;
using socklab::test::run_demo;
using socklab::test::RunResult;
using socklab::test::verdicts;
using Strings = std::vector<std::string>;
using nlohmann::json;

namespace {

// The port that received the first SYN or the first datagram.
int server_port(const std::vector<json>& lines) {
  for (const auto& p : of_kind(lines, "packet")) {
    if (p.at("proto") == "udp" || p.value("flags", "") == "S") return port_of(p.at("dst"));
  }
  return 0;
}

// Payload sizes of the TCP segments of one connection toward (or from) the server.
std::vector<int> data_lengths(const std::vector<json>& lines, int stream, bool to_server) {
  const int server = server_port(lines);
  std::vector<int> out;
  for (const auto& p : of_kind(lines, "packet")) {
    if (p.at("proto") != "tcp" || p.value("stream", -1) != stream || p.at("len") == 0) continue;
    bool again = false;  // a retransmission carries no new data
    for (const auto& a : p.at("analysis")) again = again || a.get<std::string>().find("retransmission") != std::string::npos;
    if (again) continue;
    if ((port_of(p.at("dst")) == server) == to_server) out.push_back(p.at("len").get<int>());
  }
  return out;
}

}  // namespace

TEST_CASE("sticky: three segments on the wire, one glued recv()", "[demos][lessons][capture]") {
  const auto lines = captured({DEMO_STICKY});
  CHECK(data_lengths(lines, 0, true) == std::vector<int>{5, 3, 6});
  CHECK(verdicts(lines).at("separate_segments").at("observed") == json({5, 3, 6}));
  CHECK(verdicts(lines).at("glued_read").at("observed") == "hellohaihahaha");
  CHECK(fact_value(lines, "three_layers").at("segments") == json({5, 3, 6}));
  // The segments arrived before the server's only recv().
  std::int64_t last_data = 0, recv_at = 0;
  for (const auto& l : lines) {
    if (l.at("kind") == "packet" && l.at("len") > 0) last_data = std::llround(l.at("t").get<double>() * 1e9);
    if (l.at("kind") == "call" && l.at("side") == "server" && l.at("call") == "recv") {
      recv_at = std::llround(l.at("t").get<double>() * 1e9) + l.at("dur_ns").get<std::int64_t>();
    }
  }
  CHECK(last_data < recv_at);
}

TEST_CASE("sticky --nagle: merged on the wire until the delayed ACK; not with TCP_NODELAY", "[demos][lessons][capture]") {
  const auto lines = captured({DEMO_STICKY, "--nagle"});
  CHECK(data_lengths(lines, 0, true) == std::vector<int>{5, 9});
  CHECK(data_lengths(lines, 1, true) == std::vector<int>{5, 3, 6});
  // Nagle released "haihahaha" when the server's ACK of "hello" came: that ACK
  // is the segment right before it on the wire.
  const int server = server_port(lines);
  const json* previous = nullptr;
  bool checked = false;
  const auto packets = of_kind(lines, "packet");
  for (const auto& p : packets) {
    if (p.at("stream") == 0 && p.at("len") == 9) {
      REQUIRE(previous != nullptr);
      CHECK(port_of(previous->at("src")) == server);
      CHECK(previous->at("flags") == ".");
      CHECK(previous->at("ack") == 6);  // after "go" (2 bytes, from the server) and "hello" (5)
      checked = true;
    }
    if (p.at("stream") == 0) previous = &p;
  }
  CHECK(checked);
  CHECK(fact_value(lines, "nagle_wait_ns").get<std::int64_t>() > 0);
}

TEST_CASE("sticky --split: 1 MiB as many segments and many recv() chunks", "[demos][lessons][capture]") {
  const auto lines = captured({DEMO_STICKY, "--split"});
  const auto segments = data_lengths(lines, 0, true);
  CHECK(segments.size() > 1);
  int total = 0;
  for (int n : segments) {
    CHECK(n <= 65483);  // loopback's MSS
    total += n;
  }
  CHECK(total == 1 << 20);
}

TEST_CASE("sticky --fix: one segment per framed message", "[demos][lessons][capture]") {
  CHECK(data_lengths(captured({DEMO_STICKY, "--fix", "length"}), 0, true) == std::vector<int>{9, 7, 10});
  CHECK(data_lengths(captured({DEMO_STICKY, "--fix", "delimiter"}), 0, true) == std::vector<int>{6, 4, 7});
  CHECK(data_lengths(captured({DEMO_STICKY, "--fix", "fixed"}), 0, true) == std::vector<int>{8, 8, 8});
  const auto header = captured({DEMO_STICKY, "--fix", "header", "--endian", "little"});
  int from_server = 0;
  for (int n : data_lengths(header, 0, false)) from_server += n;
  const auto header_end = fact_value(header, "header_end").get<int>();
  CHECK(from_server == header_end + 12500);  // the header, then the generated sample
}

TEST_CASE("sticky --short-reads: the header as four 1-byte segments", "[demos][lessons][capture]") {
  const auto lines = captured({DEMO_STICKY, "--short-reads"});
  CHECK(data_lengths(lines, 1, true) == std::vector<int>{1, 1, 1, 1, 5});
  CHECK(data_lengths(lines, 0, true).at(0) == 1);  // the naive receiver's connection
}

TEST_CASE("udp: datagrams from the first packet on; TCP needs a handshake", "[demos][lessons][capture]") {
  const auto lines = captured({DEMO_UDP});
  const auto packets = of_kind(lines, "packet");
  REQUIRE(packets.size() >= 3);
  std::vector<int> udp;
  for (const auto& p : packets) {
    if (p.at("proto") == "udp") {
      udp.push_back(p.at("len").get<int>());
      CHECK(p.at("phase") == "datagram");
    }
  }
  CHECK(udp == std::vector<int>{5, 3, 6});
  CHECK(packets.at(0).at("proto") == "udp");
  CHECK(fact_value(lines, "tcp_segments_before_data") == 3);
}

TEST_CASE("udp --unreachable: the capture, armed before any call, says so and claims no pause",
          "[demos][lessons][capture]") {
  const auto calls = of_kind(captured({DEMO_UDP, "--unreachable"}), "call");
  // Only notes (the port's, where nobody receives) may come before the capture's.
  auto armed = calls.begin();
  while (armed != calls.end() && armed->at("call") == "note" && armed->at("args") != "capture lo") ++armed;
  REQUIRE(armed != calls.end());
  CHECK(armed->at("call") == "note");
  CHECK(armed->at("args") == "capture lo");
  const auto note = armed->at("note").get<std::string>();
  CHECK_THAT(note, Catch::Contains("before the first call"));
  CHECK(note.find("pause") == std::string::npos);
}

TEST_CASE("udp --unreachable: the ICMP port unreachable answers the datagram", "[demos][lessons][capture]") {
  for (const bool v6 : {false, true}) {
    INFO((v6 ? "IPv6" : "IPv4"));
    const auto lines = captured(v6 ? Strings{DEMO_UDP, "--unreachable", "-6"} : Strings{DEMO_UDP, "--unreachable"});
    const auto packets = of_kind(lines, "packet");
    REQUIRE(packets.size() == 2);
    CHECK(packets[0].at("proto") == "udp");
    CHECK(packets[1].at("proto") == (v6 ? "icmp6" : "icmp"));
    CHECK(packets[1].at("phase") == "unreachable");
    CHECK(packets[1].at("related") == packets[0].at("n"));
    CHECK_THAT(packets[1].at("note").get<std::string>(), Catch::Contains("unreachable"));
  }
}

TEST_CASE("udp --loss: every datagram on the wire, most dropped at the receiver", "[demos][lessons][capture]") {
  const auto lines = captured({DEMO_UDP, "--loss"});
  int udp = 0;
  for (const auto& p : of_kind(lines, "packet")) udp += p.at("proto") == "udp" ? 1 : 0;
  CHECK(udp == 20);
  const auto v = verdicts(lines);
  CHECK(static_cast<int>(fact_value(lines, "arrived").size()) + v.at("drops_counted").at("observed").get<int>() == 20);
}

TEST_CASE("udp --max: one datagram of 65,507 bytes on loopback", "[demos][lessons][capture]") {
  const auto lines = captured({DEMO_UDP, "--max"});
  CHECK(fact_value(lines, "max_on_wire") == json({65507}));
}

TEST_CASE("backlog: N+1 handshakes, then SYNs sent again at the kernel's intervals", "[demos][lessons][capture]") {
  const auto lines = captured({DEMO_BACKLOG});
  const auto v = verdicts(lines);
  CHECK(v.at("syn_retransmissions_seen").at("observed").size() == 6);
  CHECK(v.at("completed_before_accept").at("observed") == 3);
  // Each waiting client's SYNs, from the capture: at least one retransmission,
  // never sooner than the initial 1 s RTO, and linear (not doubled) where the kernel says so.
  const int server = server_port(lines);
  std::map<int, std::vector<double>> syns;
  std::map<int, int> synacks;
  for (const auto& p : of_kind(lines, "packet")) {
    if (p.at("flags") == "S" && port_of(p.at("dst")) == server) syns[port_of(p.at("src"))].push_back(p.at("t"));
    if (p.at("flags") == "S." && port_of(p.at("src")) == server) ++synacks[port_of(p.at("dst"))];
  }
  REQUIRE(syns.size() == 6);
  int waited = 0;
  const auto linear = fact_value(lines, "syn_linear_timeouts");
  for (const auto& [client, times] : syns) {
    CHECK(synacks[client] == 1);  // answered once, when there was room
    if (times.size() == 1) continue;
    ++waited;
    CHECK(times[1] - times[0] >= 0.9);
    if (times.size() >= 3 && linear.is_string() && std::stoi(linear.get<std::string>()) >= 2) {
      CHECK(times[2] - times[1] < 1.5 * (times[1] - times[0]));
    }
  }
  CHECK(waited == 3);
}

TEST_CASE("lessons 3-5: -w writes a pcap that tcpdump reads", "[demos][lessons][capture]") {
  const std::string path = std::string(SOCKLAB_BINARY_DIR) + "/lessons-unreachable.pcap";
  std::filesystem::remove(path);
  const auto r = run_demo({DEMO_UDP, "--unreachable", "-w", path, "--json"});
  REQUIRE(r.exit_code == 0);
  REQUIRE(std::filesystem::exists(path));
  const auto dump = run_demo({SOCKLAB_TCPDUMP, "-nn", "-r", path});
  CHECK_THAT(dump.out, Catch::Contains("UDP, length 13"));
  CHECK_THAT(dump.out, Catch::Contains("unreachable"));
  std::filesystem::remove(path);
}

TEST_CASE("lessons 3-5: the ladder with packets fits 80 columns", "[demos][lessons][capture][width]") {
  for (const Strings& args : {Strings{DEMO_STICKY, "--nagle"}, Strings{DEMO_STICKY, "--fix", "header"},
                              Strings{DEMO_UDP, "--unreachable"}, Strings{DEMO_BACKLOG}}) {
    for (const char* lang : {"en", "zh"}) {
      Strings a = args;
      a.insert(a.end(), {"--capture", "--lang", lang});
      const auto r = run_demo(a);
      INFO(args[0] << " " << args.back() << " " << lang);
      REQUIRE(r.exit_code == 0);
      for (const auto& line : r.out_lines()) {
        INFO(line);
        CHECK(socklab::capture::display_width(line) <= 80);
      }
    }
  }
}
