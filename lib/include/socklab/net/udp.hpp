// UDP: datagrams with boundaries, and no connection.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <span>

#include "socklab/net/socket.hpp"

namespace socklab::net {

struct UdpOptions {
  std::optional<int> recv_buffer{};  // SO_RCVBUF before bind
  bool reuse_addr = false;
  Trace trace{};
};

class UdpSocket : public Socket {
 public:
  UdpSocket() noexcept = default;

  // An unbound socket of the family (AF_INET / AF_INET6); the kernel picks a port on first send.
  static Result<UdpSocket> open(int family, const UdpOptions& opts = {});
  static Result<UdpSocket> bind(const Endpoint& at, const UdpOptions& opts = {});
  // Another descriptor of this socket (dup), with a trace of its own: the same
  // port, receive queue and buffer. For threads that take turns on one socket
  // and record their calls apart.
  [[nodiscard]] Result<UdpSocket> share(Trace trace) const;

  // connect(): fixes the peer; send()/recv() then apply, and ICMP errors
  // (port unreachable) are reported on the next call as ECONNREFUSED.
  Result<void> connect(const Endpoint& peer);

  Result<std::size_t> send_to(std::span<const std::byte> data, const Endpoint& to);
  Result<std::size_t> send(std::span<const std::byte> data);

  struct Datagram {
    std::size_t size = 0;        // bytes copied into the buffer
    std::size_t full_size = 0;   // the datagram's real size (MSG_TRUNC)
    bool truncated = false;      // full_size > buffer: the rest is lost
    Endpoint from{};
  };
  Result<Datagram> recv_from(std::span<std::byte> buf,
                             std::optional<std::chrono::milliseconds> timeout = {});
  // On a connected socket: the same as recv_from, recorded as "recv".
  Result<Datagram> recv(std::span<std::byte> buf,
                        std::optional<std::chrono::milliseconds> timeout = {});

 private:
  Result<Datagram> receive(std::span<std::byte> buf,
                           std::optional<std::chrono::milliseconds> timeout, const char* call);
};

}  // namespace socklab::net
