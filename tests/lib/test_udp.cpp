#include <catch2/catch.hpp>

#include <array>
#include <vector>

#include "lib_test_util.hpp"
#include "net_helpers.hpp"

using namespace socklab::net;
using namespace std::chrono_literals;
using socklab::test::bytes_of;
using socklab::test::text_of;

TEST_CASE("UDP sendto/recvfrom keep boundaries and report the sender", "[lib][udp]") {
  const Endpoint at = GENERATE(Endpoint::loopback_v4(), Endpoint::loopback_v6());
  auto receiver = UdpSocket::bind(at).value();
  auto sender = UdpSocket::bind(at).value();
  const Endpoint to = receiver.local_endpoint().value();
  CHECK(to.port() != 0);

  REQUIRE(sender.send_to(bytes_of("one"), to).value() == 3);
  REQUIRE(sender.send_to(bytes_of("two!"), to).value() == 4);
  std::array<std::byte, 64> buf{};
  auto first = receiver.recv_from(buf, 10s).value();
  CHECK(first.size == 3);  // one datagram per call: the boundaries are kept
  CHECK(text_of(buf, first.size) == "one");
  CHECK(first.from == sender.local_endpoint().value());
  auto second = receiver.recv_from(buf, 10s).value();
  CHECK(text_of(buf, second.size) == "two!");
  CHECK_FALSE(second.truncated);
}

TEST_CASE("UDP: a datagram larger than the buffer is truncated; MSG_TRUNC tells its size",
          "[lib][udp][truncation]") {
  auto receiver = UdpSocket::bind(Endpoint::loopback_v4()).value();
  auto sender = UdpSocket::open(AF_INET).value();
  std::vector<std::byte> big(100, std::byte{'x'});
  REQUIRE(sender.send_to(big, receiver.local_endpoint().value()).value() == 100);
  std::array<std::byte, 10> small{};
  auto d = receiver.recv_from(small, 10s).value();
  CHECK(d.size == 10);
  CHECK(d.full_size == 100);
  CHECK(d.truncated);
  // The other 90 bytes are gone: nothing is left to read.
  CHECK(receiver.bytes_in_recv_queue().value() == 0);
}

TEST_CASE("UDP: a full receive buffer drops datagrams, and SO_MEMINFO counts them",
          "[lib][udp][drops]") {
  auto receiver = UdpSocket::bind(Endpoint::loopback_v4(), {.recv_buffer = 4096}).value();
  auto sender = UdpSocket::open(AF_INET).value();
  const Endpoint to = receiver.local_endpoint().value();
  constexpr std::uint32_t sent = 200;
  std::vector<std::byte> payload(1000, std::byte{'d'});
  for (std::uint32_t i = 0; i < sent; ++i) REQUIRE(sender.send_to(payload, to).value() == 1000);

  // Drain what was kept, until every datagram is accounted for (delivery on
  // loopback can finish after sendto returns).
  std::uint32_t received = 0;
  std::array<std::byte, 2048> buf{};
  const bool all_counted = socklab::test::wait_until([&] {
    while (receiver.recv_from(buf, 0ms)) ++received;
    return received + receiver.drops().value() == sent;
  });
  INFO("received " << received << ", dropped " << receiver.drops().value());
  CHECK(all_counted);
  CHECK(receiver.drops().value() > 0);
  CHECK(received > 0);
}

TEST_CASE("Connected UDP to a closed port: ECONNREFUSED on the next call", "[lib][udp][errors]") {
  // Learn a free port, then free it: the ICMP port unreachable comes from the kernel.
  Endpoint dead;
  {
    auto probe = UdpSocket::bind(Endpoint::loopback_v4()).value();
    dead = probe.local_endpoint().value();
  }
  auto client = UdpSocket::open(AF_INET).value();
  REQUIRE(client.connect(dead));
  REQUIRE(client.send(bytes_of("anyone?")).value() == 7);  // the send itself succeeds
  std::array<std::byte, 16> buf{};
  auto r = client.recv(buf, 10s);
  REQUIRE_FALSE(r);
  CHECK(r.error().errno_value() == ECONNREFUSED);
}

TEST_CASE("UDP recv with a timeout and nothing sent gives errc::timed_out", "[lib][udp]") {
  auto s = UdpSocket::bind(Endpoint::loopback_v6()).value();
  std::array<std::byte, 16> buf{};
  auto r = s.recv_from(buf, 10ms);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::timed_out);
}

TEST_CASE("Connected UDP sockets talk with send/recv", "[lib][udp]") {
  auto a = UdpSocket::bind(Endpoint::loopback_v4()).value();
  auto b = UdpSocket::bind(Endpoint::loopback_v4()).value();
  REQUIRE(a.connect(b.local_endpoint().value()));
  REQUIRE(b.connect(a.local_endpoint().value()));
  REQUIRE(a.send(bytes_of("ping")).value() == 4);
  std::array<std::byte, 16> buf{};
  auto got = b.recv(buf, 10s).value();
  CHECK(text_of(buf, got.size) == "ping");
  CHECK(got.from == a.local_endpoint().value());
}

TEST_CASE("UDP bind to a port in use gives EADDRINUSE naming the endpoint", "[lib][udp][errors]") {
  auto a = UdpSocket::bind(Endpoint::loopback_v4()).value();
  auto b = UdpSocket::bind(a.local_endpoint().value());
  REQUIRE_FALSE(b);
  CHECK(b.error().errno_value() == EADDRINUSE);
  CHECK(b.error().context == "bind " + a.local_endpoint().value().to_string());
}
