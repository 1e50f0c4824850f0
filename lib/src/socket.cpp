#include "socklab/net/socket.hpp"

#include "socklab/net/unix.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <linux/sock_diag.h>
#include <linux/sockios.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <utility>

#ifndef SO_MEMINFO
#define SO_MEMINFO 55
#endif

namespace socklab::net {

namespace {

std::string endpoint_text(int fd, bool peer) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  auto* sa = reinterpret_cast<sockaddr*>(&ss);
  const int rc = peer ? ::getpeername(fd, sa, &len) : ::getsockname(fd, sa, &len);
  if (rc != 0) return {};
  if (ss.ss_family == AF_UNIX) {
    auto u = UnixAddress::from_sockaddr(sa, len);
    return u ? u->to_string() : std::string{};
  }
  auto e = Endpoint::from_sockaddr(sa, len);
  return e ? e->to_string() : std::string{};
}

Result<void> poll_for(int fd, short events, std::optional<std::chrono::milliseconds> timeout,
                      std::string_view what) {
  using clock = std::chrono::steady_clock;
  const auto deadline = timeout ? clock::now() + *timeout : clock::time_point::max();
  for (;;) {
    int wait_ms = -1;
    if (timeout) {
      const auto left =
          std::chrono::ceil<std::chrono::milliseconds>(deadline - clock::now()).count();
      wait_ms = left > 0 ? static_cast<int>(std::min<long long>(left, 1'000'000'000)) : 0;
    }
    pollfd p{fd, events, 0};
    const int rc = ::poll(&p, 1, wait_ms);
    if (rc > 0) return {};  // ready, or an error/hangup the next call will report
    if (rc < 0 && errno != EINTR) return std::unexpected(system_error(errno, std::string(what)));
    if (rc == 0 && timeout && clock::now() >= deadline) {
      return std::unexpected(make_error(
          errc::timed_out, std::string(what),
          "timed out after " + std::to_string(timeout->count()) + " ms"));
    }
  }
}

}  // namespace

namespace detail {
Result<int> open_socket(int family, int type, const Trace& trace) {
  const std::int64_t t0 = trace.start();
  const int fd = ::socket(family, type | SOCK_CLOEXEC, 0);
  const int err = fd < 0 ? errno : 0;
  if (trace) {
    std::string args = type == SOCK_STREAM ? "SOCK_STREAM" : type == SOCK_DGRAM ? "SOCK_DGRAM" : "type " + std::to_string(type);
    args += family == AF_INET6 ? " AF_INET6"
            : family == AF_INET ? " AF_INET"
            : family == AF_UNIX ? " AF_UNIX"
                                : " family " + std::to_string(family);
    CallEvent ev;
    ev.call = "socket";
    ev.args = std::move(args);
    ev.result = fd;
    ev.err = err;
    trace.finish(t0, std::move(ev));
  }
  if (fd < 0) return std::unexpected(system_error(err, "socket"));
  return fd;
}
}  // namespace detail

Socket::Socket(Socket&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), trace_(other.trace_), last_peer_(std::move(other.last_peer_)) {}

Socket& Socket::operator=(Socket&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) {
      try {
        (void)close();
      } catch (...) {  // only recording can throw (bad_alloc); the fd is closed by then
      }
    }
    fd_ = std::exchange(other.fd_, -1);
    trace_ = other.trace_;
    last_peer_ = std::move(other.last_peer_);
  }
  return *this;
}

Socket::~Socket() {
  if (fd_ < 0) return;
  try {
    (void)close();
  } catch (...) {  // see operator=: the descriptor is already closed
  }
}

int Socket::release() noexcept { return std::exchange(fd_, -1); }

Result<void> Socket::close() {
  if (fd_ < 0) return {};
  // The endpoints must be read before the descriptor is gone.
  std::string local;
  std::string peer;
  if (trace_) {
    local = endpoint_text(fd_, false);
    peer = endpoint_text(fd_, true);
    if (peer.empty()) peer = last_peer_;
  }
  const std::int64_t t0 = trace_.start();
  const int fd = std::exchange(fd_, -1);
  const int rc = ::close(fd);
  // EINTR: on Linux the descriptor is released anyway; retrying could close another thread's fd.
  const int err = (rc != 0 && errno != EINTR) ? errno : 0;
  if (trace_) {
    CallEvent ev;
    ev.call = "close";
    ev.result = err != 0 ? -1 : 0;
    ev.err = err;
    ev.local = std::move(local);
    ev.peer = std::move(peer);
    trace_.finish(t0, std::move(ev));
  }
  if (err != 0) return std::unexpected(system_error(err, "close"));
  return {};
}

void Socket::record_call(std::int64_t t0, std::string_view call, std::string args,
                         std::int64_t result, int err, std::string preview) const {
  if (!trace_) return;
  CallEvent ev;
  ev.call = std::string(call);
  ev.args = std::move(args);
  ev.result = result;
  ev.err = err;
  ev.preview = std::move(preview);
  ev.t_ns = t0;
  ev.dur_ns = realtime_ns() - t0;  // measured before the extra lookups below
  ev.side = trace_.side;
  ev.participant = std::string(trace_.participant);
  if (fd_ >= 0) {
    ev.local = endpoint_text(fd_, false);
    ev.peer = endpoint_text(fd_, true);
    if (ev.peer.empty()) {
      ev.peer = last_peer_;
    } else {
      last_peer_ = ev.peer;
    }
  }
  trace_.recorder->record(std::move(ev));
}

Error Socket::call_error(std::string_view call, int err) const {
  std::string context(call);
  std::string where = fd_ >= 0 ? endpoint_text(fd_, true) : std::string{};
  if (!where.empty()) context += " " + where;
  return system_error(err, std::move(context));
}

Result<void> Socket::set_option(int level, int name, const void* value, socklen_t len,
                                std::string_view option_name, std::optional<long long> shown_value) {
  const std::int64_t t0 = trace_.start();
  const int rc = ::setsockopt(fd_, level, name, value, len);
  const int err = rc != 0 ? errno : 0;
  if (!trace_ && rc == 0) return {};  // the common case builds no string
  std::string shown(option_name);
  shown += '=';
  shown += shown_value ? std::to_string(*shown_value) : std::string("off");
  record_call(t0, "setsockopt", shown, rc, err);
  if (rc != 0) return std::unexpected(system_error(err, "setsockopt " + shown));
  return {};
}

Result<int> Socket::get_int_option(int level, int name, std::string_view shown) const {
  int value = 0;
  socklen_t len = sizeof value;
  if (::getsockopt(fd_, level, name, &value, &len) != 0) {
    return std::unexpected(system_error(errno, "getsockopt " + std::string(shown)));
  }
  return value;
}

Result<void> Socket::bind_to(const Endpoint& at) { return bind_address(at.data(), at.size(), at.to_string()); }

Result<void> Socket::bind_address(const sockaddr* at, socklen_t len, const std::string& shown) {
  const std::int64_t t0 = trace_.start();
  const int rc = ::bind(fd_, at, len);
  const int err = rc != 0 ? errno : 0;
  if (trace_) record_call(t0, "bind", shown, rc, err);
  if (rc != 0) return std::unexpected(system_error(err, "bind " + shown));
  return {};
}

Result<Endpoint> Socket::local_endpoint() const {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return std::unexpected(system_error(errno, "getsockname"));
  }
  return Endpoint::from_sockaddr(reinterpret_cast<const sockaddr*>(&ss), len);
}

Result<Endpoint> Socket::peer_endpoint() const {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getpeername(fd_, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return std::unexpected(system_error(errno, "getpeername"));
  }
  return Endpoint::from_sockaddr(reinterpret_cast<const sockaddr*>(&ss), len);
}

Result<void> Socket::set_reuse_addr(bool on) {
  const int v = on ? 1 : 0;
  return set_option(SOL_SOCKET, SO_REUSEADDR, &v, sizeof v, "SO_REUSEADDR", v);
}

Result<void> Socket::set_reuse_port(bool on) {
  const int v = on ? 1 : 0;
  return set_option(SOL_SOCKET, SO_REUSEPORT, &v, sizeof v, "SO_REUSEPORT", v);
}

Result<void> Socket::set_recv_buffer(int bytes) {
  return set_option(SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes, "SO_RCVBUF", bytes);
}

Result<void> Socket::set_send_buffer(int bytes) {
  return set_option(SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes, "SO_SNDBUF", bytes);
}

Result<int> Socket::recv_buffer() const { return get_int_option(SOL_SOCKET, SO_RCVBUF, "SO_RCVBUF"); }
Result<int> Socket::send_buffer() const { return get_int_option(SOL_SOCKET, SO_SNDBUF, "SO_SNDBUF"); }

Result<void> Socket::set_ttl(int hops) {
  return set_option(IPPROTO_IP, IP_TTL, &hops, sizeof hops, "IP_TTL", hops);
}

Result<int> Socket::ttl() const { return get_int_option(IPPROTO_IP, IP_TTL, "IP_TTL"); }

Result<void> Socket::set_linger(std::optional<std::chrono::seconds> linger) {
  ::linger l{};
  l.l_onoff = linger ? 1 : 0;
  l.l_linger = linger ? static_cast<int>(linger->count()) : 0;
  const std::optional<long long> shown =
      linger ? std::optional<long long>(linger->count()) : std::nullopt;
  return set_option(SOL_SOCKET, SO_LINGER, &l, sizeof l, "SO_LINGER", shown);
}

Result<void> Socket::set_nonblocking(bool on) {
  const int flags = ::fcntl(fd_, F_GETFL);
  if (flags < 0) return std::unexpected(system_error(errno, "fcntl F_GETFL"));
  const int wanted = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  if (wanted != flags && ::fcntl(fd_, F_SETFL, wanted) != 0) {
    return std::unexpected(system_error(errno, "fcntl F_SETFL O_NONBLOCK"));
  }
  return {};
}

Result<int> Socket::pending_error() const {
  return get_int_option(SOL_SOCKET, SO_ERROR, "SO_ERROR");
}

Result<std::uint32_t> Socket::drops() const {
  std::array<std::uint32_t, SK_MEMINFO_VARS> info{};
  socklen_t len = sizeof info;
  if (::getsockopt(fd_, SOL_SOCKET, SO_MEMINFO, info.data(), &len) != 0) {
    return std::unexpected(system_error(errno, "getsockopt SO_MEMINFO"));
  }
  if (len < (SK_MEMINFO_DROPS + 1) * sizeof(std::uint32_t)) {
    return std::unexpected(make_error(errc::not_supported, "getsockopt SO_MEMINFO",
                                      "the kernel reports no drop counter"));
  }
  return info[SK_MEMINFO_DROPS];
}

Result<int> Socket::bytes_in_recv_queue() const {
  int n = 0;
  if (::ioctl(fd_, SIOCINQ, &n) != 0) return std::unexpected(system_error(errno, "ioctl SIOCINQ"));
  return n;
}

Result<int> Socket::bytes_in_send_queue() const {
  int n = 0;
  if (::ioctl(fd_, SIOCOUTQ, &n) != 0) return std::unexpected(system_error(errno, "ioctl SIOCOUTQ"));
  return n;
}

Result<int> Socket::bytes_not_sent() const {
  int n = 0;
  if (::ioctl(fd_, SIOCOUTQNSD, &n) != 0) return std::unexpected(system_error(errno, "ioctl SIOCOUTQNSD"));
  return n;
}

Result<void> Socket::wait_readable(std::optional<std::chrono::milliseconds> timeout) const {
  return poll_for(fd_, POLLIN, timeout, "wait readable");
}

Result<void> Socket::wait_for_connection(std::optional<std::chrono::milliseconds> timeout,
                                         const std::string& context) const {
  if (!timeout) return {};
  auto r = wait_readable(timeout);
  if (!r && r.error().code == errc::timed_out) {
    return std::unexpected(
        make_error(errc::timed_out, context, "no connection within " + std::to_string(timeout->count()) + " ms"));
  }
  return r;
}

Result<void> Socket::wait_writable(std::optional<std::chrono::milliseconds> timeout) const {
  return poll_for(fd_, POLLOUT, timeout, "wait writable");
}

}  // namespace socklab::net
