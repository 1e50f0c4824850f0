// Test helpers for real loopback sockets, always on port 0 (the kernel picks a
// free port, so tests can run in parallel). They throw NetException on failure,
// which Catch2 reports with the error's message.
//
//   auto pair = socklab::test::tcp_pair();              // IPv4, 127.0.0.1
//   auto pair6 = socklab::test::tcp_pair(Endpoint::loopback_v6());
//   pair.client.send_all("hi");  pair.server.recv_exact(buf);
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include "socklab/net.hpp"

namespace socklab::test {

// A listener and one connection through it, accepted: client and server are
// both ESTABLISHED when this returns.
struct TcpPair {
  net::TcpListener listener;
  net::TcpStream client;
  net::TcpStream server;
};

inline TcpPair tcp_pair(const net::Endpoint& at = net::Endpoint::loopback_v4(),
                        net::ListenOptions listen = {}, net::ConnectOptions connect = {}) {
  TcpPair p;
  p.listener = net::value_or_throw(net::TcpListener::bind(at.with_port(0), listen));
  p.client = net::value_or_throw(net::TcpStream::connect(p.listener.endpoint(), connect));
  p.server = std::move(net::value_or_throw(p.listener.accept()).stream);
  return p;
}

// The bytes of a text, for send calls.
inline std::span<const std::byte> bytes_of(std::string_view text) {
  return std::as_bytes(std::span(text.data(), text.size()));
}

// The first n bytes of a buffer as text, for comparisons.
inline std::string text_of(std::span<const std::byte> data, std::size_t n) {
  const auto part = data.first(std::min(n, data.size()));
  return {reinterpret_cast<const char*>(part.data()), part.size()};
}

}  // namespace socklab::test
