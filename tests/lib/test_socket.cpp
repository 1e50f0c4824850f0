#include <catch2/catch.hpp>

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "net_helpers.hpp"

using namespace socklab::net;
using socklab::test::bytes_of;
using socklab::test::tcp_pair;

namespace {
int int_option(int fd, int level, int name) {
  int v = -1;
  socklen_t len = sizeof v;
  REQUIRE(::getsockopt(fd, level, name, &v, &len) == 0);
  return v;
}
}  // namespace

TEST_CASE("Error messages read 'context: reason'", "[lib][error]") {
  const Error refused = system_error(ECONNREFUSED, "connect 127.0.0.1:8080");
  CHECK(refused.message() == "connect 127.0.0.1:8080: " + std::string(std::strerror(ECONNREFUSED)));
  CHECK(refused.errno_value() == ECONNREFUSED);
  CHECK(refused.code == std::errc::connection_refused);  // portable condition compare

  const Error no_context = system_error(EPIPE, "");
  CHECK(no_context.message() == std::strerror(EPIPE));

  const Error timed = make_error(errc::timed_out, "accept 127.0.0.1:1");
  CHECK(timed.message() == "accept 127.0.0.1:1: timed out");
  CHECK(timed.errno_value() == 0);
  CHECK(timed.code.category().name() == std::string("socklab"));

  const Error detailed = make_error(errc::frame_too_large, "decode", "length 70000 > max 65536");
  CHECK(detailed.message() == "decode: length 70000 > max 65536");

  Result<int> bad = std::unexpected(detailed);
  try {
    (void)value_or_throw(std::move(bad));
    FAIL("value_or_throw did not throw");
  } catch (const std::system_error& e) {
    CHECK(std::string(e.what()) == "decode: length 70000 > max 65536");
    CHECK(e.code() == errc::frame_too_large);
  }
  CHECK(value_or_throw(Result<int>(7)) == 7);
  CHECK_NOTHROW(value_or_throw(Result<void>()));
}

TEST_CASE("errno_name gives the constant's name", "[lib][error]") {
  CHECK(errno_name(ECONNREFUSED) == "ECONNREFUSED");
  CHECK(errno_name(EADDRINUSE) == "EADDRINUSE");
  CHECK(errno_name(0).empty());                   // no error: nothing to name
  CHECK(errno_name(4242) == "errno 4242");        // a number glibc has no name for
  CHECK(errno_name(-1) == "errno -1");
}

TEST_CASE("Sockets are move-only owners of one descriptor", "[lib][socket]") {
  STATIC_REQUIRE_FALSE(std::is_copy_constructible_v<TcpStream>);
  STATIC_REQUIRE_FALSE(std::is_copy_assignable_v<Socket>);
  STATIC_REQUIRE(std::is_nothrow_move_constructible_v<TcpStream>);
  STATIC_REQUIRE(std::is_nothrow_move_assignable_v<UdpSocket>);
  STATIC_REQUIRE(std::is_nothrow_destructible_v<TcpListener>);

  auto pair = tcp_pair();
  const int fd = pair.client.fd();

  TcpStream moved(std::move(pair.client));
  CHECK(moved.fd() == fd);
  CHECK(moved);
  CHECK_FALSE(pair.client);  // NOLINT(bugprone-use-after-move): the moved-from state is specified
  CHECK(pair.client.fd() == -1);
  CHECK(moved.send_all("ok").value() == 2);

  std::array<std::byte, 2> buf{};
  CHECK(pair.server.recv_exact(buf).value() == 2);

  SECTION("move-assigning over a live socket closes it: the peer sees EOF") {
    auto other = tcp_pair();
    moved = std::move(other.client);
    CHECK(pair.server.recv_some(buf).value() == 0);
    CHECK(moved.send_all("x").value() == 1);
    CHECK(other.server.recv_exact(std::span(buf).first(1)).value() == 1);
  }
  SECTION("release gives up ownership") {
    const int raw = moved.release();
    CHECK(raw == fd);
    CHECK_FALSE(moved);
    CHECK(::fcntl(raw, F_GETFD) >= 0);  // still open: the destructor did not close it
    ::close(raw);
    CHECK(pair.server.recv_some(buf).value() == 0);
  }
  SECTION("close() twice is harmless, and the destructor then does nothing") {
    CHECK(moved.close().has_value());
    CHECK_FALSE(moved);
    CHECK(moved.close().has_value());
    CHECK(pair.server.recv_some(buf).value() == 0);
  }
}

TEST_CASE("Socket options reach the kernel", "[lib][socket][options]") {
  auto pair = tcp_pair();
  auto& c = pair.client;

  REQUIRE(c.set_nodelay(true));
  CHECK(int_option(c.fd(), IPPROTO_TCP, TCP_NODELAY) == 1);
  REQUIRE(c.set_nodelay(false));
  CHECK(int_option(c.fd(), IPPROTO_TCP, TCP_NODELAY) == 0);

  REQUIRE(c.set_cork(true));
  CHECK(int_option(c.fd(), IPPROTO_TCP, TCP_CORK) == 1);
  REQUIRE(c.set_cork(false));

  // Quick-ACK mode: off means delayed ACKs (the kernel reports the mode it is in now).
  REQUIRE(c.set_quickack(false));
  CHECK(int_option(c.fd(), IPPROTO_TCP, TCP_QUICKACK) == 0);
  REQUIRE(c.set_quickack(true));
  CHECK(int_option(c.fd(), IPPROTO_TCP, TCP_QUICKACK) == 1);

  REQUIRE(c.set_reuse_addr(true));
  CHECK(int_option(c.fd(), SOL_SOCKET, SO_REUSEADDR) == 1);
  REQUIRE(c.set_reuse_port(true));
  CHECK(int_option(c.fd(), SOL_SOCKET, SO_REUSEPORT) == 1);

  REQUIRE(c.set_recv_buffer(8192));
  CHECK(c.recv_buffer().value() == 2 * 8192);  // Linux doubles it for bookkeeping
  REQUIRE(c.set_send_buffer(8192));
  CHECK(c.send_buffer().value() == 2 * 8192);

  REQUIRE(c.set_linger(std::chrono::seconds(0)));
  ::linger l{};
  socklen_t len = sizeof l;
  REQUIRE(::getsockopt(c.fd(), SOL_SOCKET, SO_LINGER, &l, &len) == 0);
  CHECK(l.l_onoff == 1);
  CHECK(l.l_linger == 0);
  REQUIRE(c.set_linger(std::nullopt));
  REQUIRE(::getsockopt(c.fd(), SOL_SOCKET, SO_LINGER, &l, &len) == 0);
  CHECK(l.l_onoff == 0);

  REQUIRE(c.set_ttl(1));
  CHECK(int_option(c.fd(), IPPROTO_IP, IP_TTL) == 1);
  CHECK(c.ttl().value() == 1);
  REQUIRE(c.set_ttl(200));
  CHECK(c.ttl().value() == 200);
  // Out of range: the kernel refuses (0 and 256), the error names the option.
  auto zero = c.set_ttl(0);
  REQUIRE_FALSE(zero);
  CHECK(zero.error().errno_value() == EINVAL);
  CHECK(zero.error().message().starts_with("setsockopt IP_TTL=0: "));
  CHECK_FALSE(c.set_ttl(256));
  CHECK(c.ttl().value() == 200);

  REQUIRE(c.set_nonblocking(true));
  CHECK((::fcntl(c.fd(), F_GETFL) & O_NONBLOCK) != 0);
  REQUIRE(c.set_nonblocking(false));
  CHECK((::fcntl(c.fd(), F_GETFL) & O_NONBLOCK) == 0);

  CHECK(c.pending_error().value() == 0);
  CHECK(c.drops().value() == 0);
  CHECK(c.local_endpoint().value() == pair.server.peer_endpoint().value());
  CHECK(c.peer_endpoint().value() == pair.listener.endpoint());
}

TEST_CASE("Failed option calls name the option", "[lib][socket][errors]") {
  TcpStream empty;
  auto r = empty.set_nodelay(true);
  REQUIRE_FALSE(r);
  CHECK(r.error().errno_value() == EBADF);
  CHECK(r.error().message().starts_with("setsockopt TCP_NODELAY=1: "));

  auto q = empty.bytes_in_recv_queue();
  REQUIRE_FALSE(q);
  CHECK(q.error().message().starts_with("ioctl SIOCINQ: "));
}

TEST_CASE("wait_readable times out with errc::timed_out, and wakes on data", "[lib][socket]") {
  auto pair = tcp_pair();
  auto r = pair.server.wait_readable(std::chrono::milliseconds(20));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::timed_out);
  CHECK(pair.client.wait_writable(std::chrono::milliseconds(0)).has_value());
  REQUIRE(pair.client.send_all(bytes_of("z")));
  CHECK(pair.server.wait_readable(std::chrono::seconds(10)).has_value());
}
