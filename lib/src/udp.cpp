#include "socklab/net/udp.hpp"

#include <fcntl.h>
#include <sys/socket.h>

#include <cerrno>
#include <string>

namespace socklab::net {

Result<UdpSocket> UdpSocket::open(int family, const UdpOptions& opts) {
  auto fd = detail::open_socket(family, SOCK_DGRAM, opts.trace);
  if (!fd) return std::unexpected(fd.error());
  UdpSocket s;
  s.fd_ = *fd;
  s.trace_ = opts.trace;
  if (opts.recv_buffer) {
    if (auto r = s.set_recv_buffer(*opts.recv_buffer); !r) return std::unexpected(r.error());
  }
  if (opts.reuse_addr) {
    if (auto r = s.set_reuse_addr(true); !r) return std::unexpected(r.error());
  }
  return s;
}

Result<UdpSocket> UdpSocket::bind(const Endpoint& at, const UdpOptions& opts) {
  auto s = open(at.family(), opts);
  if (!s) return s;
  if (auto r = s->bind_to(at); !r) return std::unexpected(r.error());
  return s;
}

Result<UdpSocket> UdpSocket::share(Trace trace) const {
  const int fd = ::fcntl(fd_, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) return std::unexpected(system_error(errno, "dup UDP socket"));
  UdpSocket s;
  s.fd_ = fd;
  s.trace_ = trace;
  return s;
}

Result<void> UdpSocket::connect(const Endpoint& peer) {
  const std::int64_t t0 = trace_.start();
  const int rc = ::connect(fd_, peer.data(), peer.size());
  const int err = rc != 0 ? errno : 0;
  if (trace_) record_call(t0, "connect", peer.to_string(), rc, err);
  if (rc != 0) return std::unexpected(system_error(err, "connect " + peer.to_string()));
  return {};
}

Result<std::size_t> UdpSocket::send_to(std::span<const std::byte> data, const Endpoint& to) {
  for (;;) {
    const std::int64_t t0 = trace_.start();
    const ssize_t n = ::sendto(fd_, data.data(), data.size(), MSG_NOSIGNAL, to.data(), to.size());
    const int err = n < 0 ? errno : 0;
    if (trace_) {
      record_call(t0, "sendto", std::to_string(data.size()) + " " + to.to_string(), n, err,
                  n > 0 ? preview_bytes(data.first(static_cast<std::size_t>(n))) : std::string{});
    }
    if (n >= 0) return static_cast<std::size_t>(n);
    if (err != EINTR) return std::unexpected(system_error(err, "sendto " + to.to_string()));
  }
}

Result<std::size_t> UdpSocket::send(std::span<const std::byte> data) {
  for (;;) {
    const std::int64_t t0 = trace_.start();
    const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    const int err = n < 0 ? errno : 0;
    if (trace_) {
      record_call(t0, "send", std::to_string(data.size()), n, err,
                  n > 0 ? preview_bytes(data.first(static_cast<std::size_t>(n))) : std::string{});
    }
    if (n >= 0) return static_cast<std::size_t>(n);
    if (err != EINTR) return std::unexpected(call_error("send", err));
  }
}

Result<UdpSocket::Datagram> UdpSocket::recv_from(std::span<std::byte> buf,
                                                 std::optional<std::chrono::milliseconds> timeout) {
  return receive(buf, timeout, "recvfrom");
}

Result<UdpSocket::Datagram> UdpSocket::recv(std::span<std::byte> buf,
                                            std::optional<std::chrono::milliseconds> timeout) {
  return receive(buf, timeout, "recv");
}

Result<UdpSocket::Datagram> UdpSocket::receive(std::span<std::byte> buf,
                                               std::optional<std::chrono::milliseconds> timeout,
                                               const char* call) {
  if (timeout) {
    if (auto r = wait_readable(timeout); !r) {
      if (r.error().code == errc::timed_out) {
        return std::unexpected(make_error(errc::timed_out, call,
                                          "no datagram within " + std::to_string(timeout->count()) + " ms"));
      }
      return std::unexpected(r.error());
    }
  }
  for (;;) {
    sockaddr_storage ss{};
    iovec iov{buf.data(), buf.size()};
    msghdr msg{};
    msg.msg_name = &ss;
    msg.msg_namelen = sizeof ss;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    const std::int64_t t0 = trace_.start();
    // MSG_TRUNC makes a UDP recv return the datagram's real length, even when
    // it is larger than the buffer (the excess is discarded by the kernel).
    const ssize_t n = ::recvmsg(fd_, &msg, MSG_TRUNC);
    const int err = n < 0 ? errno : 0;
    if (n < 0) {
      if (trace_) record_call(t0, call, std::to_string(buf.size()), -1, err);
      if (err == EINTR) continue;
      return std::unexpected(call_error(call, err));
    }
    Datagram d;
    d.full_size = static_cast<std::size_t>(n);
    d.size = std::min(d.full_size, buf.size());
    d.truncated = (msg.msg_flags & MSG_TRUNC) != 0 || d.full_size > buf.size();
    auto from = Endpoint::from_sockaddr(reinterpret_cast<const sockaddr*>(&ss), msg.msg_namelen);
    if (from) d.from = *from;
    if (trace_) {
      // The sender stands where recvfrom() writes it, as sendto()'s address does:
      // data, not a word of some language (the ladder draws it with an arrow).
      std::string args = std::to_string(buf.size());
      if (from) args += " " + from->to_string();
      if (d.truncated) args += " MSG_TRUNC";
      record_call(t0, call, std::move(args), n, 0, preview_bytes(buf.first(d.size)));
    }
    if (!from) return std::unexpected(from.error());
    return d;
  }
}

}  // namespace socklab::net
