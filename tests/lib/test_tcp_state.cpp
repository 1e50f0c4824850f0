#include <catch2/catch.hpp>

#include <algorithm>

#include "lib_test_util.hpp"
#include "net_helpers.hpp"

using namespace socklab::net;
using namespace std::chrono_literals;
using socklab::test::tcp_pair;

TEST_CASE("TcpState names match ss and the RFC", "[lib][state]") {
  CHECK(to_string(TcpState::syn_sent) == "SYN_SENT");
  CHECK(to_string(TcpState::established) == "ESTABLISHED");
  CHECK(to_string(TcpState::fin_wait_1) == "FIN_WAIT_1");
  CHECK(to_string(TcpState::fin_wait_2) == "FIN_WAIT_2");
  CHECK(to_string(TcpState::close_wait) == "CLOSE_WAIT");
  CHECK(to_string(TcpState::last_ack) == "LAST_ACK");
  CHECK(to_string(TcpState::time_wait) == "TIME_WAIT");
  CHECK(to_string(TcpState::closing) == "CLOSING");
  CHECK(to_string(TcpState::closed) == "CLOSED");
  CHECK(to_string(TcpState::listen) == "LISTEN");
  CHECK(to_string(static_cast<TcpState>(200)) == "UNKNOWN");
}

TEST_CASE("TCP_INFO of an established connection", "[lib][state]") {
  auto pair = tcp_pair();
  REQUIRE(pair.client.send_all("0123456789"));
  std::array<std::byte, 10> buf{};
  REQUIRE(pair.server.recv_exact(buf).value() == 10);
  REQUIRE(socklab::test::wait_until([&] { return pair.client.info().value().bytes_acked >= 10; }));
  const TcpInfo c = pair.client.info().value();
  const TcpInfo s = pair.server.info().value();
  CHECK(c.state == TcpState::established);
  CHECK(c.snd_mss > 0);
  CHECK(s.bytes_received == 10);
  // Linux's defaults on loopback: all three options are negotiated.
  CHECK(c.sack);
  CHECK(c.timestamps);
  CHECK(c.window_scale);
}

TEST_CASE("listen_queue refuses a socket that is not listening", "[lib][state][errors]") {
  auto pair = tcp_pair();
  auto q = listen_queue(pair.client.fd());
  REQUIRE_FALSE(q);
  CHECK(q.error().code == errc::not_supported);
  auto bad = tcp_info(-1);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().errno_value() == EBADF);
}

TEST_CASE("inet_diag finds a listener with its queue numbers", "[lib][state][diag]") {
  const Endpoint at = GENERATE(Endpoint::loopback_v4(), Endpoint::loopback_v6());
  auto listener = TcpListener::bind(at, {.backlog = 5}).value();
  auto client = TcpStream::connect(listener.endpoint()).value();
  REQUIRE(socklab::test::wait_until([&] { return listener.queue().value().length == 1; }));

  auto found = find_tcp_sockets({.family = at.family(),
                                 .local_port = listener.endpoint().port(),
                                 .states = {TcpState::listen}})
                   .value();
  REQUIRE(found.size() == 1);
  CHECK(found[0].state == TcpState::listen);
  CHECK(found[0].local == listener.endpoint());
  CHECK(found[0].recv_queue == 1);  // accept queue length
  CHECK(found[0].send_queue == 5);  // its limit
  CHECK(found[0].inode != 0);       // a socket with a descriptor

  // Both ends of the connection, found by their ports (a port alone is not
  // unique: other tests' connections may reuse it towards other peers).
  const auto cport = client.local_endpoint().value().port();
  const auto lport = listener.endpoint().port();
  auto client_side = find_tcp_sockets({.family = at.family(), .local_port = cport, .remote_port = lport}).value();
  REQUIRE(client_side.size() == 1);
  CHECK(client_side[0].state == TcpState::established);
  CHECK(client_side[0].remote == listener.endpoint());
  auto server_side = find_tcp_sockets({.family = at.family(), .local_port = lport, .remote_port = cport}).value();
  REQUIRE(server_side.size() == 1);
  CHECK(server_side[0].local == listener.endpoint());
  CHECK(server_side[0].state == TcpState::established);  // still in the accept queue
}

TEST_CASE("TIME_WAIT is found after close through inet_diag", "[lib][state][diag][time-wait]") {
  const Endpoint at = GENERATE(Endpoint::loopback_v4(), Endpoint::loopback_v6());
  auto pair = tcp_pair(at);
  const Endpoint client_end = pair.client.local_endpoint().value();

  // The client closes first (the active closer), then the server.
  REQUIRE(pair.client.shutdown_write());
  REQUIRE(pair.client.wait_state(TcpState::fin_wait_2, 10s));
  std::array<std::byte, 4> buf{};
  REQUIRE(pair.server.recv_some(buf).value() == 0);
  REQUIRE(pair.server.close());
  // The kernel moves TIME_WAIT to a mini-socket: the descriptor's socket reads CLOSED.
  REQUIRE(pair.client.wait_state(TcpState::closed, 10s));
  REQUIRE(pair.client.close());

  auto tw = wait_for_tcp_socket({.family = at.family(),
                                 .local_port = client_end.port(),
                                 .remote_port = pair.listener.endpoint().port(),
                                 .states = {TcpState::time_wait}},
                                10s);
  REQUIRE(tw);
  CHECK(tw->state == TcpState::time_wait);
  CHECK(tw->local == client_end);
  CHECK(tw->remote == pair.listener.endpoint());
  CHECK(tw->inode == 0);  // no descriptor holds it any more
  REQUIRE(tw->timer.has_value());
  CHECK(*tw->timer <= 60s);  // TCP_TIMEWAIT_LEN

  // The server, the passive closer, has no TIME_WAIT.
  auto server_side = find_tcp_sockets({.family = at.family(),
                                       .local_port = pair.listener.endpoint().port(),
                                       .remote_port = client_end.port()})
                         .value();
  CHECK(server_side.empty());
}

TEST_CASE("inet_diag queries: unknown family and no match", "[lib][state][diag][errors]") {
  auto bad = find_tcp_sockets({.family = AF_UNIX});
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == errc::not_supported);

  auto listener = TcpListener::bind(Endpoint::loopback_v4()).value();
  // Nothing is in SYN_SENT towards our own listener.
  auto none = wait_for_tcp_socket({.family = AF_INET,
                                   .remote_port = listener.endpoint().port(),
                                   .states = {TcpState::syn_sent}},
                                  10ms);
  REQUIRE_FALSE(none);
  CHECK(none.error().code == errc::timed_out);
  CHECK(none.error().message().find("SYN_SENT") != std::string::npos);
}
