// The analyser on exact segment sequences: relative numbers (also across the
// 2^32 wrap), window scaling, phases, Wireshark's flags, streams, memory.
#include <catch2/catch.hpp>

#include "builder.hpp"
#include "frames.hpp"
#include "socklab/capture/format.hpp"
#include "socklab/capture/record.hpp"

using namespace socklab::capture;
using namespace builder;

namespace {

std::vector<std::string> names(std::uint32_t bits) { return analysis_names(bits); }
using Names = std::vector<std::string>;

}  // namespace

TEST_CASE("relative sequence numbers: the SYN is 0, and they survive the wrap past 2^32", "[analysis]") {
  const Pair p;
  Feed feed;
  const std::uint32_t c = 4294967000u;  // the client's ISN, 296 bytes below the wrap
  const std::uint32_t s = 100;
  auto a = feed(p.tcp({true, c, 0, S, 65535, 0, 7}));
  CHECK(a.seq == 0);
  CHECK(a.phase == Phase::handshake_syn);
  a = feed(p.tcp({false, s, c + 1, S | A, 65535, 0, 7}));
  CHECK(a.seq == 0);
  CHECK(a.ack == 1);
  CHECK(a.phase == Phase::handshake_synack);
  a = feed(p.tcp({true, c + 1, s + 1, A, 512}));
  CHECK(a.seq == 1);
  CHECK(a.ack == 1);
  CHECK(a.phase == Phase::handshake_ack);
  CHECK(a.win == 512u << 7);
  // Three 200-byte segments: the second crosses 2^32, the third is past it.
  for (std::uint32_t i = 0; i < 3; ++i) {
    const std::uint32_t seq = c + 1 + 200 * i;
    a = feed(p.tcp({true, seq, s + 1, P | A, 512, 200}));
    CHECK(a.seq == 1 + 200 * i);
    CHECK(a.analysis == 0);
    CHECK(a.phase == Phase::data);
    a = feed(p.tcp({false, s + 1, seq + 200, A, 512}));
    CHECK(a.ack == 201 + 200 * i);
    CHECK(a.analysis == 0);
    CHECK(a.phase == Phase::ack);
  }
  CHECK(c + 601 < c);  // the numbers did wrap

  SECTION("absolute numbers when asked") {
    Feed abs({.absolute_seq = true});
    CHECK(abs(p.tcp({true, c, 0, S, 65535})).seq == c);
    CHECK(abs(p.tcp({false, s, c + 1, S | A, 65535})).ack == c + 1);
  }
}

TEST_CASE("a capture that starts mid-stream counts from 1, as Wireshark", "[analysis]") {
  const Pair p;
  Feed feed;
  auto a = feed(p.tcp({true, 5000, 9000, P | A, 300, 10}));
  CHECK(a.seq == 1);
  CHECK(a.ack == 1);
  CHECK(a.win == 300);  // the scale factor is unknown: the window as on the wire
  CHECK(a.win_shift == -1);
  a = feed(p.tcp({false, 9000, 5010, A, 300}));
  CHECK(a.seq == 1);
  CHECK(a.ack == 11);
}

TEST_CASE("the window is scaled only when both SYNs offered scaling", "[analysis]") {
  const Pair p;
  SECTION("both offered") {
    Feed feed;
    feed(p.tcp({true, 1, 0, S, 65535, 0, 7}));
    CHECK(feed(p.tcp({false, 1, 2, S | A, 65535, 0, 9})).win == 65535);  // a SYN is never scaled
    CHECK(feed(p.tcp({true, 2, 2, A, 100})).win == 100u << 7);
    const auto a = feed(p.tcp({false, 2, 2, A, 100}));
    CHECK(a.win == 100u << 9);
    CHECK(a.win_shift == 9);
  }
  SECTION("the SYN-ACK declined: no scaling either way") {
    Feed feed;
    feed(p.tcp({true, 1, 0, S, 65535, 0, 7}));
    feed(p.tcp({false, 1, 2, S | A, 65535}));
    const auto a = feed(p.tcp({true, 2, 2, A, 100}));
    CHECK(a.win == 100);
    CHECK(a.win_shift == -2);
  }
}

TEST_CASE("teardown phases: four segments, three segments, and a half-close", "[analysis][phase]") {
  const Pair p;
  auto open = [&](Feed& f) {
    f(p.tcp({true, 1000, 0, S, 65535}));
    f(p.tcp({false, 5000, 1001, S | A, 65535}));
    f(p.tcp({true, 1001, 5001, A}));
  };
  SECTION("FIN, ACK, FIN, ACK") {
    Feed f;
    open(f);
    CHECK(f(p.tcp({true, 1001, 5001, F | A})).phase == Phase::teardown_fin1);
    CHECK(f(p.tcp({false, 5001, 1002, A})).phase == Phase::teardown_ack1);
    CHECK(f(p.tcp({false, 5001, 1002, F | A})).phase == Phase::teardown_fin2);
    CHECK(f(p.tcp({true, 1002, 5002, A})).phase == Phase::teardown_ack2);
  }
  SECTION("FIN, FIN+ACK, ACK: the second FIN carries the ACK of the first") {
    Feed f;
    open(f);
    CHECK(f(p.tcp({true, 1001, 5001, F | A})).phase == Phase::teardown_fin1);
    CHECK(f(p.tcp({false, 5001, 1002, F | A})).phase == Phase::teardown_fin2_ack1);
    CHECK(f(p.tcp({true, 1002, 5002, A})).phase == Phase::teardown_ack2);
  }
  SECTION("half-close: data after the first FIN") {
    Feed f;
    open(f);
    CHECK(f(p.tcp({true, 1001, 5001, F | A})).phase == Phase::teardown_fin1);
    CHECK(f(p.tcp({false, 5001, 1002, P | A, 512, 20})).phase == Phase::data);
    CHECK(f(p.tcp({true, 1002, 5021, A})).phase == Phase::ack);
    CHECK(f(p.tcp({false, 5021, 1002, F | A})).phase == Phase::teardown_fin2);
    CHECK(f(p.tcp({true, 1002, 5022, A})).phase == Phase::teardown_ack2);
  }
}

TEST_CASE("refused, reset, SYN retransmission and reused ports", "[analysis][phase]") {
  const Pair p;
  SECTION("an RST answering a SYN is a refusal") {
    Feed f;
    f(p.tcp({true, 1000, 0, S, 65535}));
    const auto a = f(p.tcp({false, 0, 1001, R | A, 0}));
    CHECK(a.phase == Phase::refused);
    CHECK(a.seq == 1);
    CHECK(a.ack == 1);
  }
  SECTION("an RST in an open connection is a reset") {
    Feed f;
    f(p.tcp({true, 1000, 0, S, 65535}));
    f(p.tcp({false, 5000, 1001, S | A, 65535}));
    f(p.tcp({true, 1001, 5001, A}));
    CHECK(f(p.tcp({true, 1001, 5001, R | A, 0})).phase == Phase::reset);
  }
  SECTION("the same SYN again is a retransmission in the same stream") {
    Feed f;
    CHECK(f(p.tcp({true, 1000, 0, S, 65535})).stream == 0);
    const auto a = f(p.tcp({true, 1000, 0, S, 65535}), 1'000'000'000);
    CHECK(a.phase == Phase::syn_retransmission);
    CHECK(names(a.analysis) == Names{"retransmission"});
    CHECK(a.stream == 0);
  }
  SECTION("a SYN with a new ISN on the same ports starts a new stream") {
    Feed f;
    f(p.tcp({true, 1000, 0, S, 65535}));
    f(p.tcp({false, 0, 1001, R | A, 0}));
    const auto a = f(p.tcp({true, 777777, 0, S, 65535}));
    CHECK(a.stream == 1);
    CHECK(a.seq == 0);
    CHECK(a.phase == Phase::handshake_syn);
    CHECK(a.analysis == 0);
  }
}

TEST_CASE("Wireshark's flags on exact sequences", "[analysis][flags]") {
  const Pair p;
  Feed f;
  f(p.tcp({true, 1000, 0, S, 65535}));
  f(p.tcp({false, 5000, 1001, S | A, 65535}));
  f(p.tcp({true, 1001, 5001, A}));
  SECTION("a gap, the dup ACKs it causes, and the fast retransmission") {
    CHECK(f(p.tcp({true, 1001, 5001, A, 512, 100})).analysis == 0);
    // 1101..1200 is never captured.
    CHECK(names(f(p.tcp({true, 1201, 5001, A, 512, 100})).analysis) == Names{"lost_segment"});
    CHECK(f(p.tcp({false, 5001, 1101, A})).analysis == 0);
    CHECK(names(f(p.tcp({false, 5001, 1101, A})).analysis) == Names{"dup_ack"});
    CHECK(names(f(p.tcp({false, 5001, 1101, A})).analysis) == Names{"dup_ack"});
    CHECK(names(f(p.tcp({true, 1101, 5001, A, 512, 100}), 100'000).analysis) ==
          (Names{"retransmission", "fast_retransmission"}));
  }
  SECTION("an ACK for bytes never seen") {
    f(p.tcp({true, 1001, 5001, A, 512, 100}));
    CHECK(names(f(p.tcp({false, 5001, 1301, A})).analysis) == Names{"ack_lost_segment"});
  }
  SECTION("a retransmission, and a spurious one (already acknowledged)") {
    f(p.tcp({true, 1001, 5001, A, 512, 100}));
    CHECK(names(f(p.tcp({true, 1001, 5001, A, 512, 100}), 300'000'000).analysis) == Names{"retransmission"});
    f(p.tcp({false, 5001, 1101, A}));
    CHECK(names(f(p.tcp({true, 1001, 5001, A, 512, 100})).analysis) ==
          (Names{"retransmission", "spurious_retransmission"}));
  }
  SECTION("zero window, a 1-byte probe, its ACK, and the window opening") {
    f(p.tcp({true, 1001, 5001, A, 512, 100}));
    CHECK(names(f(p.tcp({false, 5001, 1101, A, 0})).analysis) == Names{"zero_window"});
    CHECK(names(f(p.tcp({true, 1101, 5001, A, 512, 1})).analysis) == Names{"zero_window_probe"});
    CHECK(names(f(p.tcp({false, 5001, 1101, A, 0})).analysis) == (Names{"zero_window", "zero_window_probe_ack"}));
    CHECK(names(f(p.tcp({false, 5001, 1101, A, 512})).analysis) == Names{"window_update"});
  }
  SECTION("keep-alive and its ACK") {
    f(p.tcp({true, 1001, 5001, A, 512, 100}));
    f(p.tcp({false, 5001, 1101, A}));
    CHECK(names(f(p.tcp({true, 1100, 5001, A})).analysis) == Names{"keep_alive"});
    CHECK(names(f(p.tcp({false, 5001, 1101, A})).analysis) == Names{"keep_alive_ack"});
  }
}

TEST_CASE("UDP streams, and an ICMP unreachable tied to its datagram", "[analysis][udp]") {
  const Pair p{.client_port = 50000, .server_port = 9999};
  const Pair other{.client_port = 50001, .server_port = 9998};
  Feed f;
  auto a = f(p.udp(true, 11, 5));
  CHECK(a.phase == Phase::datagram);
  CHECK(a.stream == 0);
  CHECK(f(other.udp(true, 12, 5)).stream == 1);
  CHECK(f(p.udp(false, 13, 5)).stream == 0);
  f(p.udp(true, 14, 7));  // frame 4
  f(p.udp(true, 15, 7));  // frame 5
  a = f(p.port_unreachable(14, 7));
  CHECK(a.phase == Phase::unreachable);
  CHECK(a.related == 4);  // the datagram with the quoted IP id, not merely the last one
  CHECK(a.stream == 0);
  const PacketRecord r = make_record(a);
  CHECK(r.note == "udp port 9999 unreachable (frame 4)");
  CHECK(r.src == "10.0.0.2");
}

TEST_CASE("memory follows the live conversations, not the packets", "[analysis][memory]") {
  Feed f;
  // 20,000 short connections, one every 100 ms of capture time: each closes.
  for (std::uint16_t i = 0; i < 20000; ++i) {
    const Pair p{.client_port = static_cast<std::uint16_t>(10000 + i)};
    f(p.tcp({true, 1000, 0, S, 65535}), 100'000'000);
    f(p.tcp({false, 5000, 1001, S | A, 65535}), 0);
    f(p.tcp({true, 1001, 5001, A}), 0);
    f(p.tcp({true, 1001, 5001, F | A}), 0);
    f(p.tcp({false, 5001, 1002, F | A}), 0);
    f(p.tcp({true, 1002, 5002, A}), 0);
  }
  // Closed flows are kept 60 s of capture time: at 10 per second, about 600.
  CHECK(f.analyzer.live_flows() < 800);
  CHECK(f.analyzer.live_flows() > 500);
  // Conversations that never close go after the idle timeout.
  Feed g({.idle_flow_timeout_s = 5});
  for (std::uint16_t i = 0; i < 5000; ++i) {
    const Pair p{.client_port = static_cast<std::uint16_t>(10000 + i)};
    g(p.tcp({true, 1000, 0, S, 65535}), 100'000'000);
  }
  CHECK(g.analyzer.live_flows() < 100);
}

TEST_CASE("a later IP fragment points at its datagram's first fragment", "[analysis][fragment]") {
  Feed f;
  const auto first = frames::bytes(frames::v4_first_fragment);
  const auto last = frames::bytes(frames::v4_last_fragment);
  auto with_id = [](std::vector<std::uint8_t> b, std::uint16_t id) {
    b[18] = static_cast<std::uint8_t>(id >> 8);
    b[19] = static_cast<std::uint8_t>(id);
    return b;
  };

  // Before its first fragment: a fragment of nothing seen yet.
  auto a = f(last);
  CHECK(a.phase == Phase::fragment);
  CHECK(a.related == 0);
  CHECK_FALSE(a.has_stream);

  a = f(first);  // frame 2
  CHECK(a.phase == Phase::datagram);
  CHECK(a.has_stream);
  const std::uint32_t stream = a.stream;
  a = f(last);
  CHECK(a.related == 2);
  CHECK(a.has_stream);
  CHECK(a.stream == stream);
  // The last fragment completed the datagram: the same id again is another one's.
  CHECK(f(last).related == 0);
  // Another id is another datagram.
  f(first);  // frame 5
  CHECK(f(with_id(last, 1)).related == 0);
  CHECK(f(last).related == 5);

  SECTION("a first fragment is not waited for longer than reassembly would wait") {
    f(first);                                     // frame 8
    CHECK(f(last, 61'000'000'000).related == 0);  // 61 s later: the kernel gave up at 60
  }
  SECTION("memory stays fixed: only the latest first fragments are remembered") {
    for (std::uint16_t id = 100; id < 300; ++id) f(with_id(first, id));
    CHECK(f(with_id(last, 100)).related == 0);  // long forgotten
    CHECK(f(with_id(last, 299)).related == 207);  // frames 8..207 were the 200 first fragments
  }
}

TEST_CASE("the stream table is bounded: closed conversations go first, then new ones go untracked",
          "[analysis][memory]") {
  Feed f({.max_streams = 3});
  const auto pair = [](std::uint16_t port) { return Pair{.client_port = port}; };
  for (std::uint16_t port = 1; port <= 3; ++port) {
    const auto& a = f(pair(port).tcp({true, 1000, 0, S, 65535}));
    CHECK(a.has_stream);
    CHECK(a.stream == port - 1u);
  }
  CHECK(f.analyzer.streams_refused() == 0);
  // A fourth conversation while all three are open: decoded, not tracked.
  const auto& over = f(pair(4).tcp({true, 5000, 0, S, 65535}));
  CHECK_FALSE(over.has_stream);
  CHECK(over.phase == Phase::none);
  CHECK(over.seq == 5000);  // as on the wire: no base to count from
  CHECK_FALSE(over.pkt.malformed);
  CHECK(f.analyzer.streams_refused() == 1);
  CHECK(f.analyzer.live_flows() == 3);
  // The known ones go on being analysed (a retransmitted SYN is still recognised).
  CHECK(f(pair(2).tcp({true, 1000, 0, S, 65535})).phase == Phase::syn_retransmission);
  // Once one closes, it is forgotten first to make room for a new one.
  CHECK(f(pair(1).tcp({false, 7000, 1001, R | A})).phase == Phase::refused);
  const auto& fifth = f(pair(5).tcp({true, 9000, 0, S, 65535}));
  CHECK(fifth.has_stream);
  CHECK(fifth.stream == 3);
  CHECK(fifth.phase == Phase::handshake_syn);
  CHECK(f.analyzer.live_flows() == 3);
  CHECK(f.analyzer.streams_refused() == 1);
  // UDP counts against the same bound.
  CHECK_FALSE(f(pair(6).udp(true, 1, 10)).has_stream);
  CHECK(f.analyzer.streams_refused() == 2);
  // 0: no bound.
  Feed unbounded({.max_streams = 0});
  for (std::uint16_t port = 1; port <= 50; ++port) CHECK(unbounded(pair(port).tcp({true, 1, 0, S, 65535})).has_stream);
  CHECK(unbounded.analyzer.live_flows() == 50);
}
