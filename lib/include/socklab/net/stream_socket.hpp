// StreamSocket: the byte-stream calls (send, recv, shutdown) that a TCP and an
// AF_UNIX stream share, written once; TcpStream and UnixStream derive from it.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

#include "socklab/net/socket.hpp"

namespace socklab::net {

class StreamSocket : public Socket {
 public:
  StreamSocket() noexcept = default;
  explicit StreamSocket(int fd, Trace trace = {}) noexcept : Socket(fd, trace) {}

  // One send(); returns bytes accepted by the kernel (may be fewer than asked).
  Result<std::size_t> send_some(std::span<const std::byte> data, int flags = 0);
  // Loops until every byte is handed to the kernel; retries EINTR. MSG_NOSIGNAL:
  // a closed peer gives EPIPE, never SIGPIPE.
  Result<std::size_t> send_all(std::span<const std::byte> data);
  Result<std::size_t> send_all(std::string_view text);
  // One recv(); 0 means the peer closed (EOF) — or that buf is empty. Retries EINTR.
  Result<std::size_t> recv_some(std::span<std::byte> buf, int flags = 0);
  // Loops over short reads until buf is full. Returns buf.size(), or fewer
  // bytes if the peer closed first (EOF is a short count, not an error).
  Result<std::size_t> recv_exact(std::span<std::byte> buf);

  Result<void> shutdown_write();                     // shutdown(SHUT_WR): TCP sends FIN
  Result<void> shutdown(int how);                    // SHUT_RD, SHUT_WR, SHUT_RDWR
};

}  // namespace socklab::net
