#include "socklab/net/tcp.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <string>
#include <thread>

namespace socklab::net {

namespace {

std::string flags_text(int flags) {
  std::string out;
  auto add = [&](int bit, const char* name) {
    if ((flags & bit) == 0) return;
    if (!out.empty()) out += '|';
    out += name;
    flags &= ~bit;
  };
  add(MSG_PEEK, "MSG_PEEK");
  add(MSG_DONTWAIT, "MSG_DONTWAIT");
  add(MSG_WAITALL, "MSG_WAITALL");
  add(MSG_OOB, "MSG_OOB");
  add(MSG_MORE, "MSG_MORE");
  add(MSG_NOSIGNAL, "MSG_NOSIGNAL");
  if (flags != 0) {
    if (!out.empty()) out += '|';
    out += std::to_string(flags);
  }
  return out;
}

std::string size_and_flags(std::size_t n, int flags) {
  std::string out = std::to_string(n);
  if (flags != 0) out += " " + flags_text(flags);
  return out;
}

}  // namespace

// ---------------------------------------------------------------- TcpStream

Result<TcpStream> TcpStream::connect_start(const Endpoint& to, const ConnectOptions& opts) {
  auto fd = detail::open_socket(to.family(), SOCK_STREAM, opts.trace);
  if (!fd) return std::unexpected(fd.error());
  TcpStream s(*fd, opts.trace);
  s.connecting_to_ = to;
  if (opts.reuse_addr) {
    if (auto r = s.set_reuse_addr(true); !r) return std::unexpected(r.error());
  }
  if (opts.bind) {
    if (auto r = s.bind_to(*opts.bind); !r) return std::unexpected(r.error());
  }
  if (opts.nodelay) {
    if (auto r = s.set_nodelay(true); !r) return std::unexpected(r.error());
  }
  if (auto r = s.set_nonblocking(true); !r) return std::unexpected(r.error());
  const std::int64_t t0 = s.trace_.start();
  const int rc = ::connect(s.fd_, to.data(), to.size());
  const int err = rc != 0 ? errno : 0;
  if (s.trace_) s.record_call(t0, "connect", to.to_string(), rc, err);
  if (rc != 0 && err != EINPROGRESS && err != EINTR) {
    return std::unexpected(system_error(err, "connect " + to.to_string()));
  }
  return s;
}

Result<void> TcpStream::finish_connect(std::optional<std::chrono::milliseconds> timeout) {
  const std::int64_t t0 = trace_.start();
  auto context = [&] { return "connect " + connecting_to_.to_string(); };
  if (auto r = wait_writable(timeout); !r) {
    if (r.error().code == errc::timed_out) {
      if (trace_) record_call(t0, "connect", connecting_to_.to_string() + " (finish)", -1, ETIMEDOUT);
      return std::unexpected(make_error(errc::timed_out, context(),
                                        "no answer after " + std::to_string(timeout->count()) + " ms"));
    }
    return std::unexpected(r.error());
  }
  auto pending = pending_error();
  if (!pending) return std::unexpected(pending.error());
  if (trace_) record_call(t0, "connect", connecting_to_.to_string() + " (finish)", *pending ? -1 : 0, *pending);
  if (*pending != 0) return std::unexpected(system_error(*pending, context()));
  return set_nonblocking(false);
}

Result<TcpStream> TcpStream::connect(const Endpoint& to, const ConnectOptions& opts) {
  auto fd = detail::open_socket(to.family(), SOCK_STREAM, opts.trace);
  if (!fd) return std::unexpected(fd.error());
  TcpStream s(*fd, opts.trace);
  if (opts.reuse_addr) {
    if (auto r = s.set_reuse_addr(true); !r) return std::unexpected(r.error());
  }
  if (opts.bind) {
    if (auto r = s.bind_to(*opts.bind); !r) return std::unexpected(r.error());
  }
  if (opts.nodelay) {
    if (auto r = s.set_nodelay(true); !r) return std::unexpected(r.error());
  }
  if (auto r = s.connect_to(to, opts.timeout); !r) return std::unexpected(r.error());
  return s;
}

Result<TcpStream> TcpStream::bound(const Endpoint& local, const Trace& trace) {
  auto fd = detail::open_socket(local.family(), SOCK_STREAM, trace);
  if (!fd) return std::unexpected(fd.error());
  TcpStream s(*fd, trace);
  if (auto r = s.bind_to(local); !r) return std::unexpected(r.error());
  return s;
}

Result<void> TcpStream::connect_to(const Endpoint& to, std::optional<std::chrono::milliseconds> timeout) {
  auto context = [&] { return "connect " + to.to_string(); };
  connecting_to_ = to;
  // With a timeout: non-blocking connect + poll. Without: a blocking connect; an
  // EINTR there leaves the handshake running, so its outcome is awaited the same way.
  if (timeout) {
    if (auto r = set_nonblocking(true); !r) return std::unexpected(r.error());
  }
  const std::int64_t t0 = trace_.start();
  int rc = ::connect(fd_, to.data(), to.size());
  int err = rc != 0 ? errno : 0;
  if (err == EINPROGRESS || err == EINTR) {
    auto ready = wait_writable(timeout);
    if (!ready) {
      const bool timed_out = ready.error().code == errc::timed_out;
      if (trace_) record_call(t0, "connect", to.to_string(), -1, timed_out ? ETIMEDOUT : ready.error().errno_value());
      if (timed_out) {
        return std::unexpected(make_error(
            errc::timed_out, context(), "no answer after " + std::to_string(timeout->count()) + " ms"));
      }
      return std::unexpected(ready.error());
    }
    auto pending = pending_error();
    if (!pending) return std::unexpected(pending.error());
    err = *pending;
    rc = err != 0 ? -1 : 0;
  }
  if (trace_) record_call(t0, "connect", to.to_string(), rc, err);
  if (err != 0) return std::unexpected(system_error(err, context()));
  if (timeout) return set_nonblocking(false);
  return {};
}

Result<std::size_t> StreamSocket::send_some(std::span<const std::byte> data, int flags) {
  for (;;) {
    const std::int64_t t0 = trace_.start();
    const ssize_t n = ::send(fd_, data.data(), data.size(), flags | MSG_NOSIGNAL);
    const int err = n < 0 ? errno : 0;
    if (trace_) {
      record_call(t0, "send", size_and_flags(data.size(), flags), n, err,
                  n > 0 ? preview_bytes(data.first(static_cast<std::size_t>(n))) : std::string{});
    }
    if (n >= 0) return static_cast<std::size_t>(n);
    if (err != EINTR) return std::unexpected(call_error("send", err));
  }
}

Result<std::size_t> StreamSocket::send_all(std::span<const std::byte> data) {
  std::size_t done = 0;
  while (done < data.size()) {
    auto n = send_some(data.subspan(done));
    if (!n) return std::unexpected(n.error());
    done += *n;
  }
  return done;
}

Result<std::size_t> StreamSocket::send_all(std::string_view text) {
  return send_all(std::as_bytes(std::span(text.data(), text.size())));
}

Result<std::size_t> StreamSocket::recv_some(std::span<std::byte> buf, int flags) {
  for (;;) {
    const std::int64_t t0 = trace_.start();
    const ssize_t n = ::recv(fd_, buf.data(), buf.size(), flags);
    const int err = n < 0 ? errno : 0;
    if (trace_) {
      record_call(t0, "recv", size_and_flags(buf.size(), flags), n, err,
                  n > 0 ? preview_bytes(buf.first(static_cast<std::size_t>(n))) : std::string{});
    }
    if (n >= 0) return static_cast<std::size_t>(n);
    if (err != EINTR) return std::unexpected(call_error("recv", err));
  }
}

Result<std::size_t> StreamSocket::recv_exact(std::span<std::byte> buf) {
  std::size_t done = 0;
  while (done < buf.size()) {
    auto n = recv_some(buf.subspan(done));
    if (!n) return std::unexpected(n.error());
    if (*n == 0) break;  // EOF: the caller sees a short count
    done += *n;
  }
  return done;
}

Result<void> StreamSocket::shutdown(int how) {
  const char* name = how == SHUT_RD ? "SHUT_RD" : how == SHUT_WR ? "SHUT_WR" : how == SHUT_RDWR ? "SHUT_RDWR" : "?";
  const std::int64_t t0 = trace_.start();
  const int rc = ::shutdown(fd_, how);
  const int err = rc != 0 ? errno : 0;
  if (trace_) record_call(t0, "shutdown", name, rc, err);
  if (rc != 0) return std::unexpected(call_error(std::string("shutdown ") + name, err));
  return {};
}

Result<void> StreamSocket::shutdown_write() { return shutdown(SHUT_WR); }

Result<void> TcpStream::set_nodelay(bool on) {
  const int v = on ? 1 : 0;
  return set_option(IPPROTO_TCP, TCP_NODELAY, &v, sizeof v, "TCP_NODELAY", v);
}

Result<void> TcpStream::set_cork(bool on) {
  const int v = on ? 1 : 0;
  return set_option(IPPROTO_TCP, TCP_CORK, &v, sizeof v, "TCP_CORK", v);
}

Result<void> TcpStream::set_quickack(bool on) {
  const int v = on ? 1 : 0;
  return set_option(IPPROTO_TCP, TCP_QUICKACK, &v, sizeof v, "TCP_QUICKACK", v);
}

Result<void> TcpStream::set_recv_lowat(int bytes) {
  return set_option(SOL_SOCKET, SO_RCVLOWAT, &bytes, sizeof bytes, "SO_RCVLOWAT", bytes);
}

Result<int> TcpStream::wait_for_bytes(int bytes, std::optional<std::chrono::milliseconds> timeout) {
  auto context = [&] { return "wait for " + std::to_string(bytes) + " bytes"; };
  if (bytes <= 0) {
    return std::unexpected(make_error(errc::not_supported, context(), "the byte count must be positive"));
  }
  auto old = get_int_option(SOL_SOCKET, SO_RCVLOWAT, "SO_RCVLOWAT");
  if (!old) return std::unexpected(old.error());
  if (auto r = set_recv_lowat(bytes); !r) return std::unexpected(r.error());
  // The kernel caps the low-water mark at half the receive buffer's limit: a
  // wait beyond it could never end, so say so instead of waiting.
  auto effective = get_int_option(SOL_SOCKET, SO_RCVLOWAT, "SO_RCVLOWAT");
  Result<int> out = std::unexpected(Error{});
  if (!effective) {
    out = std::unexpected(effective.error());
  } else if (*effective < bytes) {
    out = std::unexpected(make_error(
        errc::not_supported, context(),
        "the receive buffer cannot hold that many; the kernel caps SO_RCVLOWAT at " +
            std::to_string(*effective)));
  } else {
    using clock = std::chrono::steady_clock;
    const auto deadline = timeout ? clock::now() + *timeout : clock::time_point::max();
    for (;;) {
      int wait_ms = -1;
      if (timeout) {
        const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - clock::now()).count();
        wait_ms = left > 0 ? static_cast<int>(left) : 0;
      }
      pollfd p{fd_, POLLIN | POLLRDHUP, 0};
      const int rc = ::poll(&p, 1, wait_ms);
      if (rc < 0 && errno == EINTR) continue;
      if (rc < 0) {
        out = std::unexpected(system_error(errno, context()));
        break;
      }
      if (rc == 0) {
        if (timeout && clock::now() < deadline) continue;
        auto queued = bytes_in_recv_queue();
        out = std::unexpected(make_error(
            errc::timed_out, context(),
            "only " + std::to_string(queued ? *queued : 0) + " bytes queued after " +
                std::to_string(timeout ? timeout->count() : 0) + " ms"));
        break;
      }
      if ((p.revents & POLLERR) != 0) {
        auto pending = pending_error();
        if (pending && *pending != 0) {
          out = std::unexpected(call_error(context(), *pending));
          break;
        }
      }
      auto queued = bytes_in_recv_queue();
      if (!queued) {
        out = std::unexpected(queued.error());
        break;
      }
      // Enough bytes, or the peer closed (no more will come): done.
      if (*queued >= bytes || (p.revents & (POLLRDHUP | POLLHUP)) != 0) {
        out = *queued;
        break;
      }
    }
  }
  (void)set_recv_lowat(*old);
  return out;
}

Result<TcpState> TcpStream::state() const {
  auto i = tcp_info(fd_);
  if (!i) return std::unexpected(i.error());
  return i->state;
}

Result<void> TcpStream::wait_state(TcpState s, std::chrono::milliseconds timeout) {
  // No kernel notification exists for TCP state changes; re-read at a short interval.
  constexpr auto interval = std::chrono::milliseconds(1);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto now_state = state();
    if (!now_state) return std::unexpected(now_state.error());
    if (*now_state == s) return {};
    if (std::chrono::steady_clock::now() >= deadline) {
      return std::unexpected(make_error(
          errc::timed_out, "wait for state " + std::string(to_string(s)),
          "still " + std::string(to_string(*now_state)) + " after " +
              std::to_string(timeout.count()) + " ms"));
    }
    std::this_thread::sleep_for(interval);
  }
}

// ---------------------------------------------------------------- TcpListener

Result<TcpListener> TcpListener::bind(const Endpoint& at, const ListenOptions& opts) {
  auto fd = detail::open_socket(at.family(), SOCK_STREAM, opts.trace);
  if (!fd) return std::unexpected(fd.error());
  TcpListener l;
  l.fd_ = *fd;
  l.trace_ = opts.trace;
  if (opts.reuse_addr) {
    if (auto r = l.set_reuse_addr(true); !r) return std::unexpected(r.error());
  }
  if (opts.reuse_port) {
    if (auto r = l.set_reuse_port(true); !r) return std::unexpected(r.error());
  }
  if (at.is_v6()) {
    const int v = opts.v6_only ? 1 : 0;
    if (auto r = l.set_option(IPPROTO_IPV6, IPV6_V6ONLY, &v, sizeof v, "IPV6_V6ONLY", v); !r) {
      return std::unexpected(r.error());
    }
  }
  if (auto r = l.bind_to(at); !r) return std::unexpected(r.error());
  const std::int64_t t0 = l.trace_.start();
  const int rc = ::listen(l.fd_, opts.backlog);
  const int err = rc != 0 ? errno : 0;
  if (l.trace_) l.record_call(t0, "listen", std::to_string(opts.backlog), rc, err);
  if (rc != 0) return std::unexpected(system_error(err, "listen " + at.to_string()));
  auto local = l.local_endpoint();
  if (!local) return std::unexpected(local.error());
  l.local_ = *local;
  return l;
}

Result<TcpListener> TcpListener::share(Trace trace) const {
  const int fd = ::fcntl(fd_, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) return std::unexpected(system_error(errno, "dup listener " + local_.to_string()));
  TcpListener l;
  l.fd_ = fd;
  l.trace_ = trace;
  l.local_ = local_;
  return l;
}

Result<TcpListener::Accepted> TcpListener::accept(std::optional<std::chrono::milliseconds> timeout) {
  auto context = [&] { return "accept " + local_.to_string(); };
  if (auto r = wait_for_connection(timeout, context()); !r) return std::unexpected(r.error());
  for (;;) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    const std::int64_t t0 = trace_.start();
    const int fd = ::accept4(fd_, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_CLOEXEC);
    const int err = fd < 0 ? errno : 0;
    if (fd < 0) {
      record_call(t0, "accept", {}, -1, err);
      if (err == EINTR) continue;
      return std::unexpected(system_error(err, context()));
    }
    auto peer = Endpoint::from_sockaddr(reinterpret_cast<const sockaddr*>(&ss), len);
    TcpStream stream(fd, trace_);
    if (!peer) return std::unexpected(peer.error());
    stream.last_peer_ = peer->to_string();  // a reset may come before the stream's first call
    if (trace_) {
      CallEvent ev;
      ev.t_ns = t0;
      ev.dur_ns = realtime_ns() - t0;
      ev.side = trace_.side;
      ev.participant = std::string(trace_.participant);
      ev.call = "accept";
      ev.result = fd;
      if (auto local = stream.local_endpoint()) ev.local = local->to_string();
      ev.peer = peer->to_string();
      ev.args = ev.peer;
      trace_.recorder->record(std::move(ev));
    }
    return Accepted{std::move(stream), *peer};
  }
}

}  // namespace socklab::net
