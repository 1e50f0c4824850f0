#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <new>
#include <vector>

#include "net_helpers.hpp"

using namespace socklab::net;
using namespace std::chrono_literals;
using socklab::test::bytes_of;

namespace {
std::vector<CallEvent> of_side(const std::vector<CallEvent>& all, Side side) {
  std::vector<CallEvent> out;
  std::copy_if(all.begin(), all.end(), std::back_inserter(out),
               [&](const CallEvent& e) { return e.side == side; });
  return out;
}
std::vector<std::string> calls(const std::vector<CallEvent>& evs) {
  std::vector<std::string> out;
  for (const auto& e : evs) out.push_back(e.call);
  return out;
}
}  // namespace

TEST_CASE("preview_bytes escapes and cuts", "[lib][recorder]") {
  CHECK(preview_bytes(bytes_of("hello")) == "hello");
  CHECK(preview_bytes(bytes_of("a\nb\r\t\\")) == "a\\nb\\r\\t\\\\");
  const std::array<std::byte, 3> bin{std::byte{0}, std::byte{0x7f}, std::byte{0xff}};
  CHECK(preview_bytes(bin) == "\\x00\\x7f\\xff");
  CHECK(preview_bytes(bytes_of("0123456789"), 4) == "0123…");
  CHECK(preview_bytes(bytes_of("ab\ncd"), 3) == "ab…");  // never half an escape
  CHECK(preview_bytes(bytes_of(""), 4).empty());
}

TEST_CASE("CallRecorder records every socket call of a traced TCP conversation",
          "[lib][recorder]") {
  CallRecorder rec;
  const std::int64_t before = realtime_ns();
  Endpoint server_at;
  Endpoint client_at;
  {
    auto listener =
        TcpListener::bind(Endpoint::loopback_v4(), {.backlog = 4, .trace = {&rec, Side::server}}).value();
    server_at = listener.endpoint();
    auto client = TcpStream::connect(server_at, {.nodelay = true, .trace = {&rec, Side::client}}).value();
    client_at = client.local_endpoint().value();
    auto server = std::move(listener.accept(10s).value().stream);
    REQUIRE(client.send_all("hello\n").value() == 6);
    std::array<std::byte, 16> buf{};
    REQUIRE(server.recv_exact(std::span(buf).first(6)).value() == 6);
    REQUIRE(client.set_linger(0s));
    REQUIRE(client.shutdown_write());
    REQUIRE(server.recv_some(buf).value() == 0);
    // Leaving the scope closes server, client and listener (destructor closes).
  }
  const std::int64_t after = realtime_ns();
  const auto all = rec.snapshot();

  const auto client = of_side(all, Side::client);
  CHECK(calls(client) ==
        std::vector<std::string>{"socket", "setsockopt", "connect", "send", "setsockopt", "shutdown", "close"});
  CHECK(client[0].args == "SOCK_STREAM AF_INET");
  CHECK(client[1].args == "TCP_NODELAY=1");
  CHECK(client[2].args == server_at.to_string());
  CHECK(client[2].result == 0);
  CHECK(client[2].local == client_at.to_string());
  CHECK(client[2].peer == server_at.to_string());
  CHECK(client[3].args == "6");
  CHECK(client[3].result == 6);
  CHECK(client[3].preview == "hello\\n");
  CHECK(client[4].args == "SO_LINGER=0");
  CHECK(client[5].args == "SHUT_WR");
  CHECK(client[6].local == client_at.to_string());  // read before the descriptor went away

  const auto server = of_side(all, Side::server);
  CHECK(calls(server) ==
        std::vector<std::string>{"socket", "bind", "listen", "accept", "recv", "recv", "close", "close"});
  CHECK(server[1].args == "127.0.0.1:0");
  CHECK(server[2].args == "4");
  CHECK(server[3].peer == client_at.to_string());
  CHECK(server[3].local == server_at.to_string());
  CHECK(server[3].result > 0);  // the new descriptor
  CHECK(server[4].result == 6);
  CHECK(server[4].preview == "hello\\n");
  CHECK(server[5].result == 0);  // EOF
  CHECK(server[6].peer == client_at.to_string());  // the accepted stream closes first

  for (const auto& e : all) {
    CHECK(e.t_ns >= before);
    CHECK(e.t_ns + e.dur_ns <= after);
    CHECK(e.dur_ns >= 0);
    CHECK(e.err == 0);
  }
  // Per thread, events are in start-time order.
  CHECK(std::is_sorted(all.begin(), all.end(),
                       [](const CallEvent& a, const CallEvent& b) { return a.t_ns < b.t_ns; }));
}

TEST_CASE("CallRecorder records failures with errno", "[lib][recorder]") {
  CallRecorder rec;
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  Socket holder(fd);
  const Endpoint lo = Endpoint::loopback_v4();
  REQUIRE(::bind(fd, lo.data(), lo.size()) == 0);
  const Endpoint target = holder.local_endpoint().value();

  REQUIRE_FALSE(TcpStream::connect(target, {.trace = {&rec, Side::client}}));
  const auto evs = rec.snapshot();
  REQUIRE(calls(evs) == std::vector<std::string>{"socket", "connect", "close"});
  CHECK(evs[1].result == -1);
  CHECK(evs[1].err == ECONNREFUSED);
}

TEST_CASE("TCP_QUICKACK is recorded like the other options; queue sizes are queries, not calls",
          "[lib][recorder]") {
  CallRecorder rec;
  auto pair = socklab::test::tcp_pair(Endpoint::loopback_v4(), {}, {.trace = {&rec, Side::client}});
  rec.clear();
  REQUIRE(pair.client.set_quickack(false));
  REQUIRE(pair.client.set_quickack(true));
  CHECK(pair.client.bytes_not_sent().value() == 0);
  CHECK(pair.client.bytes_in_send_queue().value() == 0);
  const auto evs = rec.snapshot();
  REQUIRE(calls(evs) == std::vector<std::string>{"setsockopt", "setsockopt"});
  CHECK(evs[0].args == "TCP_QUICKACK=0");
  CHECK(evs[1].args == "TCP_QUICKACK=1");
  CHECK(evs[0].side == Side::client);
  CHECK(evs[0].local == pair.client.local_endpoint().value().to_string());
  CHECK(evs[0].peer == pair.listener.endpoint().to_string());
}

TEST_CASE("UDP calls are recorded with sizes, addresses and truncation", "[lib][recorder][udp]") {
  CallRecorder rec;
  auto receiver = UdpSocket::bind(Endpoint::loopback_v4(), {.trace = {&rec, Side::server}}).value();
  auto sender = UdpSocket::open(AF_INET, {.trace = {&rec, Side::client}}).value();
  const Endpoint to = receiver.local_endpoint().value();
  REQUIRE(sender.send_to(bytes_of("datagram"), to));
  std::array<std::byte, 4> small{};
  REQUIRE(receiver.recv_from(small, 10s));
  const auto evs = rec.snapshot();
  const auto c = of_side(evs, Side::client);
  const auto s = of_side(evs, Side::server);
  REQUIRE(calls(c) == std::vector<std::string>{"socket", "sendto"});
  CHECK(c[1].args == "8 " + to.to_string());
  CHECK(c[1].preview == "datagram");
  REQUIRE(calls(s) == std::vector<std::string>{"socket", "bind", "recvfrom"});
  CHECK(s[2].result == 8);  // the real size, thanks to MSG_TRUNC
  // The sender is unbound (0.0.0.0:port); the receiver sees the address it came from.
  const auto from = Endpoint::loopback_v4(sender.local_endpoint().value().port());
  CHECK(s[2].args == "4 " + from.to_string() + " MSG_TRUNC");  // the sender, as sendto() has its address
  CHECK(s[2].preview == "data");
}

TEST_CASE("A named participant is recorded on every call, TCP accept included", "[lib][recorder]") {
  CallRecorder rec;
  auto listener = TcpListener::bind(Endpoint::loopback_v4(), {.trace = {&rec, Side::server, "B"}}).value();
  auto client = TcpStream::connect(listener.local_endpoint().value(), {.trace = {&rec, Side::client, "A"}}).value();
  auto served = listener.accept().value();
  REQUIRE(client.send_all(bytes_of("hi")));
  std::array<std::byte, 2> buf{};
  REQUIRE(served.stream.recv_exact(buf));
  const auto evs = rec.snapshot();
  REQUIRE(std::ranges::any_of(evs, [](const CallEvent& e) { return e.call == "accept"; }));
  for (const auto& e : evs) {
    INFO(e.call);
    CHECK(e.participant == (e.side == Side::client ? "A" : "B"));
  }
}

TEST_CASE("Nothing is recorded when the trace is off", "[lib][recorder]") {
  CallRecorder rec;
  const Trace off{};
  CHECK_FALSE(off);
  CHECK(off.start() == 0);  // no clock read
  off.finish(0, CallEvent{});  // no recorder: a no-op

  // A traced listener whose client is untraced: only the server side appears,
  // and the untraced client adds nothing.
  auto pair = socklab::test::tcp_pair(Endpoint::loopback_v4(), {.trace = {&rec, Side::server}}, {});
  rec.clear();
  REQUIRE(pair.client.send_all("x"));
  REQUIRE(pair.client.close());
  CHECK(rec.snapshot().empty());

  pair.server.set_trace({});
  std::array<std::byte, 1> b{};
  REQUIRE(pair.server.recv_some(b));
  CHECK(rec.snapshot().empty());
}

// Counts heap allocations made by this thread while `counting` is set: the
// proof that an untraced socket builds no strings.
namespace {
thread_local bool counting = false;
thread_local long allocations = 0;
}  // namespace

// Every non-aligned form is replaced, so new and delete always pair (sanitizers check).
namespace {
void* counted_malloc(std::size_t n) noexcept {
  if (counting) ++allocations;
  return std::malloc(n == 0 ? 1 : n);
}
}  // namespace
void* operator new(std::size_t n) {
  if (void* p = counted_malloc(n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  if (void* p = counted_malloc(n)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return counted_malloc(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return counted_malloc(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

TEST_CASE("Untraced I/O allocates nothing; traced I/O does", "[lib][recorder][cost]") {
  auto run = [](socklab::test::TcpPair& pair) {
    std::array<std::byte, 8> buf{};
    counting = true;
    allocations = 0;
    (void)pair.client.send_all(bytes_of("abc"));
    (void)pair.server.recv_exact(std::span(buf).first(3));
    (void)pair.client.set_nodelay(true);
    (void)pair.client.wait_writable(std::chrono::milliseconds(0));
    counting = false;
    return allocations;
  };
  auto plain = socklab::test::tcp_pair();
  CHECK(run(plain) == 0);

  CallRecorder rec;
  auto traced = socklab::test::tcp_pair(Endpoint::loopback_v4(), {.trace = {&rec, Side::server}},
                                        {.trace = {&rec, Side::client}});
  CHECK(run(traced) > 0);  // the counter works: recording does allocate
}
