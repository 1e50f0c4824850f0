// The ladder renderer: fixed time lines, exact expected pictures, and the width rule.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cerrno>

#include <fmt/format.h>

#include "ladder_fixtures.hpp"
#include "socklab/capture/terminal.hpp"
#include "socklab/capture/timeline.hpp"

using namespace socklab::capture;
namespace fx = socklab::test::ladder;

namespace {

std::vector<TimelineEntry> noted_conversation() {
  auto timeline = merge_timeline(fx::conversation_calls(), fx::conversation_packets());
  // The notes a lesson would give: one Chinese (double-width), one English.
  timeline[1].note = "客户端发起连接：发送 SYN，携带它的初始序号，然后等待服务器的回应。";
  timeline[7].note = "the 5 bytes of send() travel in one segment; PSH asks the receiver to hand them over now";
  return timeline;
}

std::string render(const std::vector<TimelineEntry>& timeline, bool unicode, std::size_t width = 80) {
  LadderOptions options;
  options.unicode = unicode;
  options.width = width;
  return render_ladder(timeline, options);
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  for (std::size_t end; (end = text.find('\n', start)) != std::string::npos; start = end + 1)
    lines.push_back(text.substr(start, end - start));
  return lines;
}

std::size_t widest(const std::string& text) {
  std::size_t w = 0;
  for (const auto& line : lines_of(text)) w = std::max(w, display_width(line));
  return w;
}

}  // namespace

TEST_CASE("ladder: calls and segments of one connection, Unicode", "[ladder][golden]") {
  const std::string expected = R"(   ms      client :51514 ┬                       ┬ server :8080
0.000                    │                       │ listen 128
0.020      connect :8080 │                       │ 客户端发起连接：发送 SYN，携
                         │                       │ 带它的初始序号，然后等待服务
                         │                       │ 器的回应。
0.030                    │────── S seq 0 ───────▶│ handshake 1/3
0.045                    │◀─── S. seq 0 ack 1 ───│ handshake 2/3
0.052                    │────── . ack 1 ───────▶│ handshake 3/3
0.060                    │                       │ accept :51514
0.080     send 5 "hello" │                       │
0.090                    │──── P. 1:6 len 5 ────▶│ the 5 bytes of send() travel
                         │                       │ in one segment; PSH asks the
                         │                       │ receiver to hand them over
                         │                       │ now
0.095                    │◀────── . ack 6 ───────│ ack
0.095                    │                       │ recv 5 "hello"
0.199              close │                       │
0.200                    │─── F. seq 6 ack 1 ───▶│ teardown 1/4
0.205                    │                       │ recv 0 (EOF)
0.209                    │                       │ close
0.210                    │◀─── F. seq 1 ack 7 ───│ teardown 2+3/4
0.215                    │────── . ack 2 ───────▶│ teardown 4/4
                         ┴                       ┴
)";
  CHECK(render(noted_conversation(), true) == expected);
}

TEST_CASE("ladder: the same connection in ASCII", "[ladder][golden]") {
  const std::string expected = R"(   ms      client :51514 +                       + server :8080
0.000                    |                       | listen 128
0.020      connect :8080 |                       | 客户端发起连接：发送 SYN，携
                         |                       | 带它的初始序号，然后等待服务
                         |                       | 器的回应。
0.030                    |------ S seq 0 ------->| handshake 1/3
0.045                    |<--- S. seq 0 ack 1 ---| handshake 2/3
0.052                    |------ . ack 1 ------->| handshake 3/3
0.060                    |                       | accept :51514
0.080     send 5 "hello" |                       |
0.090                    |---- P. 1:6 len 5 ---->| the 5 bytes of send() travel
                         |                       | in one segment; PSH asks the
                         |                       | receiver to hand them over
                         |                       | now
0.095                    |<------ . ack 6 -------| ack
0.095                    |                       | recv 5 "hello"
0.199              close |                       |
0.200                    |--- F. seq 6 ack 1 --->| teardown 1/4
0.205                    |                       | recv 0 (EOF)
0.209                    |                       | close
0.210                    |<--- F. seq 1 ack 7 ---| teardown 2+3/4
0.215                    |------ . ack 2 ------->| teardown 4/4
                         +                       +
)";
  const std::string picture = render(noted_conversation(), false);
  CHECK(picture == expected);
  // No box drawing, arrow or ellipsis left (the Chinese note is the lesson's text, not drawing).
  for (const char* drawing : {"│", "─", "▶", "◀", "┬", "┴", "…", "✗"})
    CHECK(picture.find(drawing) == std::string::npos);
}

TEST_CASE("ladder: packets alone, UDP and the ICMP error against it", "[ladder][golden]") {
  const std::string expected = R"(   ms      client :40001 ┬                       ┬ server :9999
0.000                    │───── UDP len 5 ──────▶│ datagram
0.012                    │◀── ICMP unreachable ──│ udp port 9999 unreachable
                         │                       │ (frame 1)
1.000                    │───── UDP len 5 ──────▶│ datagram
                         ┴                       ┴
)";
  CHECK(render(merge_timeline({}, fx::udp_unreachable_packets()), true) == expected);
}

TEST_CASE("ladder: calls alone, with a refused connect", "[ladder][golden]") {
  const std::string expected = R"(   ms      client :51514 ┬                       ┬ server :8080
0.000      connect :8081 │                       │ ✗ ECONNREFUSED
0.080                    │                       │ listen 1
0.130      connect :8080 │                       │
0.170                    │                       │ accept :51514
0.180 send 13 "hello, …" │                       │
0.185                    │                       │ recv 13 "hello, server"
0.280        [TIME_WAIT] │                       │
                         ┴                       ┴
)";
  CHECK(render(merge_timeline(fx::calls_only(), {}), true) == expected);
}

TEST_CASE("ladder: several clients are told apart by port", "[ladder][golden]") {
  const std::string expected = R"(      ms            client +                      + server :8080
   0.000            :50001 |------ S seq 0 ------>| handshake 1/3
   0.010            :50001 |<-- S. seq 0 ack 1 ---| handshake 2/3
   0.015            :50001 |------ . ack 1 ------>| handshake 3/3
   0.020            :50002 |------ S seq 0 ------>| handshake 1/3
   0.030            :50002 |<-- S. seq 0 ack 1 ---| handshake 2/3
   0.035            :50002 |------ . ack 1 ------>| handshake 3/3
   0.040            :50003 |------ S seq 0 ------>| handshake 1/3
1040.000            :50003 |------ S seq 0 ------>| syn retransmission
                           +                      +
)";
  CHECK(render(merge_timeline({}, fx::backlog_packets()), false) == expected);
}

TEST_CASE("ladder: the server is found from the SYN, whichever port is lower", "[ladder]") {
  // A server on a high port, a client on a low one: the SYN decides, not the numbers.
  auto packets = fx::conversation_packets();
  for (auto& p : packets) {
    p.sport = p.sport == 8080 ? 60000 : 1024;
    p.dport = p.dport == 8080 ? 60000 : 1024;
  }
  const std::string picture = render(merge_timeline({}, packets), true);
  const auto lines = lines_of(picture);
  CHECK(lines[0].find("client :1024") != std::string::npos);
  CHECK(lines[0].find("server :60000") != std::string::npos);
  CHECK(lines[1].find("S seq 0 ───────▶│") != std::string::npos);
  CHECK(lines[2].find("│◀─── S. seq 0 ack 1") != std::string::npos);
}

TEST_CASE("ladder: an empty time line still draws its frame", "[ladder]") {
  const std::string picture = render({}, true);
  CHECK(picture.find("(no calls and no packets)") != std::string::npos);
  CHECK(widest(picture) <= 80);
}

TEST_CASE("ladder: no line is wider than the width, whatever the text", "[ladder][width]") {
  auto timeline = noted_conversation();
  // Long and awkward content: absolute sequence numbers, a long call, long notes
  // in both languages, a word longer than any column.
  auto packets = fx::conversation_packets();
  for (auto& p : packets) {
    p.seq += 3'735'928'559u;
    p.ack += 2'882'400'018u;
    p.analysis = Analysis::retransmission | Analysis::dup_ack | Analysis::window_update;
  }
  auto calls = fx::conversation_calls();
  calls.push_back(fx::call(300 * fx::us, 1 * fx::us, socklab::net::Side::client, "setsockopt",
                           "SO_LINGER={on=1, linger=0} SO_REUSEADDR=1 TCP_NODELAY=1", 0));
  calls.push_back(fx::call(310 * fx::us, 1 * fx::us, socklab::net::Side::server, "send", "100000", -1, {}, EPIPE));
  auto long_timeline = merge_timeline(calls, packets);
  for (std::size_t i = 0; i < long_timeline.size(); ++i) {
    long_timeline[i].note = i % 2 == 0
        ? "TCP 是字节流：应用程序写入的消息边界在线路上并不存在，接收方必须自己按长度头（struct.pack('!I', n)）切分。"
        : "a_very_long_identifier_without_any_space_that_cannot_be_wrapped_at_a_word_boundary and then words";
  }
  for (const std::size_t width : {60u, 72u, 80u, 100u, 132u}) {
    for (const bool unicode : {true, false}) {
      for (const auto* t : {&timeline, &long_timeline}) {
        const std::string picture = render(*t, unicode, width);
        INFO("width " << width << (unicode ? " unicode" : " ascii") << "\n" << picture);
        CHECK(widest(picture) <= width);
      }
    }
  }
  // Every note's words are all there, wrapped, never lost.
  const std::string picture = render(long_timeline, true, 80);
  CHECK(picture.find("a_very_long_identifier") != std::string::npos);
  CHECK(picture.find("then words") != std::string::npos);
}

TEST_CASE("ladder: colour only when asked, and the same picture without it", "[ladder]") {
  LadderOptions plain, coloured;
  coloured.color = true;
  const auto timeline = noted_conversation();
  const std::string a = render_ladder(timeline, plain);
  const std::string b = render_ladder(timeline, coloured);
  CHECK(a.find('\x1b') == std::string::npos);
  CHECK(b.find("\x1b[32m") != std::string::npos);  // the SYN in green
  // Strip the escape sequences: what remains is the plain picture.
  std::string stripped;
  for (std::size_t i = 0; i < b.size(); ++i) {
    if (b[i] == '\x1b') {
      i = b.find('m', i);
      continue;
    }
    stripped += b[i];
  }
  CHECK(stripped == a);
}

TEST_CASE("merge_timeline places waiting calls at their end, the others at their start", "[ladder]") {
  using socklab::net::Side;
  std::vector<socklab::net::CallEvent> calls = {
      fx::call(0, 500, Side::server, "recv", "10", 5, "hello"),  // returns at 500
      fx::call(100, 10, Side::client, "send", "5", 5, "hello"),   // starts at 100
      fx::call(50, 1000, Side::client, "connect", "127.0.0.1:8080", 0),
  };
  auto packet = fx::conversation_packets()[3];  // the data segment
  packet.ts_ns = fx::t0 + 300;
  const auto timeline = merge_timeline(calls, std::vector{packet});
  REQUIRE(timeline.size() == 4);
  CHECK(std::get<socklab::net::CallEvent>(timeline[0].event).call == "connect");
  CHECK(std::get<socklab::net::CallEvent>(timeline[1].event).call == "send");
  CHECK(std::holds_alternative<PacketRecord>(timeline[2].event));
  CHECK(std::get<socklab::net::CallEvent>(timeline[3].event).call == "recv");
  CHECK(timeline[3].t_ns == fx::t0 + 500);
  CHECK(place_in_time(calls[0]) == fx::t0 + 500);
  CHECK(place_in_time(calls[2]) == fx::t0 + 50);
}

TEST_CASE("merge_timeline: a refused connect stands below the RST that refused it", "[ladder]") {
  using socklab::net::Side;
  // A blocking connect() from 0 to 400; its SYN at 100, the RST at 200.
  auto refused = fx::call(0, 400, Side::client, "connect", "127.0.0.1:8080", -1);
  refused.err = ECONNREFUSED;
  auto in_progress = fx::call(0, 20, Side::client, "connect", "127.0.0.1:8080", -1);
  in_progress.err = EINPROGRESS;
  auto syn = fx::conversation_packets()[0];
  syn.ts_ns = fx::t0 + 100;
  auto rst = syn;
  rst.ts_ns = fx::t0 + 200;
  const auto timeline = merge_timeline(std::vector{refused}, std::vector{syn, rst});
  REQUIRE(timeline.size() == 3);
  CHECK(std::holds_alternative<PacketRecord>(timeline[0].event));
  CHECK(std::holds_alternative<PacketRecord>(timeline[1].event));
  CHECK(std::get<socklab::net::CallEvent>(timeline[2].event).err == ECONNREFUSED);
  CHECK(place_in_time(refused) == fx::t0 + 400);
  CHECK(place_in_time(in_progress) == fx::t0);  // EINPROGRESS: it sent the SYN and returned
  // Waiting for that connect to finish returns on the SYN-ACK: it stands at its end.
  const auto finish = fx::call(30, 1000, Side::client, "connect", "127.0.0.1:8080 (finish)", 0);
  CHECK(place_in_time(finish) == fx::t0 + 1030);
}

TEST_CASE("merge_timeline: at equal times a send comes before its segment, a recv after", "[ladder]") {
  using socklab::net::Side;
  auto packet = fx::conversation_packets()[3];
  packet.ts_ns = fx::t0 + 100;
  const std::vector<socklab::net::CallEvent> calls = {
      fx::call(40, 60, Side::server, "recv", "10", 5, "hello"),  // ends at 100
      fx::call(100, 5, Side::client, "send", "5", 5, "hello"),   // starts at 100
  };
  const auto timeline = merge_timeline(calls, std::vector{packet});
  CHECK(std::get<socklab::net::CallEvent>(timeline[0].event).call == "send");
  CHECK(std::holds_alternative<PacketRecord>(timeline[1].event));
  CHECK(std::get<socklab::net::CallEvent>(timeline[2].event).call == "recv");
}

TEST_CASE("segment and call labels use tcpdump's notation", "[ladder]") {
  const auto packets = fx::conversation_packets();
  CHECK(segment_label(packets[0]) == "S seq 0");
  CHECK(segment_label(packets[1]) == "S. seq 0 ack 1");
  CHECK(segment_label(packets[2]) == ". ack 1");
  CHECK(segment_label(packets[3]) == "P. 1:6 len 5");
  CHECK(segment_label(packets[5]) == "F. seq 6 ack 1");
  auto rst = packets[0];
  rst.flags = "R.";
  rst.seq = 1;
  rst.ack = 1;
  CHECK(segment_label(rst) == "R. seq 1 ack 1");
  CHECK(segment_label(fx::udp_unreachable_packets()[0]) == "UDP len 5");
  CHECK(segment_label(fx::udp_unreachable_packets()[1]) == "ICMP unreachable");

  using socklab::net::Side;
  CHECK(call_label(fx::call(0, 0, Side::client, "connect", "127.0.0.1:8080", 0)) == "connect 127.0.0.1:8080");
  CHECK(call_label(fx::call(0, 0, Side::client, "connect", "127.0.0.1:8081", -1, {}, ECONNREFUSED)) ==
        "connect 127.0.0.1:8081 ✗ ECONNREFUSED");
  CHECK(call_label(fx::call(0, 0, Side::client, "connect", "127.0.0.1:8081", -1, {}, ECONNREFUSED), false) ==
        "connect 127.0.0.1:8081 ! ECONNREFUSED");
  CHECK(call_label(fx::call(0, 0, Side::server, "accept", "", 4)) == "accept :51514");
  CHECK(call_label(fx::call(0, 0, Side::client, "send", "5", 5, "hello")) == "send 5 \"hello\"");
  CHECK(call_label(fx::call(0, 0, Side::server, "recv", "1024", 0)) == "recv 0 (EOF)");
  CHECK(call_label(fx::call(0, 0, Side::client, "shutdown", "SHUT_WR", 0)) == "shutdown SHUT_WR");
  // What matters besides the size stays: the sender, and flags such as MSG_TRUNC.
  // The sender is drawn with an arrow, no word of any language (issue 10 item 17).
  CHECK(call_label(fx::call(0, 0, Side::server, "recvfrom", "16 127.0.0.1:40001 MSG_TRUNC", 100, "xxxx")) ==
        "recvfrom 100 ← 127.0.0.1:40001 MSG_TRUNC \"xxxx\"");
  CHECK(call_label(fx::call(0, 0, Side::server, "recvfrom", "16 127.0.0.1:40001", 4, "xxxx"), false) ==
        "recvfrom 4 <- 127.0.0.1:40001 \"xxxx\"");
  CHECK(call_label(fx::call(0, 0, Side::client, "recv", "1024 MSG_PEEK", 5, "hello")) == "recv 5 MSG_PEEK \"hello\"");
  CHECK(call_label(fx::call(0, 0, Side::client, "recv", "1024", -1, {}, ECONNRESET)) == "recv 1024 ✗ ECONNRESET");
}

TEST_CASE("ladder: a long call keeps what matters when it must be shortened", "[ladder]") {
  using socklab::net::Side;
  // The UDP truncation lesson: the server's recvfrom must still say MSG_TRUNC.
  const std::vector<socklab::net::CallEvent> calls = {
      fx::call(0, 10, Side::client, "sendto", "100 127.0.0.1:8080", 100, "xxxxxxxxxxxxxxxxxxxxxxxx"),
      fx::call(5, 10, Side::server, "recvfrom", "16 127.0.0.1:51514 MSG_TRUNC", 100, "xxxxxxxxxxxxxxxx"),
      fx::call(20, 10, Side::client, "note", "line one\nline two", 0),
  };
  const std::string picture = render(merge_timeline(calls, {}), true);
  const auto lines = lines_of(picture);
  REQUIRE(lines.size() == 5);
  CHECK(lines[1].find("sendto 100 :8080") != std::string::npos);  // the preview went first
  CHECK(lines[2].find("recvfrom 100 MSG_TRUNC") != std::string::npos);
  CHECK(lines[3].find("line one line two") != std::string::npos);  // a control character cannot break a row
  CHECK(widest(picture) <= 80);
}

TEST_CASE("ladder: a call made before the socket is bound names no client", "[ladder][golden]") {
  using socklab::net::Side;
  // setsockopt right after socket(): getsockname() gives port 0 and no peer yet.
  auto unbound = [](std::int64_t t, Side side, std::string args) {
    auto c = fx::call(t, 1 * fx::us, side, "setsockopt", std::move(args), 0);
    c.local = "0.0.0.0:0";
    c.peer.clear();
    return c;
  };
  auto calls = fx::conversation_calls();
  calls.insert(calls.begin(), unbound(-5 * fx::us, Side::server, "SO_REUSEADDR=1"));
  calls.push_back(unbound(10 * fx::us, Side::client, "TCP_NODELAY=1"));
  // One client, one server: titles with their ports, no per-arrow port tags.
  const std::string expected = R"(   ms      client :51514 ┬                       ┬ server :8080
0.000                    │                       │ setsockopt SO_REUSEADDR=1
0.005                    │                       │ listen 128
0.015         setsockopt │                       │
0.025      connect :8080 │                       │
0.035                    │────── S seq 0 ───────▶│ handshake 1/3
0.050                    │◀─── S. seq 0 ack 1 ───│ handshake 2/3
0.057                    │────── . ack 1 ───────▶│ handshake 3/3
0.065                    │                       │ accept :51514
0.085     send 5 "hello" │                       │
0.095                    │──── P. 1:6 len 5 ────▶│ data
0.100                    │◀────── . ack 6 ───────│ ack
0.100                    │                       │ recv 5 "hello"
0.204              close │                       │
0.205                    │─── F. seq 6 ack 1 ───▶│ teardown 1/4
0.210                    │                       │ recv 0 (EOF)
0.214                    │                       │ close
0.215                    │◀─── F. seq 1 ack 7 ───│ teardown 2+3/4
0.220                    │────── . ack 2 ───────▶│ teardown 4/4
                         ┴                       ┴
)";
  CHECK(render(merge_timeline(calls, fx::conversation_packets()), true) == expected);
}

TEST_CASE("ladder: a later IP fragment goes the way of its datagram's first fragment", "[ladder][fragment]") {
  // A request, and a reply too big for the MTU: its second piece has no ports.
  auto request = fx::udp_unreachable_packets()[0];
  auto reply = request;
  reply.n = 2;
  reply.ts_ns += 10 * fx::us;
  std::swap(reply.sport, reply.dport);
  std::swap(reply.src, reply.dst);
  reply.len = 3000;
  reply.fragment = IpFragment{7, 0, 1480, true};
  reply.note = "fragment 0-1479 (id 7), more follow";
  PacketRecord piece;
  piece.n = 3;
  piece.ts_ns = reply.ts_ns + 2 * fx::us;
  piece.proto = Proto::other;
  piece.src = piece.dst = "127.0.0.1";
  piece.phase = Phase::fragment;
  piece.related = 2;
  piece.fragment = IpFragment{7, 1480, 1528, false};
  piece.note = "fragment 1480-3007 (id 7, first in frame 2), the last";
  CHECK(segment_label(piece) == "frag (1480|1528)");
  // The reply's pieces point right to left; the fragment adds no client.
  const std::string expected = R"(   ms      client :40001 ┬                       ┬ server :9999
0.000                    │───── UDP len 5 ──────▶│ datagram
0.010                    │◀──── UDP len 3000 ────│ datagram; fragment 0-1479 (id
                         │                       │ 7), more follow
0.012                    │◀── frag (1480|1528) ──│ fragment 1480-3007 (id 7,
                         │                       │ first in frame 2), the last
                         ┴                       ┴
)";
  CHECK(render(merge_timeline({}, std::vector{request, reply, piece}), true) == expected);
}


TEST_CASE("ladder: one column per named participant, packets between their lifelines", "[ladder][columns]") {
  socklab::net::CallEvent connect;
  connect.t_ns = fx::t0;
  connect.call = "connect";
  connect.args = "10.0.0.3:5000";
  connect.participant = "A";
  std::vector<TimelineEntry> timeline{{fx::t0, connect, ""},
                                      {fx::t0 + 10 * fx::us, fx::lab_frame(1, 10 * fx::us, 1, 3, "S"), "to C"},
                                      {fx::t0 + 20 * fx::us, fx::lab_frame(2, 20 * fx::us, 3, 1, "S."), ""},
                                      {fx::t0 + 30 * fx::us, fx::lab_frame(3, 30 * fx::us, 2, 0, "."), "everyone"}};
  const std::string picture = render_ladder(timeline, fx::columns_of({"A", "sw", "B", "C"}));
  CHECK(picture ==
        "   ms           ┬ A           ┬ sw          ┬ B           ┬ C\n"
        "0.000   connect │             │             │             │\n"
        "0.010           │─────────────── S seq 0 ────────────────▶│ to C\n"
        "0.020           │◀──────────── S. seq 0 ack 0 ────────────│\n"
        "0.030           │◀──────── . ack 0 ─────────│────────────▶│ everyone\n"
        "                ┴             ┴             ┴             ┴\n");
  for (std::size_t from = 0, eol = 0; from < picture.size(); from = eol + 1) {
    eol = picture.find('\n', from);
    CHECK(display_width(std::string_view(picture).substr(from, eol - from)) <= 80);
  }
}

TEST_CASE("ladder: more than four columns widen the picture instead of crushing it", "[ladder][columns]") {
  std::vector<TimelineEntry> timeline{{fx::t0, fx::lab_frame(1, 0, 1, 6, "S"), ""}};
  const std::string picture = render_ladder(timeline, fx::columns_of({"A", "B", "C", "D", "E", "F"}));
  std::size_t widest = 0;
  std::size_t from = 0;
  while (from < picture.size()) {
    const auto eol = picture.find('\n', from);
    widest = std::max(widest, display_width(std::string_view(picture).substr(from, eol - from)));
    from = eol + 1;
  }
  CHECK(widest > 80);
  CHECK(picture.find("S seq 0") != std::string::npos);
}

TEST_CASE("ladder: analysis marks in the words the caller gives (a run in another language)", "[ladder]") {
  auto packets = fx::conversation_packets();
  packets.at(3).analysis = retransmission | window_full;
  packets.at(4).malformed = true;
  const auto timeline = merge_timeline({}, packets);
  LadderOptions options;
  CHECK(render_ladder(timeline, options).find("[retransmission, window_full]") != std::string::npos);
  options.mark_word = [](std::string_view name) {
    return name == "retransmission" ? std::string("重传") : name == "malformed" ? std::string("格式错误") : std::string(name);
  };
  const auto zh = render_ladder(timeline, options);
  CHECK(zh.find("[重传, window_full]") != std::string::npos);
  CHECK(zh.find("[格式错误]") != std::string::npos);
  CHECK(zh.find("retransmission") == std::string::npos);
}

TEST_CASE("ladder: a broadcast reaches only the columns that saw it; ARP in tcpdump's words where they fit", "[ladder][columns]") {
  auto arp = [](std::uint64_t n, int from, bool request) {
    PacketRecord p;
    p.n = n;
    p.ts_ns = fx::t0 + static_cast<std::int64_t>(n) * 10 * fx::us;
    p.eth_src = fmt::format("02:00:00:00:00:0{}", from);
    p.eth_dst = request ? "ff:ff:ff:ff:ff:ff" : "02:00:00:00:00:01";
    p.line = request ? "ARP, Request who-has 10.0.0.2 tell 10.0.0.1, length 28"
                     : "ARP, Reply 10.0.0.2 is-at 02:00:00:00:00:02, length 28";
    return p;
  };
  const std::vector<TimelineEntry> timeline{{fx::t0 + 10 * fx::us, arp(1, 1, true), ""},
                                            {fx::t0 + 20 * fx::us, arp(2, 2, false), ""},
                                            {fx::t0 + 30 * fx::us, arp(3, 2, true), ""}};
  auto o = fx::columns_of({"A", "B", "C"});
  // Frame 1 (A's request) was heard at A and B only; frame 3 (B's) everywhere.
  o.seen_in = [](const PacketRecord& p) { return p.n == 1 ? std::vector<std::string>{"A", "B"} : std::vector<std::string>{"A", "B", "C"}; };
  const std::string picture = render_ladder(timeline, o);
  CHECK(picture ==
        "   ms           ┬ A                   ┬ B                   ┬ C\n"
        "0.000           │─── ARP who-has ────▶│                     │\n"
        "0.010           │◀──── ARP is-at ─────│                     │\n"
        "0.020           │◀────────────────────│─── ARP who-has ────▶│\n"
        "                ┴                     ┴                     ┴\n");
  o.seen_in = nullptr;  // unknown places: every other column, as before
  const std::string everyone = render_ladder(timeline, o);
  INFO(everyone);
  // Two gaps have room for the whole of tcpdump's words; one gap (above) the short form.
  CHECK(everyone.find("0.000           │─── ARP who-has 10.0.0.2 tell 10.0.0.1 ───▶│") != std::string::npos);
}
