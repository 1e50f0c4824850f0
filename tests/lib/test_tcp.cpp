#include <catch2/catch.hpp>

#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <netinet/tcp.h>

#include <array>
#include <atomic>
#include <csignal>
#include <cstring>
#include <string>
#include <thread>

#include "lib_test_util.hpp"
#include "net_helpers.hpp"

using namespace socklab::net;
using namespace std::chrono_literals;
using socklab::test::bytes_of;
using socklab::test::tcp_pair;
using socklab::test::text_of;
using socklab::test::wait_until;

TEST_CASE("TCP connect, accept and exchange bytes over IPv4 and IPv6", "[lib][tcp]") {
  const Endpoint at = GENERATE(Endpoint::loopback_v4(), Endpoint::loopback_v6());
  auto pair = tcp_pair(at);
  CHECK(pair.listener.endpoint().family() == at.family());
  CHECK(pair.listener.endpoint().port() != 0);  // port 0 asked the kernel for a free port
  CHECK(pair.client.peer_endpoint().value() == pair.listener.endpoint());

  REQUIRE(pair.client.send_all("hello").value() == 5);
  std::array<std::byte, 5> buf{};
  REQUIRE(pair.server.recv_exact(buf).value() == 5);
  CHECK(text_of(buf, 5) == "hello");

  REQUIRE(pair.server.send_all("back").value() == 4);
  REQUIRE(pair.client.recv_exact(std::span(buf).first(4)).value() == 4);
  CHECK(text_of(buf, 4) == "back");
}

TEST_CASE("accept returns the client's address", "[lib][tcp]") {
  auto listener = TcpListener::bind(Endpoint::loopback_v4()).value();
  auto client = TcpStream::connect(listener.endpoint()).value();
  auto accepted = listener.accept(10s).value();
  CHECK(accepted.peer == client.local_endpoint().value());
  CHECK(accepted.stream.peer_endpoint().value() == accepted.peer);
}

TEST_CASE("accept with a timeout gives errc::timed_out when nobody connects", "[lib][tcp]") {
  auto listener = TcpListener::bind(Endpoint::loopback_v4()).value();
  auto r = listener.accept(20ms);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::timed_out);
  CHECK(r.error().message() == "accept " + listener.endpoint().to_string() +
                                   ": no connection within 20 ms");
}

TEST_CASE("bind to a port in use gives EADDRINUSE naming the endpoint", "[lib][tcp][errors]") {
  auto first = TcpListener::bind(Endpoint::loopback_v4()).value();
  auto second = TcpListener::bind(first.endpoint());
  REQUIRE_FALSE(second);
  CHECK(second.error().errno_value() == EADDRINUSE);
  CHECK(second.error().context == "bind " + first.endpoint().to_string());
}

TEST_CASE("listeners that all set reuse_port share one port", "[lib][tcp]") {
  auto first = TcpListener::bind(Endpoint::loopback_v4(), {.reuse_port = true}).value();
  auto second = TcpListener::bind(first.endpoint(), {.reuse_port = true});
  REQUIRE(second);
  CHECK(second->endpoint() == first.endpoint());
  // One that does not set it is refused, as without the option.
  auto third = TcpListener::bind(first.endpoint());
  REQUIRE_FALSE(third);
  CHECK(third.error().errno_value() == EADDRINUSE);
}

TEST_CASE("recv_exact assembles short reads", "[lib][tcp][short-read]") {
  CallRecorder rec;
  auto pair = tcp_pair(Endpoint::loopback_v4(), {.trace = {&rec, Side::server}});
  std::array<std::byte, 10> buf{};
  Result<std::size_t> got = 0;
  std::thread reader([&] { got = pair.server.recv_exact(buf); });

  // Each piece is sent only after the reader took the previous one, so the
  // reader really sees three separate short reads.
  for (std::string_view piece : {"abc", "defg", "hij"}) {
    REQUIRE(pair.client.send_all(piece).value() == piece.size());
    REQUIRE(wait_until([&] { return pair.server.bytes_in_recv_queue().value() == 0 &&
                                    pair.client.bytes_in_send_queue().value() == 0; }));
  }
  reader.join();
  REQUIRE(got.value() == 10);
  CHECK(text_of(buf, 10) == "abcdefghij");

  std::vector<std::int64_t> reads;
  for (const auto& ev : rec.snapshot()) {
    if (ev.call == "recv") reads.push_back(ev.result);
  }
  CHECK(reads == std::vector<std::int64_t>{3, 4, 3});
}

TEST_CASE("EOF in the middle: recv_exact returns a short count, recv_some 0", "[lib][tcp][eof]") {
  auto pair = tcp_pair();
  REQUIRE(pair.client.send_all("abc"));
  REQUIRE(pair.client.close());
  std::array<std::byte, 10> buf{};
  auto got = pair.server.recv_exact(buf);
  REQUIRE(got);  // EOF is not an error
  CHECK(*got == 3);
  CHECK(text_of(buf, 3) == "abc");
  CHECK(pair.server.recv_some(buf).value() == 0);
}

namespace {
std::atomic<int> signals_seen{0};
extern "C" void count_signal(int) { signals_seen.fetch_add(1); }
}  // namespace

TEST_CASE("recv_exact retries a recv interrupted by a signal (EINTR)", "[lib][tcp][eintr]") {
  // A handler without SA_RESTART makes a blocked recv() fail with EINTR.
  struct sigaction sa{};
  struct sigaction old{};
  sa.sa_handler = count_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;
  REQUIRE(::sigaction(SIGUSR1, &sa, &old) == 0);

  CallRecorder rec;
  auto pair = tcp_pair(Endpoint::loopback_v4(), {.trace = {&rec, Side::server}});
  std::array<std::byte, 4> buf{};
  Result<std::size_t> got = 0;
  std::atomic<pid_t> reader_tid{0};
  std::thread reader([&] {
    reader_tid = static_cast<pid_t>(::syscall(SYS_gettid));
    got = pair.server.recv_exact(buf);
  });
  REQUIRE(wait_until([&] { return reader_tid.load() != 0; }));

  REQUIRE(pair.client.send_all("ab"));
  // Wait until the reader took "ab" and sleeps in the next recv, then interrupt it.
  REQUIRE(wait_until([&] {
    return pair.server.bytes_in_recv_queue().value() == 0 &&
           socklab::test::sleeping_in(reader_tid, SYS_recvfrom);
  }));
  const int before = signals_seen.load();
  REQUIRE(::pthread_kill(reader.native_handle(), SIGUSR1) == 0);
  REQUIRE(wait_until([&] { return signals_seen.load() > before; }));
  // The reader must go back to sleep in recv (it retried) rather than fail.
  REQUIRE(wait_until([&] { return socklab::test::sleeping_in(reader_tid, SYS_recvfrom); }));
  REQUIRE(pair.client.send_all("cd"));
  reader.join();
  ::sigaction(SIGUSR1, &old, nullptr);

  REQUIRE(got.value() == 4);
  CHECK(text_of(buf, 4) == "abcd");
  int interrupted = 0;
  for (const auto& ev : rec.snapshot()) {
    if (ev.call == "recv" && ev.err == EINTR) ++interrupted;
  }
  CHECK(interrupted == 1);
}

TEST_CASE("sending to a closed peer gives EPIPE or ECONNRESET, never SIGPIPE",
          "[lib][tcp][sigpipe]") {
  // With the default action SIGPIPE would kill this test program.
  auto* previous = std::signal(SIGPIPE, SIG_DFL);
  auto pair = tcp_pair();
  REQUIRE(pair.server.close());
  REQUIRE(pair.client.wait_state(TcpState::close_wait, 10s));
  // The first send reaches a closed socket, which answers with RST...
  REQUIRE(pair.client.send_all("x").value() == 1);
  REQUIRE(pair.client.wait_state(TcpState::closed, 10s));
  // ...after which sending fails, with an error instead of a signal.
  auto r = pair.client.send_all("y");
  std::signal(SIGPIPE, previous);
  REQUIRE_FALSE(r);
  CHECK((r.error().errno_value() == EPIPE || r.error().errno_value() == ECONNRESET));
  CHECK(r.error().message().starts_with("send"));
}

TEST_CASE("connect to a port nobody listens on: ECONNREFUSED", "[lib][tcp][errors]") {
  // A bound but not listening socket holds the port, so no other test can take it.
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  Socket port_holder(fd);
  const Endpoint any = Endpoint::loopback_v4();
  REQUIRE(::bind(fd, any.data(), any.size()) == 0);
  const Endpoint target = port_holder.local_endpoint().value();

  auto r = TcpStream::connect(target);
  REQUIRE_FALSE(r);
  CHECK(r.error().errno_value() == ECONNREFUSED);
  CHECK(r.error().message() == "connect " + target.to_string() + ": " + std::strerror(ECONNREFUSED));

  auto with_timeout = TcpStream::connect(target, {.timeout = 5s});
  REQUIRE_FALSE(with_timeout);
  CHECK(with_timeout.error().errno_value() == ECONNREFUSED);

  auto started = TcpStream::connect_start(target);
  REQUIRE(started);  // the refusal comes with the answer to the SYN
  auto finished = started->finish_connect(5s);
  REQUIRE_FALSE(finished);
  CHECK(finished.error().errno_value() == ECONNREFUSED);
  CHECK(finished.error().context == "connect " + target.to_string());
}

TEST_CASE("listen queue numbers with clients waiting, and connect timeout when it is full",
          "[lib][tcp][backlog]") {
  auto listener = TcpListener::bind(Endpoint::loopback_v4(), {.backlog = 2}).value();
  // Linux queues up to backlog + 1 completed connections.
  std::vector<TcpStream> clients;
  for (int i = 0; i < 3; ++i) clients.push_back(TcpStream::connect(listener.endpoint(), {.timeout = 10s}).value());
  REQUIRE(wait_until([&] { return listener.queue().value().length == 3; }));
  const ListenQueue q = listener.queue().value();
  CHECK(q.length == 3);
  CHECK(q.limit == 2);

  // The queue is full: the SYN of one more client is dropped, so it cannot complete.
  auto late = TcpStream::connect_start(listener.endpoint()).value();
  CHECK(late.state().value() == TcpState::syn_sent);
  auto r = late.finish_connect(200ms);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::timed_out);
  CHECK(late.state().value() == TcpState::syn_sent);
  auto blocking = TcpStream::connect(listener.endpoint(), {.timeout = 100ms});
  REQUIRE_FALSE(blocking);
  CHECK(blocking.error().message() ==
        "connect " + listener.endpoint().to_string() + ": no answer after 100 ms");

  // Closing the late client stops its SYN retransmissions, which could
  // otherwise refill the queue once accept() makes room.
  REQUIRE(late.close());
  // accept() takes from the head of the queue.
  auto first = listener.accept(10s).value();
  CHECK(first.peer == clients[0].local_endpoint().value());
  CHECK(listener.queue().value().length == 2);
}

TEST_CASE("SO_LINGER 0 makes close abortive: the peer gets ECONNRESET", "[lib][tcp][linger]") {
  auto pair = tcp_pair();
  REQUIRE(pair.client.set_linger(0s));
  REQUIRE(pair.client.close());
  std::array<std::byte, 8> buf{};
  auto r = pair.server.recv_some(buf);
  REQUIRE_FALSE(r);
  CHECK(r.error().errno_value() == ECONNRESET);
}

TEST_CASE("shutdown_write sends FIN: the peer reads EOF and can still answer", "[lib][tcp]") {
  auto pair = tcp_pair();
  REQUIRE(pair.client.send_all("req"));
  REQUIRE(pair.client.shutdown_write());
  std::array<std::byte, 8> buf{};
  CHECK(pair.server.recv_exact(buf).value() == 3);  // short count: EOF after "req"
  REQUIRE(pair.server.send_all("resp"));
  CHECK(pair.client.recv_exact(std::span(buf).first(4)).value() == 4);
  CHECK(text_of(buf, 4) == "resp");
  CHECK(pair.client.state().value() == TcpState::fin_wait_2);
  CHECK(pair.server.state().value() == TcpState::close_wait);
}

TEST_CASE("bytes in the receive and send queues (SIOCINQ / SIOCOUTQ)", "[lib][tcp]") {
  auto pair = tcp_pair();
  CHECK(pair.server.bytes_in_recv_queue().value() == 0);
  REQUIRE(pair.client.send_all("12345"));
  CHECK(pair.server.wait_for_bytes(5, 10s).value() == 5);
  CHECK(pair.server.bytes_in_recv_queue().value() == 5);
  REQUIRE(wait_until([&] { return pair.client.bytes_in_send_queue().value() == 0; }));
}

TEST_CASE("bytes_not_sent (SIOCOUTQNSD): what the peer's closed window holds back", "[lib][tcp]") {
  // A tiny receive buffer (inherited from the listener, so the first window is
  // tiny too) that nobody reads, and a large send buffer: most of what the
  // client hands the kernel cannot leave until the server reads.
  auto listener = TcpListener::bind(Endpoint::loopback_v4()).value();
  REQUIRE(listener.set_recv_buffer(4096));
  auto client = TcpStream::connect(listener.endpoint(), {.timeout = 10s}).value();
  auto server = std::move(listener.accept(10s).value().stream);
  REQUIRE(client.set_send_buffer(256 * 1024));
  CHECK(client.bytes_not_sent().value() == 0);

  const std::string data(128 * 1024, 'x');
  REQUIRE(client.set_nonblocking(true));
  const std::size_t handed = client.send_some(bytes_of(data)).value();
  REQUIRE(handed > 64 * 1024);  // far more than the window takes
  // Once the window is closed and all that fitted is acknowledged, the whole
  // queue is unsent.
  REQUIRE(wait_until([&] {
    const int queued = client.bytes_in_send_queue().value();
    const int unsent = client.bytes_not_sent().value();
    REQUIRE(unsent <= queued);
    return unsent > 0 && unsent == queued;
  }));
  const int held_back = client.bytes_not_sent().value();
  CHECK(held_back < static_cast<int>(handed));  // some did fit in the window
  CHECK(server.bytes_in_recv_queue().value() == static_cast<int>(handed) - held_back);

  // The server reads everything: the window opens, every byte leaves and is acknowledged.
  std::vector<std::byte> sink(handed);
  REQUIRE(server.recv_exact(sink).value() == handed);
  REQUIRE(wait_until([&] { return client.bytes_in_send_queue().value() == 0; }));
  CHECK(client.bytes_not_sent().value() == 0);

  auto r = listener.bytes_not_sent();  // a listener has no send queue
  REQUIRE_FALSE(r);
  CHECK(r.error().message().starts_with("ioctl SIOCOUTQNSD: "));
}

TEST_CASE("wait_for_bytes returns only when all the bytes are queued", "[lib][tcp][wait]") {
  auto pair = tcp_pair();
  std::atomic<bool> returned{false};
  std::atomic<pid_t> waiter_tid{0};
  Result<int> got = 0;
  std::thread waiter([&] {
    waiter_tid = static_cast<pid_t>(::syscall(SYS_gettid));
    got = pair.server.wait_for_bytes(10, 30s);
    returned = true;
  });
  REQUIRE(wait_until([&] { return waiter_tid.load() != 0; }));

  REQUIRE(pair.client.send_all("part1"));
  REQUIRE(wait_until([&] { return pair.server.bytes_in_recv_queue().value() == 5; }));
  // With 5 of 10 bytes queued the waiter must still sleep in poll.
  REQUIRE(wait_until([&] { return socklab::test::sleeping_in(waiter_tid, socklab::test::poll_syscall); }));
  CHECK_FALSE(returned.load());

  REQUIRE(pair.client.send_all("part2"));
  waiter.join();
  REQUIRE(got.value() == 10);
  CHECK(pair.server.bytes_in_recv_queue().value() == 10);
  // The low-water mark is restored: a later recv is not held back.
  int lowat = 0;
  socklen_t len = sizeof lowat;
  REQUIRE(::getsockopt(pair.server.fd(), SOL_SOCKET, SO_RCVLOWAT, &lowat, &len) == 0);
  CHECK(lowat == 1);
}

TEST_CASE("wait_for_bytes: timeout, EOF, and impossible counts", "[lib][tcp][wait]") {
  auto pair = tcp_pair();
  REQUIRE(pair.client.send_all("abc"));
  auto t = pair.server.wait_for_bytes(4, 30ms);
  REQUIRE_FALSE(t);
  CHECK(t.error().code == errc::timed_out);
  CHECK(t.error().message() == "wait for 4 bytes: only 3 bytes queued after 30 ms");

  auto zero = pair.server.wait_for_bytes(0);
  REQUIRE_FALSE(zero);

  auto huge = pair.server.wait_for_bytes(1 << 30, 10s);
  REQUIRE_FALSE(huge);
  CHECK(huge.error().code == errc::not_supported);

  REQUIRE(pair.client.shutdown_write());
  CHECK(pair.server.wait_for_bytes(100, 10s).value() == 3);  // the peer closed: no more will come
}

TEST_CASE("wait_state reaches FIN_WAIT_2 and reports a timeout otherwise", "[lib][tcp][state]") {
  auto pair = tcp_pair();
  CHECK(pair.client.state().value() == TcpState::established);
  auto t = pair.client.wait_state(TcpState::time_wait, 20ms);
  REQUIRE_FALSE(t);
  CHECK(t.error().code == errc::timed_out);
  CHECK(t.error().message() == "wait for state TIME_WAIT: still ESTABLISHED after 20 ms");
  REQUIRE(pair.client.shutdown_write());
  REQUIRE(pair.client.wait_state(TcpState::fin_wait_2, 10s));
  REQUIRE(pair.server.wait_state(TcpState::close_wait, 10s));
}

TEST_CASE("connect options: bind to a local endpoint and TCP_NODELAY", "[lib][tcp]") {
  auto listener = TcpListener::bind(Endpoint::loopback_v4()).value();
  auto client = TcpStream::connect(listener.endpoint(),
                                   {.bind = Endpoint::parse("127.0.0.1:0").value(), .nodelay = true})
                    .value();
  int v = 0;
  socklen_t len = sizeof v;
  REQUIRE(::getsockopt(client.fd(), IPPROTO_TCP, TCP_NODELAY, &v, &len) == 0);
  CHECK(v == 1);
  CHECK(client.local_endpoint().value().address() == "127.0.0.1");
}

TEST_CASE("connect options: SO_REUSEADDR binds a port that our own TIME_WAIT holds", "[lib][tcp]") {
  auto first_server = TcpListener::bind(Endpoint::loopback_v4()).value();
  auto client = TcpStream::connect(first_server.endpoint(), {.bind = Endpoint::parse("127.0.0.1:0").value(), .reuse_addr = true})
                    .value();
  const Endpoint port_held = client.local_endpoint().value();
  auto served = std::move(first_server.accept(10s).value().stream);
  REQUIRE(client.shutdown_write());  // the client closes first: it ends in TIME_WAIT
  std::array<std::byte, 1> byte{};
  REQUIRE(served.recv_some(byte).value() == 0);
  served = TcpStream{};
  // The peer's FIN came: the kernel hands the connection to a TIME_WAIT entry of its
  // own (ss shows it), and the socket we still hold reads CLOSED.
  const auto waited = client.wait_state(TcpState::closed, 10s);
  INFO((waited ? std::string() : waited.error().message()));
  REQUIRE(waited);
  client = TcpStream{};

  auto second_server = TcpListener::bind(Endpoint::loopback_v4()).value();
  auto refused = TcpStream::connect(second_server.endpoint(), {.bind = port_held});
  REQUIRE_FALSE(refused);
  CHECK(refused.error().errno_value() == EADDRINUSE);
  auto again = TcpStream::connect(second_server.endpoint(), {.bind = port_held, .reuse_addr = true});
  INFO((again ? std::string() : again.error().message()));
  REQUIRE(again);
  CHECK(again->local_endpoint().value().port() == port_held.port());
}

TEST_CASE("bound() knows its port before connect_to(); the peer sees that port", "[lib][tcp]") {
  auto listener = TcpListener::bind(Endpoint::loopback_v4()).value();
  auto client = TcpStream::bound(Endpoint::loopback_v4(0)).value();
  const auto port = client.local_endpoint().value().port();
  CHECK(port != 0);  // picked at bind(), before any SYN
  CHECK(!client.peer_endpoint());
  REQUIRE(client.connect_to(listener.endpoint(), 2s));
  const auto accepted = listener.accept(2s).value();
  CHECK(accepted.peer.port() == port);
  CHECK(client.peer_endpoint().value() == listener.endpoint());
  REQUIRE(client.send_all("ok").value() == 2);  // blocking again after the timed connect
}
