// TCP: TcpListener (bind, listen, accept) and TcpStream (connect, send, recv).
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>

#include "socklab/net/socket.hpp"
#include "socklab/net/stream_socket.hpp"
#include "socklab/net/tcp_state.hpp"

namespace socklab::net {

struct ConnectOptions {
  // connect() gives up after this long with errc::timed_out; none: the kernel's
  // own limit (SYN retries, about two minutes).
  std::optional<std::chrono::milliseconds> timeout{};
  std::optional<Endpoint> bind{}; // local address/port to bind before connecting
  bool reuse_addr = false;        // SO_REUSEADDR before that bind (a port of one's own TIME_WAIT)
  bool nodelay = false;           // TCP_NODELAY before the first byte
  Trace trace{};
};

class TcpStream : public StreamSocket {
 public:
  TcpStream() noexcept = default;
  explicit TcpStream(int fd, Trace trace = {}) noexcept : StreamSocket(fd, trace) {}

  // Blocking connect (with the optional timeout).
  static Result<TcpStream> connect(const Endpoint& to, const ConnectOptions& opts = {});
  // socket() + bind() now, connect() later (connect_to): the local port is known
  // before the SYN goes out, so a peer can be told it first (port 0: the kernel
  // picks one at bind()). The demos' class servers tell a student's second
  // connection from a classmate's by the port announced this way.
  static Result<TcpStream> bound(const Endpoint& local, const Trace& trace = {});
  // Connects a socket made by bound(), blocking (with the optional timeout).
  Result<void> connect_to(const Endpoint& to, std::optional<std::chrono::milliseconds> timeout = {});
  // Starts a connect and returns at once (a non-blocking connect that is in
  // progress counts as success): the SYN is on its way. finish_connect() waits
  // for the outcome. Used where many clients connect at once (the backlog lesson).
  // The socket stays non-blocking until finish_connect() succeeds.
  static Result<TcpStream> connect_start(const Endpoint& to, const ConnectOptions& opts = {});
  Result<void> finish_connect(std::optional<std::chrono::milliseconds> timeout = {});

  Result<void> set_nodelay(bool on);                 // TCP_NODELAY (Nagle off)
  Result<void> set_cork(bool on);                    // TCP_CORK
  Result<void> set_recv_lowat(int bytes);            // SO_RCVLOWAT
  // TCP_QUICKACK: on, acknowledge each segment at once; off, delay ACKs (about
  // 40 ms, or until data goes back). Not a lasting setting: Linux switches
  // quick-ACK mode on and off by itself as traffic flows, so set it right
  // before the segments it is meant for.
  Result<void> set_quickack(bool on);

  // Blocks until at least `bytes` sit in the receive queue, or the peer
  // closed, or the timeout passes (errc::timed_out). It waits on the kernel
  // (SO_RCVLOWAT and poll), never on a sleep. Returns the bytes queued.
  Result<int> wait_for_bytes(int bytes, std::optional<std::chrono::milliseconds> timeout = {});

  [[nodiscard]] Result<TcpInfo> info() const { return tcp_info(fd_); }
  [[nodiscard]] Result<TcpState> state() const;
  // Waits until the socket reaches `s` or the timeout passes (errc::timed_out).
  // The kernel has no notification for state changes, so this re-reads TCP_INFO
  // at a short interval: it waits for the condition itself, not a guessed time.
  Result<void> wait_state(TcpState s, std::chrono::milliseconds timeout);

 private:
  Endpoint connecting_to_;   // the target of connect_start(), for finish_connect's messages
};

struct ListenOptions {
  int backlog = 128;              // listen(backlog); Linux caps it at net.core.somaxconn
  bool reuse_addr = false;        // SO_REUSEADDR before bind (off by default, as in Python)
  bool reuse_port = false;        // SO_REUSEPORT before bind: listeners that all set it share the port
  bool v6_only = true;            // IPV6_V6ONLY for an IPv6 listener
  Trace trace{};                  // accepted streams inherit the trace
};

class TcpListener : public Socket {
 public:
  TcpListener() noexcept = default;

  // socket + (SO_REUSEADDR) + bind + listen. A port in use gives EADDRINUSE
  // with the endpoint in the context.
  static Result<TcpListener> bind(const Endpoint& at, const ListenOptions& opts = {});
  // Another handle on this listening socket (dup): its accept() takes from the
  // same queue, its calls are recorded with `trace`. A server that serves many
  // clients at once gives each one its own handle and its own trace.
  [[nodiscard]] Result<TcpListener> share(Trace trace) const;

  struct Accepted {
    TcpStream stream;
    Endpoint peer;
  };
  // Waits for a connection (forever, or up to timeout: errc::timed_out). The
  // timeout covers the wait for a queued connection (poll); only another thread
  // accepting the same connection in between could make accept() itself block.
  Result<Accepted> accept(std::optional<std::chrono::milliseconds> timeout = {});

  [[nodiscard]] Endpoint endpoint() const noexcept { return local_; }
  [[nodiscard]] Result<ListenQueue> queue() const { return listen_queue(fd_); }

 private:
  Endpoint local_;
};

}  // namespace socklab::net
