// demo-teardown — Lesson 2: closing a TCP connection.
//
// Default: the client says goodbye and closes first; the server reads to the
// end (recv() returns 0), and closes only once the client has the ACK of its
// FIN, so the four steps show as four segments: FIN, ACK, FIN, ACK, with the
// states both sides pass through, and TIME_WAIT still there after close().
// Variants: --merged (the server closes at once: three segments), --half-close
// (shutdown(SHUT_WR): the other direction stays open), --abort (RST instead of
// FIN: SO_LINGER 0, and close() with unread data), --reuse (restarting a server
// while its old connection sits in TIME_WAIT: SO_REUSEADDR).

#include <array>
#include <cerrno>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "demo.hpp"
#include "error_text.hpp"
#include "server_setup.hpp"

namespace {

using namespace socklab;
using demo::Session;
using demo::Side;
using demo::must;
using capture::PacketRecord;
using capture::Phase;
using net::TcpState;
using namespace std::chrono_literals;

constexpr std::array<std::string_view, 67> kNoteKeys{
    // the timeline: calls and states
    "accept", "connect", "client_send_bye", "server_recv_bye", "server_send_reply", "client_recv_reply",
    "server_send_hello", "client_recv_hello", "client_close", "client_fin_wait_1",
    "client_state_after_close", "server_eof", "server_close_wait", "client_fin_wait_2", "server_quickack",
    "server_close", "server_last_ack", "client_time_wait", "client_time_wait_gone", "client_no_server_fin",
    "server_close_at_once", "client_send_question",
    "client_shutdown", "server_recv_question", "server_send_answer", "client_recv_answer", "client_eof",
    "client_close_after_eof", "client_linger0", "client_close_abort", "client_no_time_wait", "server_recv_reset",
    "client_send_unread", "server_unread", "server_close_unread", "client_recv_reset", "server_send_bye",
    "server_reuseaddr_first", "server_close_first", "client_recv_bye", "server_time_wait", "listener_close", "rebind_fails",
    "rebind_reuseaddr",
    // the timeline: the wire ({who} is "the client" or "the server")
    "the_client", "the_server", "wire_rst_linger", "wire_rst_unread",
    // the summary
    "verdict_segments", "verdict_time_wait", "verdict_no_time_wait", "verdict_close_wait",
    "verdict_received_after_fin", "verdict_data_after_fin", "verdict_rst", "verdict_peer_reset",
    "verdict_rebind_plain", "verdict_rebind_reuseaddr", "verdict_server_time_wait", "fact_delayed_ack",
    "fact_last_ack", "fact_last_ack_net", "fact_states", "why_merged_late",
    // words in the call column and the summary's values
    "label_no_time_wait", "label_unread", "word_ok"};
using Note = demo::Key<kNoteKeys>;

constexpr std::string_view kGoodbye = "bye";
constexpr std::string_view kReply = "bye, see you";
constexpr std::string_view kHello = "hello";
constexpr std::string_view kQuestion = "send me the report";
constexpr std::array<std::string_view, 3> kAnswer{"line 1 of the report\n", "line 2 of the report\n",
                                                  "line 3, the last\n"};
constexpr std::string_view kUnread = "data nobody reads";

std::size_t answer_size() {
  std::size_t n = 0;
  for (auto line : kAnswer) n += line.size();
  return n;
}



// Reads one message of a known size (recv() until that many bytes came).
std::string recv_message(net::TcpStream& conn, std::size_t size) {
  std::string buf(size, '\0');
  const auto n = must(conn.recv_exact(std::as_writable_bytes(std::span(buf))));
  buf.resize(n);
  return buf;
}

// recv() until the peer's FIN: 0 bytes. Returns the bytes read before it.
std::size_t recv_until_eof(net::TcpStream& conn) {
  std::array<std::byte, 1024> buf{};
  std::size_t total = 0;
  for (;;) {
    const auto n = must(conn.recv_some(buf));
    if (n == 0) return total;
    total += n;
  }
}

// The goodbye both sides exchange before the client closes: it keeps the
// lesson in order (the server has read everything before the first FIN).
void client_says_goodbye(Session& s, net::TcpStream& conn) {
  must(conn.send_all(kGoodbye));
  s.explain(Side::client, "send", Note{"client_send_bye"});
  recv_message(conn, kReply.size());
  s.explain(Side::client, "recv", Note{"client_recv_reply"});
}

void server_says_goodbye(Session& s, net::TcpStream& conn) {
  recv_message(conn, kGoodbye.size());
  s.explain(Side::server, "recv", Note{"server_recv_bye"});
  must(conn.send_all(kReply));
  s.explain(Side::server, "send", Note{"server_send_reply"});
}

// Sends the pending (delayed) ACK now: TCP_QUICKACK leaves delayed-ACK mode and
// flushes a scheduled ACK. Used when the client is on another machine, where we
// cannot see its state to wait for the delayed ACK to leave by itself. A failure
// here only delays that ACK, so it does not stop the lesson.
void ack_now(net::TcpStream& conn) { (void)conn.set_quickack(true); }

// The client's side of every teardown that ends in TIME_WAIT: after its close,
// the state right away, then TIME_WAIT once the server's FIN was acknowledged.
struct ClientStates {
  std::optional<TcpState> final_state;
};

// The client's connection after its close(): waits for TIME_WAIT only while it
// can still come, that is while the kernel holds the connection in a state
// before it (FIN_WAIT_1, FIN_WAIT_2, CLOSING: the server's FIN or the ACK of
// ours is still to come). Once the server's FIN is in, TIME_WAIT is there at
// once; no entry at all then means it already ended: a RST from the server
// ends it (TIME-WAIT assassination, RFC 1337: the server, closed on the first
// ACK, answers a second one, sent for a FIN it retransmitted while busy), or
// the kernel had no room for it (net.ipv4.tcp_max_tw_buckets). Waiting for it
// then could only run out.
void await_client_time_wait(Session& s, const demo::ConnectionEnds& p, ClientStates& out) {
  std::optional<net::DiagSocket> last;
  const bool settled = demo::wait_until(
      [&] {
        last = demo::find_socket(p.me, p.other);
        return !last || last->state == TcpState::time_wait;
      },
      s.patience());
  if (!settled) {
    throw demo::DemoFailure(s.note(Note{"client_no_server_fin"},
                                   {{"state", std::string(net::to_string(last->state))},
                                    {"ms", std::to_string(s.patience().count())}}));
  }
  if (!last) {
    s.record_state(Side::client, TcpState::closed, Note{"client_time_wait_gone"});
    return;
  }
  out.final_state = last->state;
  const double left = last->timer ? static_cast<double>(last->timer->count()) / 1000.0 : 60.0;
  s.record_state(Side::client, last->state, Note{"client_time_wait"}, {{"seconds", fmt::format("{:.0f}", left)}});
}

void watch_client_after_close(Session& s, const demo::ConnectionEnds& p, ClientStates& out) {
  if (auto now = demo::find_socket(p.me, p.other); now && now->state != TcpState::time_wait) {
    if (now->state == TcpState::fin_wait_1) {
      s.record_state(Side::client, now->state, Note{"client_fin_wait_1"});
    } else {
      s.record_state(Side::client, now->state, Note{"client_state_after_close"},
                     {{"state", std::string(net::to_string(now->state))}});
    }
  }
  await_client_time_wait(s, p, out);
}

// ---------------------------------------------------------------- the wire

bool from_server(const PacketRecord& p, std::uint16_t server_port) { return p.sport == server_port; }

// Segments from the first FIN or RST on, in one connection.
nlohmann::json closing_flags(const std::vector<PacketRecord>& packets, std::uint32_t stream) {
  auto out = nlohmann::json::array();
  bool closing = false;
  for (const auto& p : packets) {
    if (!p.is_tcp || p.stream != stream) continue;
    closing = closing || p.flags.find_first_of("FR") != std::string::npos;
    if (closing) out.push_back(p.flags);
  }
  return out;
}

const PacketRecord* first_with(const std::vector<PacketRecord>& packets, char flag, std::uint32_t stream = 0) {
  for (const auto& p : packets) {
    if (p.is_tcp && p.stream == stream && p.flags.find(flag) != std::string::npos) return &p;
  }
  return nullptr;
}

// The wire's notes are the shared ones (wire_notes.hpp, this lesson's texts
// overriding), but for an RST: why it was sent depends on the variant.
void explain_teardown_wire(Session& s, bool abort_variant) {
  demo::explain_wire(s, [&s, abort_variant](const PacketRecord& p) -> std::optional<std::string> {
    if (p.phase != Phase::reset) return std::nullopt;
    return s.note(abort_variant && p.stream == 0 ? Note{"wire_rst_linger"} : Note{"wire_rst_unread"},
                  {{"who", demo::wire_sender(s, p)}});
  });
}


// The ACK delay and LAST_ACK's length, read from the capture.
void wire_timing_facts(Session& s, std::uint16_t server_port) {
  const auto& packets = s.packets();
  const PacketRecord* fin1 = first_with(packets, 'F');
  if (fin1 == nullptr) return;
  const bool client_first = !from_server(*fin1, server_port);
  const PacketRecord* answer = nullptr;  // the first segment back after the first FIN
  const PacketRecord* fin2 = nullptr;
  const PacketRecord* last = nullptr;
  for (const auto& p : packets) {
    if (!p.is_tcp || p.stream != fin1->stream || p.ts_ns <= fin1->ts_ns) continue;
    const bool back = from_server(p, server_port) == client_first;
    if (back && answer == nullptr) answer = &p;
    if (back && fin2 == nullptr && p.flags.find('F') != std::string::npos) fin2 = &p;
    if (fin2 != nullptr && &p != fin2 && !back) last = &p;
  }
  if (answer != nullptr) {
    const std::int64_t ns = answer->ts_ns - fin1->ts_ns;
    s.fact("first_fin_answered_ns", ns, Note{"fact_delayed_ack"}, {{"delay", demo::duration_text(ns)}});
  }
  if (fin2 != nullptr && last != nullptr) {
    const std::int64_t ns = last->ts_ns - fin2->ts_ns;
    // "On loopback" only when this connection's addresses are loopback ones.
    const auto peer = net::Endpoint::parse(fin2->src);
    const bool loopback = peer && demo::is_loopback(*peer);
    s.fact("last_ack_ns", ns, loopback ? Note{"fact_last_ack"} : Note{"fact_last_ack_net"},
           {{"delay", demo::duration_text(ns)}});
  }
}

void segments_verdict(Session& s, nlohmann::json expected, std::uint32_t stream = 0) {
  const auto observed = closing_flags(s.packets(), stream);
  s.verdict("teardown_segments", expected, observed, Note{"verdict_segments"},
            {{"observed", demo::flags_text(observed)}, {"expected", demo::flags_text(expected)}});
}

// Every state the run read for the client after its close(), in time order:
// the client's own reads and the server's (FIN_WAIT_2, seen from the server side).
std::vector<std::string> client_states_after_close(const Session& s) {
  std::vector<std::string> out;
  bool closed = false;
  for (const auto& c : s.calls()) {
    if (c.side != Side::client) continue;
    if (c.call == "close") closed = true;
    if (closed && c.call == "state" && (out.empty() || out.back() != c.args)) out.push_back(c.args);
  }
  return out;
}

void client_verdicts(Session& s, const ClientStates& client) {
  if (!s.plays(Side::client)) return;
  const auto seen = client_states_after_close(s);
  s.fact("client_states", seen, Note{"fact_states"}, {{"states", demo::render_value(seen)}});
  s.verdict("client_time_wait", "TIME_WAIT",
            client.final_state ? nlohmann::json(net::to_string(*client.final_state)) : nlohmann::json(nullptr),
            Note{"verdict_time_wait"});
}

// ---------------------------------------------------------------- four segments (default)

void four_way(Session& s) {
  ClientStates client;
  std::optional<TcpState> server_after_eof;
  std::uint16_t server_port = 0;
  s.run(
      [&] {  // the server
        auto listener = s.listen();
        server_port = listener.endpoint().port();
        auto conn = s.accept(listener).stream;
        s.explain(Side::server, "accept", Note{"accept"});
        const auto p = demo::ends_of(conn);
        server_says_goodbye(s, conn);
        recv_until_eof(conn);
        s.explain(Side::server, "recv", Note{"server_eof"});
        server_after_eof = must(conn.state());
        s.record_state(Side::server, *server_after_eof, Note{"server_close_wait"});

        // The pause before our close is a condition, not a sleep: the client
        // has the ACK of its FIN (FIN_WAIT_2), so our FIN cannot carry it.
        // Only a client on this machine can be seen in FIN_WAIT_2.
        if (!demo::is_loopback(p.other)) {
          ack_now(conn);  // the client is on another machine: send the ACK now
          s.explain(Side::server, "setsockopt", Note{"server_quickack"});
        } else if (auto fw2 = demo::wait_for_socket(p.other, p.me, {TcpState::fin_wait_2}, s.patience())) {
          s.record_state(Side::client, TcpState::fin_wait_2, Note{"client_fin_wait_2"});
        } else {
          ack_now(conn);  // the client is on another machine: send the ACK now
          s.explain(Side::server, "setsockopt", Note{"server_quickack"});
        }
        must(conn.close());
        s.explain(Side::server, "close", Note{"server_close"});
        if (auto last = demo::find_socket(p.me, p.other); last && last->state == TcpState::last_ack) {
          s.record_state(Side::server, TcpState::last_ack, Note{"server_last_ack"});
        }
        s.end_capture();
      },
      [&] {  // the client
        auto conn = must(net::TcpStream::connect(s.server_endpoint(), {.trace = s.trace(Side::client)}));
        s.explain(Side::client, "connect", Note{"connect"});
        const auto p = demo::ends_of(conn);
        client_says_goodbye(s, conn);
        must(conn.close());
        s.explain(Side::client, "close", Note{"client_close"});
        watch_client_after_close(s, p, client);
        s.end_capture();  // TIME_WAIT: our last ACK has left
      });

  if (s.plays(Side::server) && server_after_eof) {
    s.verdict("server_close_wait", "CLOSE_WAIT", net::to_string(*server_after_eof), Note{"verdict_close_wait"});
  }
  client_verdicts(s, client);
  if (s.capturing()) {
    if (server_port == 0) server_port = s.options().server_endpoint.port();
    explain_teardown_wire(s, false);
    segments_verdict(s, {"F.", ".", "F.", "."});
    wire_timing_facts(s, server_port);
  }
}

// ---------------------------------------------------------------- three segments (--merged)

void merged(Session& s) {
  s.set_variant("merged", "--merged");
  ClientStates client;
  std::uint16_t server_port = 0;
  s.run(
      [&] {  // the server closes as soon as it reads the end
        auto listener = s.listen();
        server_port = listener.endpoint().port();
        auto conn = s.accept(listener).stream;
        s.explain(Side::server, "accept", Note{"accept"});
        server_says_goodbye(s, conn);
        recv_until_eof(conn);
        must(conn.close());
        s.explain(Side::server, "recv", Note{"server_eof"});
        s.explain(Side::server, "close", Note{"server_close_at_once"});
        s.end_capture();
      },
      [&] {  // the client: as in the default
        auto conn = must(net::TcpStream::connect(s.server_endpoint(), {.trace = s.trace(Side::client)}));
        s.explain(Side::client, "connect", Note{"connect"});
        const auto p = demo::ends_of(conn);
        client_says_goodbye(s, conn);
        must(conn.close());
        s.explain(Side::client, "close", Note{"client_close"});
        watch_client_after_close(s, p, client);
        s.end_capture();
      });

  client_verdicts(s, client);
  if (s.capturing()) {
    if (server_port == 0) server_port = s.options().server_endpoint.port();
    explain_teardown_wire(s, false);
    segments_verdict(s, {"F.", "F.", "."});
    if (s.verdicts().back().ok == false) {
      // How long the server took from the end of its EOF recv() to close():
      // longer than the delayed-ACK timer, and the ACK left alone.
      std::int64_t eof_end = 0, late = 0;
      for (const auto& c : s.calls()) {
        if (c.side == Side::server && c.call == "recv" && c.result == 0) eof_end = c.t_ns + c.dur_ns;
        if (c.side == Side::server && c.call == "close" && eof_end != 0) late = c.t_ns - eof_end;
      }
      s.why(Note{"why_merged_late"}, {{"delay", demo::duration_text(late)}});
    }
    wire_timing_facts(s, server_port);
  }
}

// ---------------------------------------------------------------- --half-close

void half_close(Session& s) {
  s.set_variant("half-close", "--half-close");
  ClientStates client;
  std::optional<std::size_t> received_after_fin;
  std::uint16_t server_port = 0;
  s.run(
      [&] {  // the server reads the question to its end, then answers
        auto listener = s.listen();
        server_port = listener.endpoint().port();
        auto conn = s.accept(listener).stream;
        s.explain(Side::server, "accept", Note{"accept"});
        recv_message(conn, kQuestion.size());
        s.explain(Side::server, "recv", Note{"server_recv_question"});
        recv_until_eof(conn);
        s.explain(Side::server, "recv", Note{"server_eof"});
        s.record_state(Side::server, must(conn.state()), Note{"server_close_wait"});
        for (auto line : kAnswer) {
          must(conn.send_all(line));
          s.explain(Side::server, "send", Note{"server_send_answer"});
        }
        must(conn.close());
        s.explain(Side::server, "close", Note{"server_close"});
        s.end_capture();
      },
      [&] {  // the client asks, shuts down its sending side, and keeps reading
        auto conn = must(net::TcpStream::connect(s.server_endpoint(), {.trace = s.trace(Side::client)}));
        s.explain(Side::client, "connect", Note{"connect"});
        const auto p = demo::ends_of(conn);
        must(conn.send_all(kQuestion));
        s.explain(Side::client, "send", Note{"client_send_question"});
        must(conn.shutdown_write());
        s.explain(Side::client, "shutdown", Note{"client_shutdown"});
        std::size_t received = 0;
        std::array<std::byte, 1024> buf{};
        while (const auto n = must(conn.recv_some(buf))) {
          received += n;
          s.explain(Side::client, "recv", Note{"client_recv_answer"}, {{"bytes", std::to_string(n)}});
        }
        received_after_fin = received;
        s.explain(Side::client, "recv", Note{"client_eof"});
        must(conn.close());
        s.explain(Side::client, "close", Note{"client_close_after_eof"});
        await_client_time_wait(s, p, client);  // recv() saw the FIN: TIME_WAIT came, nothing to wait for
        s.end_capture();
      });

  if (s.plays(Side::client)) {
    s.verdict("received_after_shutdown", answer_size(), received_after_fin.value_or(0),
              Note{"verdict_received_after_fin"});
  }
  if (s.capturing()) {
    if (server_port == 0) server_port = s.options().server_endpoint.port();
    explain_teardown_wire(s, false);
    // Bytes the server sent after the client's FIN, counted on the wire.
    std::size_t after_fin = 0;
    if (const PacketRecord* fin = first_with(s.packets(), 'F'); fin != nullptr && !from_server(*fin, server_port)) {
      for (const auto& pkt : s.packets()) {
        if (pkt.is_tcp && pkt.stream == fin->stream && pkt.ts_ns > fin->ts_ns && from_server(pkt, server_port)) {
          after_fin += pkt.len;
        }
      }
    }
    s.verdict("data_after_fin", answer_size(), after_fin, Note{"verdict_data_after_fin"});
  }
}

// ---------------------------------------------------------------- --abort

void abort_with_rst(Session& s) {
  s.set_variant("abort", "--abort");
  std::optional<std::string> server_error, client_error, after_abort;
  std::uint16_t server_port = 0;
  s.run(
      [&] {  // the server
        auto listener = s.listen();
        server_port = listener.endpoint().port();
        // 1. The client aborts: our recv() learns it from the RST.
        auto first = s.accept(listener).stream;
        s.explain(Side::server, "accept", Note{"accept"});
        // Serving a class: which connection is this student's second (before our hello, its cue).
        s.expect_second_connection(first);
        must(first.send_all(kHello));
        s.explain(Side::server, "send", Note{"server_send_hello"});
        std::array<std::byte, 64> buf{};
        auto got = first.recv_some(buf);
        server_error = got ? "no error" : demo::errno_name(got.error().errno_value());
        s.explain(Side::server, "recv", Note{"server_recv_reset"});
        // 2. We close with the client's bytes still unread: RST, not FIN.
        auto second = std::move(s.accept_second(listener).stream);
        s.explain(Side::server, "accept", Note{"accept"});
        const int queued = must(second.wait_for_bytes(static_cast<int>(kUnread.size()), s.patience()));
        s.record_note(Side::server, s.note(Note{"label_unread"}, {{"bytes", std::to_string(queued)}}), Note{"server_unread"},
                      {{"bytes", std::to_string(queued)}});
        must(second.close());
        s.explain(Side::server, "close", Note{"server_close_unread"});
        s.end_capture();
      },
      [&] {  // the client
        const auto server = s.server_endpoint();
        std::optional<net::TcpStream> bound;  // with --role client: a class server is told its port first
        {
          auto conn = must(net::TcpStream::connect(server, {.trace = s.trace(Side::client)}));
          s.explain(Side::client, "connect", Note{"connect"});
          bound = s.announce_second_connection(conn);
          const auto p = demo::ends_of(conn);
          recv_message(conn, kHello.size());
          s.explain(Side::client, "recv", Note{"client_recv_hello"});
          must(conn.set_linger(0s));
          s.explain(Side::client, "setsockopt", Note{"client_linger0"});
          must(conn.close());
          s.explain(Side::client, "close", Note{"client_close_abort"});
          // No TIME_WAIT after an abort: the connection is gone at once.
          after_abort = demo::find_socket(p.me, p.other) ? "still there" : "gone";
          s.record_note(Side::client, s.note(Note{"label_no_time_wait"}), Note{"client_no_time_wait"});
        }
        auto conn = s.connect_second(std::move(bound), server);
        s.explain(Side::client, "connect", Note{"connect"});
        must(conn.send_all(kUnread));
        s.explain(Side::client, "send", Note{"client_send_unread"});
        std::array<std::byte, 64> buf{};
        auto got = conn.recv_some(buf);
        client_error = got ? (*got == 0 ? "EOF" : "data") : demo::errno_name(got.error().errno_value());
        s.explain(Side::client, "recv", Note{"client_recv_reset"});
        s.end_capture();  // the RST has arrived
      });

  if (s.plays(Side::server)) {
    s.verdict("peer_sees_reset_after_linger0", "ECONNRESET", server_error.value_or("-"), Note{"verdict_peer_reset"},
              {{"who", s.note(Note{"the_server"})}});
  }
  if (s.plays(Side::client)) {
    s.verdict("no_time_wait_after_abort", "gone", after_abort.value_or("-"), Note{"verdict_no_time_wait"});
    s.verdict("peer_sees_reset_after_unread_close", "ECONNRESET", client_error.value_or("-"),
              Note{"verdict_peer_reset"}, {{"who", s.note(Note{"the_client"})}});
  }
  if (s.capturing()) {
    if (server_port == 0) server_port = s.options().server_endpoint.port();
    explain_teardown_wire(s, true);
    // The first connection ends with the client's RST, the second with the server's.
    nlohmann::json observed = nlohmann::json::array();
    for (std::uint32_t stream : {0u, 1u}) {
      const PacketRecord* rst = first_with(s.packets(), 'R', stream);
      observed.push_back(rst == nullptr ? nlohmann::json(nullptr)
                                        : nlohmann::json({{"from", from_server(*rst, server_port) ? "server" : "client"},
                                                          {"flags", rst->flags}}));
    }
    nlohmann::json expected = {{{"from", "client"}, {"flags", "R."}}, {{"from", "server"}, {"flags", "R."}}};
    const bool no_fin = first_with(s.packets(), 'F', 0) == nullptr && first_with(s.packets(), 'F', 1) == nullptr;
    s.verdict("rst_instead_of_fin", expected, observed, expected == observed && no_fin, Note{"verdict_rst"});
  }
}

// ---------------------------------------------------------------- --reuse

void reuse(Session& s) {
  s.set_variant("reuse", "--reuse");
  std::optional<std::string> server_tw, without_reuse, with_reuse;
  s.run(
      [&] {  // the server closes first, so TIME_WAIT is on its side, on its port
        // SO_REUSEADDR only helps if the old sockets on the port had it too:
        // the accepted connection (and its TIME_WAIT) inherits it from here.
        auto listener = s.listen({.reuse_addr = true});
        s.explain(Side::server, "setsockopt", Note{"server_reuseaddr_first"});
        const net::Endpoint at = listener.endpoint();
        auto conn = s.accept(listener).stream;
        s.explain(Side::server, "accept", Note{"accept"});
        const auto p = demo::ends_of(conn);
        must(conn.send_all(kGoodbye));
        s.explain(Side::server, "send", Note{"server_send_bye"});
        must(conn.close());
        s.explain(Side::server, "close", Note{"server_close_first"});
        auto tw = must(demo::wait_for_socket(p.me, p.other, {TcpState::time_wait}, s.patience()));
        server_tw = net::to_string(tw.state);
        s.record_state(Side::server, tw.state, Note{"server_time_wait"}, {{"port", std::to_string(at.port())}});

        // The server restarts: the old listener goes, a new one wants the same port.
        must(listener.close());
        s.explain(Side::server, "close", Note{"listener_close"}, {{"port", std::to_string(at.port())}});
        {
          auto again = net::TcpListener::bind(at, {.trace = s.trace(Side::server)});
          without_reuse = again ? "ok" : demo::errno_name(again.error().errno_value());
          s.explain(Side::server, "bind", Note{"rebind_fails"});
        }
        auto with = net::TcpListener::bind(at, {.reuse_addr = true, .trace = s.trace(Side::server)});
        with_reuse = with ? "ok" : demo::errno_name(with.error().errno_value());
        s.explain(Side::server, "bind", Note{"rebind_reuseaddr"});
        s.end_capture();
      },
      [&] {  // the client reads to the end, then closes too
        auto conn = must(net::TcpStream::connect(s.server_endpoint(), {.trace = s.trace(Side::client)}));
        s.explain(Side::client, "connect", Note{"connect"});
        recv_until_eof(conn);
        s.explain(Side::client, "recv", Note{"client_recv_bye"});
        must(conn.close());
        s.explain(Side::client, "close", Note{"client_close_after_eof"});
        s.end_capture();
      });

  if (s.plays(Side::server)) {
    s.verdict("server_time_wait", "TIME_WAIT", server_tw.value_or("-"), Note{"verdict_server_time_wait"});
    s.verdict("rebind_without_reuseaddr", "EADDRINUSE", without_reuse.value_or("-"), Note{"verdict_rebind_plain"});
    // "ok" stays the JSON value; the text says it in the lesson's words.
    s.verdict("rebind_with_reuseaddr", "ok", with_reuse.value_or("-"), Note{"verdict_rebind_reuseaddr"},
              {{"result", with_reuse == "ok" ? s.note(Note{"word_ok"}) : with_reuse.value_or("-")}});
  }
  if (s.capturing()) explain_teardown_wire(s, false);
}

}  // namespace

int main(int argc, char** argv) {
  demo::Demo app({"teardown", "demo-teardown: Lesson 2, closing a TCP connection, on the wire", kNoteKeys});
  bool merged_variant = false, half_close_variant = false, abort_variant = false, reuse_variant = false;
  auto* group = app.cli().add_option_group("Variants", "Pick at most one");
  group->add_flag("--merged", merged_variant, "The server closes at once: three segments instead of four");
  group->add_flag("--half-close", half_close_variant,
                  "The client calls shutdown(SHUT_WR) and keeps receiving what the server still sends");
  group->add_flag("--abort", abort_variant, "RST instead of FIN: SO_LINGER 0, and close() with unread data");
  group->add_flag("--reuse", reuse_variant,
                  "Restart a server while its old connection is in TIME_WAIT: EADDRINUSE, then SO_REUSEADDR");
  group->require_option(0, 1);
  // --reuse's server closes its listener on purpose (the lesson is its restart):
  // one client per run. --abort's client makes two connections: the class hands
  // each run its student's second one by the port announced on the first (classroom.hpp).
  app.serve_classes([&] { return !reuse_variant; }, [&] { return abort_variant; });
  return app.run(argc, argv, [&](Session& s) {
    if (merged_variant) return merged(s);
    if (half_close_variant) return half_close(s);
    if (abort_variant) return abort_with_rst(s);
    if (reuse_variant) return reuse(s);
    four_way(s);
  });
}
