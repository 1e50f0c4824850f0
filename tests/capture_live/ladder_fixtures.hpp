// Fixed time lines for the ladder's golden tests: what a demo would record,
// written out by hand so the expected pictures never change under the test.
#pragma once

#include <cerrno>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "socklab/capture/timeline.hpp"

namespace socklab::test::ladder {

using capture::Analysis;
using capture::Phase;
using capture::PacketRecord;
using capture::Proto;
using net::CallEvent;
using net::Side;

constexpr std::int64_t t0 = 1'700'000'000'000'000'000;
constexpr std::int64_t us = 1000;  // one microsecond in ns

inline PacketRecord tcp(std::uint64_t n, std::int64_t t, std::uint16_t sport, std::uint16_t dport,
                        std::string flags, std::uint32_t seq, std::uint32_t ack, std::uint32_t len,
                        Phase phase, std::uint32_t analysis = 0) {
  PacketRecord p;
  p.n = n;
  p.ts_ns = t0 + t;
  p.proto = Proto::tcp;
  p.sport = sport;
  p.dport = dport;
  p.src = "127.0.0.1:" + std::to_string(sport);
  p.dst = "127.0.0.1:" + std::to_string(dport);
  p.flags = std::move(flags);
  p.seq = seq;
  p.ack = ack;
  p.len = len;
  p.phase = phase;
  p.analysis = analysis;
  return p;
}

inline CallEvent call(std::int64_t t, std::int64_t dur, Side side, std::string name, std::string args,
                      std::int64_t result, std::string preview = {}, int err = 0,
                      std::uint16_t client_port = 51514) {
  CallEvent e;
  e.t_ns = t0 + t;
  e.dur_ns = dur;
  e.side = side;
  e.call = std::move(name);
  e.args = std::move(args);
  e.result = result;
  e.err = err;
  e.preview = std::move(preview);
  const std::string client = "127.0.0.1:" + std::to_string(client_port), server = "127.0.0.1:8080";
  e.local = side == Side::client ? client : server;
  e.peer = side == Side::client ? server : client;
  return e;
}

// A frame of a lab: MACs and IPv4 addresses, as a lab capture records it; host i
// (1-9) is 10.0.0.i, 02:00:00:00:00:0i; `to` 0 is a broadcast.
inline PacketRecord lab_frame(std::uint64_t n, std::int64_t t, int from, int to, std::string flags) {
  auto p = tcp(n, t, 40000, 5000, std::move(flags), 0, 0, 0, Phase::none);
  p.src = fmt::format("10.0.0.{}:40000", from);
  p.dst = fmt::format("10.0.0.{}:5000", to);
  p.eth_src = fmt::format("02:00:00:00:00:0{}", from);
  p.eth_dst = to == 0 ? "ff:ff:ff:ff:ff:ff" : fmt::format("02:00:00:00:00:0{}", to);
  return p;
}

// Named columns in this order; host i of lab_frame is the i-th letter ("A" is host 1).
inline capture::LadderOptions columns_of(std::vector<std::string> names) {
  capture::LadderOptions o;
  o.columns = std::move(names);
  for (int i = 1; i <= 9; ++i) {
    o.column_of[fmt::format("02:00:00:00:00:0{}", i)] = std::string(1, static_cast<char>('A' + i - 1));
    o.column_of[fmt::format("10.0.0.{}", i)] = std::string(1, static_cast<char>('A' + i - 1));
  }
  return o;
}

// One connection, start to end: handshake, "hello" one way, FIN from the client,
// then the server closes at once (the three-segment teardown).
inline std::vector<PacketRecord> conversation_packets() {
  constexpr std::uint16_t c = 51514, s = 8080;
  return {
      tcp(1, 30 * us, c, s, "S", 0, 0, 0, Phase::handshake_syn),
      tcp(2, 45 * us, s, c, "S.", 0, 1, 0, Phase::handshake_synack),
      tcp(3, 52 * us, c, s, ".", 1, 1, 0, Phase::handshake_ack),
      tcp(4, 90 * us, c, s, "P.", 1, 1, 5, Phase::data),
      tcp(5, 95 * us, s, c, ".", 1, 6, 0, Phase::ack),
      tcp(6, 200 * us, c, s, "F.", 6, 1, 0, Phase::teardown_fin1),
      tcp(7, 210 * us, s, c, "F.", 1, 7, 0, Phase::teardown_fin2_ack1),
      tcp(8, 215 * us, c, s, ".", 7, 2, 0, Phase::teardown_ack2),
  };
}

inline std::vector<CallEvent> conversation_calls() {
  return {
      call(0, 1 * us, Side::server, "listen", "128", 0),
      call(20 * us, 40 * us, Side::client, "connect", "127.0.0.1:8080", 0),
      call(10 * us, 50 * us, Side::server, "accept", "", 4),       // returns at 60 us, after the ACK
      call(80 * us, 5 * us, Side::client, "send", "5", 5, "hello"),
      call(60 * us, 35 * us, Side::server, "recv", "1024", 5, "hello"),  // returns at 95 us
      call(199 * us, 3 * us, Side::client, "close", "", 0),
      call(100 * us, 105 * us, Side::server, "recv", "1024", 0),  // EOF at 205 us
      call(209 * us, 3 * us, Side::server, "close", "", 0),
  };
}

// UDP to a port where nothing listens, and the ICMP error that answers it (packets only).
inline std::vector<PacketRecord> udp_unreachable_packets() {
  PacketRecord d;
  d.n = 1;
  d.ts_ns = t0;
  d.proto = Proto::udp;
  d.sport = 40001;
  d.dport = 9999;
  d.src = "127.0.0.1:40001";
  d.dst = "127.0.0.1:9999";
  d.len = 5;
  d.phase = Phase::datagram;
  PacketRecord icmp;
  icmp.n = 2;
  icmp.ts_ns = t0 + 12 * us;
  icmp.proto = Proto::icmp;
  icmp.src = "127.0.0.1";
  icmp.dst = "127.0.0.1";
  icmp.len = 33;
  icmp.phase = Phase::unreachable;
  icmp.related = 1;
  icmp.note = "udp port 9999 unreachable (frame 1)";
  PacketRecord again = d;
  again.n = 3;
  again.ts_ns = t0 + 1000 * us;
  return {d, icmp, again};
}

// Calls alone (a demo run without capture): a refused connect, then a good one.
inline std::vector<CallEvent> calls_only() {
  return {
      call(0, 20 * us, Side::client, "connect", "127.0.0.1:8081", -1, {}, ECONNREFUSED),
      call(100 * us, 1 * us, Side::server, "listen", "1", 0),
      call(150 * us, 30 * us, Side::client, "connect", "127.0.0.1:8080", 0),
      call(120 * us, 70 * us, Side::server, "accept", "", 5),
      call(200 * us, 2 * us, Side::client, "send", "13", 13, "hello, server"),
      call(195 * us, 10 * us, Side::server, "recv", "1024", 13, "hello, server"),
      call(300 * us, 1 * us, Side::client, "state", "TIME_WAIT", 0),
  };
}

// The backlog lesson: three clients knock, the queue holds two, the third's SYN is
// dropped and sent again a second later.
inline std::vector<PacketRecord> backlog_packets() {
  constexpr std::uint16_t s = 8080;
  return {
      tcp(1, 0, 50001, s, "S", 0, 0, 0, Phase::handshake_syn),
      tcp(2, 10 * us, s, 50001, "S.", 0, 1, 0, Phase::handshake_synack),
      tcp(3, 15 * us, 50001, s, ".", 1, 1, 0, Phase::handshake_ack),
      tcp(4, 20 * us, 50002, s, "S", 0, 0, 0, Phase::handshake_syn),
      tcp(5, 30 * us, s, 50002, "S.", 0, 1, 0, Phase::handshake_synack),
      tcp(6, 35 * us, 50002, s, ".", 1, 1, 0, Phase::handshake_ack),
      tcp(7, 40 * us, 50003, s, "S", 0, 0, 0, Phase::handshake_syn),
      tcp(8, 1'040'000 * us, 50003, s, "S", 0, 0, 0, Phase::syn_retransmission,
          Analysis::retransmission),
  };
}

}  // namespace socklab::test::ladder
