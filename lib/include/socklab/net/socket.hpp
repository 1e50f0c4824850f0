// Socket: one owning file descriptor, the base of the TCP and UDP classes.
//
// Copy is deleted; a move leaves the source empty (fd -1). The destructor
// closes and never throws; close() is never retried on EINTR (on Linux the
// descriptor is gone either way, and a retry could close another thread's fd).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "socklab/net/call_recorder.hpp"
#include "socklab/net/endpoint.hpp"
#include "socklab/net/error.hpp"

namespace socklab::net {

class TcpListener;

class Socket {
 public:
  Socket() noexcept = default;
  explicit Socket(int fd, Trace trace = {}) noexcept : fd_(fd), trace_(trace) {}
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  Socket(Socket&& other) noexcept;
  Socket& operator=(Socket&& other) noexcept;
  ~Socket();

  [[nodiscard]] int fd() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }
  // Gives up ownership: the caller closes the returned descriptor.
  int release() noexcept;
  // Closes now (recorded as a "close" call event). Closing an empty socket is a no-op.
  Result<void> close();

  [[nodiscard]] Result<Endpoint> local_endpoint() const;
  [[nodiscard]] Result<Endpoint> peer_endpoint() const;

  // Socket options the lessons use; each setter is recorded as a "setsockopt" event.
  Result<void> set_reuse_addr(bool on);                     // SO_REUSEADDR
  Result<void> set_reuse_port(bool on);                     // SO_REUSEPORT
  Result<void> set_recv_buffer(int bytes);                  // SO_RCVBUF (kernel doubles it)
  Result<void> set_send_buffer(int bytes);                  // SO_SNDBUF (kernel doubles it)
  [[nodiscard]] Result<int> recv_buffer() const;            // SO_RCVBUF as the kernel reports it
  [[nodiscard]] Result<int> send_buffer() const;            // SO_SNDBUF as the kernel reports it
  // SO_LINGER: nullopt turns lingering off (the default); zero seconds makes
  // close() abortive (an RST instead of a FIN on TCP).
  Result<void> set_linger(std::optional<std::chrono::seconds> linger);
  Result<void> set_nonblocking(bool on);
  // IP_TTL (IPv4): the Time To Live of the packets this socket sends, 1 to 255; each
  // router takes one off and drops the packet at 0 (answering ICMP time exceeded).
  Result<void> set_ttl(int hops);
  [[nodiscard]] Result<int> ttl() const;                    // IP_TTL as the kernel reports it
  // SO_ERROR: the pending error (0 if none), cleared by reading it.
  [[nodiscard]] Result<int> pending_error() const;
  // SO_MEMINFO's drop counter: packets the kernel dropped for this socket
  // (for UDP, datagrams lost to a full receive buffer).
  [[nodiscard]] Result<std::uint32_t> drops() const;
  // Bytes waiting to be read (SIOCINQ; for UDP, the size of the next datagram).
  [[nodiscard]] Result<int> bytes_in_recv_queue() const;
  // Bytes not yet acknowledged by the peer (TCP) or not yet sent (UDP) (SIOCOUTQ).
  [[nodiscard]] Result<int> bytes_in_send_queue() const;
  // TCP: bytes of the send queue not yet sent at all (SIOCOUTQNSD), held back by
  // Nagle, TCP_CORK or the peer's window; bytes_in_send_queue() minus this is
  // in flight (sent, not yet acknowledged).
  [[nodiscard]] Result<int> bytes_not_sent() const;

  // Waits until the socket is readable / writable (poll), or the timeout passes
  // (errc::timed_out). No timeout waits forever.
  Result<void> wait_readable(std::optional<std::chrono::milliseconds> timeout = {}) const;
  Result<void> wait_writable(std::optional<std::chrono::milliseconds> timeout = {}) const;

  // bind(), recorded as "bind"; EADDRINUSE and friends name the endpoint.
  Result<void> bind_to(const Endpoint& at);

  void set_trace(Trace t) noexcept { trace_ = t; }
  [[nodiscard]] const Trace& trace() const noexcept { return trace_; }

 protected:
  // Appends one CallEvent for a call that started at t0, with the socket's
  // local and peer endpoints when the kernel knows them. No-op when untraced.
  void record_call(std::int64_t t0, std::string_view call, std::string args,
                   std::int64_t result, int err, std::string preview = {}) const;
  // setsockopt() recorded as "setsockopt" with "NAME=value" as args
  // ("TCP_NODELAY=1"; "SO_LINGER=off" when shown_value is nullopt).
  Result<void> set_option(int level, int name, const void* value, socklen_t len,
                          std::string_view option_name, std::optional<long long> shown_value);
  Result<int> get_int_option(int level, int name, std::string_view shown) const;
  // A listener's wait before accept(): none without a timeout; else until a
  // connection is queued, or errc::timed_out "no connection within N ms" under `context`.
  Result<void> wait_for_connection(std::optional<std::chrono::milliseconds> timeout, const std::string& context) const;
  // bind() to any kernel address, recorded and named in errors as `shown`.
  Result<void> bind_address(const sockaddr* at, socklen_t len, const std::string& shown);
  // An Error for a failed call, naming the peer (or the local end) when known:
  // "send 127.0.0.1:8080: Broken pipe".
  [[nodiscard]] Error call_error(std::string_view call, int err) const;

  int fd_ = -1;
  Trace trace_;
  // The last peer a recorded call saw: a reset socket has none any more, yet its
  // calls still belong to that connection (the timeline labels them by it).
  mutable std::string last_peer_;
  friend class TcpListener;  // accept() knows an accepted socket's peer first
};

namespace detail {
// socket(family, type | SOCK_CLOEXEC), recorded as a "socket" call event.
Result<int> open_socket(int family, int type, const Trace& trace);
}  // namespace detail

}  // namespace socklab::net
