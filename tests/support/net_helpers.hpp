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

#include <sys/socket.h>
#include <cerrno>

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

// A loopback TCP port bound but not listening: no other program can take it while
// the socket lives, and the kernel answers a SYN there with RST (ECONNREFUSED), as
// for a server that stopped.
struct RefusingPort {
  net::Socket socket;
  std::string port;  // as a command line gives it
};

inline RefusingPort refusing_port() {
  RefusingPort r{net::Socket(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)), {}};
  if (r.socket.fd() < 0) throw net::NetException(net::system_error(errno, "socket"));
  net::value_or_throw(r.socket.bind_to(net::Endpoint::loopback_v4()));
  r.port = std::to_string(net::value_or_throw(r.socket.local_endpoint()).port());
  return r;
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
