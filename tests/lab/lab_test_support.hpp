// Shared by the lab tests: a UDP request and its echo between two lab hosts.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <future>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

#include "net_helpers.hpp"
#include "socklab/lab/lab.hpp"
#include "socklab/net/endpoint.hpp"
#include "socklab/net/udp.hpp"

namespace socklab::test {

using namespace std::chrono_literals;
using namespace socklab::lab;
using socklab::net::Endpoint;
using socklab::net::UdpSocket;
using socklab::net::value_or_throw;

// Catch's assertions are not thread-safe: the participants throw, join() rethrows here.
// One UDP request and its echo: `server` on `on` answers one datagram; `client` sends
// "ping" to `to` and waits for "pong" (a condition: the answer, 5 s at most).
inline std::uint16_t ping(Lab& lab, const Node& client, const Node& server, const std::string& to, socklab::net::CallRecorder* rec) {
  std::atomic<std::uint16_t> port{0};
  std::promise<void> bound;
  auto server_thread = lab.run_on(server, [&](Participant& p) {
    auto s = value_or_throw(UdpSocket::bind(Endpoint::any_v4(0), {.trace = p.trace}));
    port = value_or_throw(s.local_endpoint()).port();
    bound.set_value();
    std::array<std::byte, 64> buf{};
    auto d = value_or_throw(s.recv_from(buf, 5000ms));
    if (std::string_view(reinterpret_cast<const char*>(buf.data()), d.size) != "ping") throw std::runtime_error("not ping");
    value_or_throw(s.send_to(bytes_of("pong"), d.from));
  }, rec);
  bound.get_future().wait();
  auto client_thread = lab.run_on(client, [&](Participant& p) {
    auto s = value_or_throw(UdpSocket::open(AF_INET, {.trace = p.trace}));
    value_or_throw(s.send_to(bytes_of("ping"), value_or_throw(Endpoint::from_host_port(to, port))));
    std::array<std::byte, 64> buf{};
    auto d = value_or_throw(s.recv_from(buf, 5000ms));
    if (std::string_view(reinterpret_cast<const char*>(buf.data()), d.size) != "pong") throw std::runtime_error("not pong");
  }, rec);
  client_thread.join();
  server_thread.join();
  return port;
}

}  // namespace socklab::test
