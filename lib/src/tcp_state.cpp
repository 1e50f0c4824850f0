#include "socklab/net/tcp_state.hpp"

// <linux/tcp.h> rather than <netinet/tcp.h>: only the kernel's struct tcp_info
// has tcpi_bytes_acked and tcpi_bytes_received.
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <ostream>
#include <string>
#include <thread>

namespace socklab::net {

std::string_view to_string(TcpState s) noexcept {
  switch (s) {
    case TcpState::unknown: return "UNKNOWN";
    case TcpState::established: return "ESTABLISHED";
    case TcpState::syn_sent: return "SYN_SENT";
    case TcpState::syn_recv: return "SYN_RECV";
    case TcpState::fin_wait_1: return "FIN_WAIT_1";
    case TcpState::fin_wait_2: return "FIN_WAIT_2";
    case TcpState::time_wait: return "TIME_WAIT";
    case TcpState::closed: return "CLOSED";
    case TcpState::close_wait: return "CLOSE_WAIT";
    case TcpState::last_ack: return "LAST_ACK";
    case TcpState::listen: return "LISTEN";
    case TcpState::closing: return "CLOSING";
    case TcpState::new_syn_recv: return "NEW_SYN_RECV";
  }
  return "UNKNOWN";
}

std::ostream& operator<<(std::ostream& os, TcpState s) { return os << to_string(s); }

namespace {

TcpState state_from_kernel(unsigned v) noexcept {
  return v >= 1 && v <= 12 ? static_cast<TcpState>(v) : TcpState::unknown;
}

Result<::tcp_info> read_tcp_info(int fd) {
  ::tcp_info raw{};
  socklen_t len = sizeof raw;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &raw, &len) != 0) {
    return std::unexpected(system_error(errno, "getsockopt TCP_INFO"));
  }
  return raw;  // older kernels fill a prefix; the rest stays zero
}

}  // namespace

Result<TcpInfo> tcp_info(int fd) {
  auto raw = read_tcp_info(fd);
  if (!raw) return std::unexpected(raw.error());
  TcpInfo info;
  info.state = state_from_kernel(raw->tcpi_state);
  info.sack = (raw->tcpi_options & TCPI_OPT_SACK) != 0;
  info.timestamps = (raw->tcpi_options & TCPI_OPT_TIMESTAMPS) != 0;
  info.window_scale = (raw->tcpi_options & TCPI_OPT_WSCALE) != 0;
  info.snd_wscale = raw->tcpi_snd_wscale;
  info.rcv_wscale = raw->tcpi_rcv_wscale;
  info.snd_mss = raw->tcpi_snd_mss;
  info.rcv_mss = raw->tcpi_rcv_mss;
  info.rtt_us = raw->tcpi_rtt;
  info.retransmits = raw->tcpi_total_retrans;
  info.unacked = raw->tcpi_unacked;
  info.bytes_acked = raw->tcpi_bytes_acked;
  info.bytes_received = raw->tcpi_bytes_received;
  return info;
}

Result<ListenQueue> listen_queue(int listener_fd) {
  auto raw = read_tcp_info(listener_fd);
  if (!raw) return std::unexpected(raw.error());
  if (raw->tcpi_state != static_cast<unsigned>(TcpState::listen)) {
    return std::unexpected(make_error(errc::not_supported, "listen queue",
                                      "the socket is not listening"));
  }
  // For a LISTEN socket Linux reports sk_ack_backlog in tcpi_unacked and
  // sk_max_ack_backlog in tcpi_sacked (net/ipv4/tcp.c, tcp_get_info).
  return ListenQueue{raw->tcpi_unacked, raw->tcpi_sacked};
}

namespace {

// Closes the netlink socket on every path.
struct FdGuard {
  explicit FdGuard(int f) noexcept : fd(f) {}
  int fd;
  FdGuard(const FdGuard&) = delete;
  FdGuard& operator=(const FdGuard&) = delete;
  ~FdGuard() { ::close(fd); }
};

Endpoint endpoint_from_diag(int family, const std::uint32_t (&addr)[4], std::uint16_t port_be) {
  Endpoint e = family == AF_INET6 ? Endpoint::any_v6() : Endpoint::any_v4();
  if (family == AF_INET6) {
    sockaddr_in6 sin6{};
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = port_be;
    std::memcpy(&sin6.sin6_addr, addr, sizeof sin6.sin6_addr);
    auto r = Endpoint::from_sockaddr(reinterpret_cast<const sockaddr*>(&sin6), sizeof sin6);
    if (r) e = *r;
  } else {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = port_be;
    std::memcpy(&sin.sin_addr, addr, sizeof sin.sin_addr);
    auto r = Endpoint::from_sockaddr(reinterpret_cast<const sockaddr*>(&sin), sizeof sin);
    if (r) e = *r;
  }
  return e;
}

std::uint32_t states_mask(const std::vector<TcpState>& states) {
  if (states.empty()) return ~0U;
  std::uint32_t mask = 0;
  for (TcpState s : states) mask |= 1U << static_cast<unsigned>(s);
  return mask;
}

}  // namespace

Result<std::vector<DiagSocket>> find_tcp_sockets(const DiagQuery& q) {
  const std::string context = "sock_diag query";
  if (q.family != AF_INET && q.family != AF_INET6) {
    return std::unexpected(make_error(errc::not_supported, context,
                                      "family must be AF_INET or AF_INET6, not " + std::to_string(q.family)));
  }
  const int fd = ::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0) return std::unexpected(system_error(errno, context + ": socket(NETLINK_SOCK_DIAG)"));
  const FdGuard guard(fd);

  struct Request {
    nlmsghdr header;
    inet_diag_req_v2 body;
  };
  Request req{};
  req.header.nlmsg_len = sizeof req;
  req.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  req.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.header.nlmsg_seq = 1;
  req.body.sdiag_family = static_cast<std::uint8_t>(q.family);
  req.body.sdiag_protocol = IPPROTO_TCP;
  req.body.idiag_states = states_mask(q.states);  // the kernel filters by state for us
  // and by port: the reply is then this connection's entries only, one small
  // message, not a dump of every socket in several parts (a dump in parts can
  // miss an entry that moved meanwhile, FIN_WAIT_2 to TIME_WAIT).
  if (q.local_port) req.body.id.idiag_sport = htons(*q.local_port);
  if (q.remote_port) req.body.id.idiag_dport = htons(*q.remote_port);

  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(fd, &req, sizeof req, 0, reinterpret_cast<const sockaddr*>(&kernel), sizeof kernel) < 0) {
    return std::unexpected(system_error(errno, context + ": send"));
  }

  std::vector<DiagSocket> found;
  // Dump replies come in datagrams of at most a few pages; 64 KiB never truncates.
  std::vector<std::byte> buf(64 * 1024);
  for (;;) {
    const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return std::unexpected(system_error(errno, context + ": recv"));
    }
    std::size_t off = 0;
    const auto total = static_cast<std::size_t>(n);
    // Each message is copied out (memcpy) before use: no unaligned or out-of-bounds reads.
    while (off + sizeof(nlmsghdr) <= total) {
      nlmsghdr h{};
      std::memcpy(&h, buf.data() + off, sizeof h);
      if (h.nlmsg_len < sizeof(nlmsghdr) || h.nlmsg_len > total - off) {
        return std::unexpected(make_error(errc::malformed_frame, context, "truncated netlink message"));
      }
      const std::byte* payload = buf.data() + off + NLMSG_HDRLEN;
      const std::size_t payload_len = h.nlmsg_len - NLMSG_HDRLEN;
      if (h.nlmsg_type == NLMSG_DONE) return found;
      if (h.nlmsg_type == NLMSG_ERROR) {
        nlmsgerr e{};
        if (payload_len >= sizeof e) std::memcpy(&e, payload, sizeof e);
        return std::unexpected(system_error(e.error < 0 ? -e.error : EPROTO, context));
      }
      if (h.nlmsg_type == SOCK_DIAG_BY_FAMILY && payload_len >= sizeof(inet_diag_msg)) {
        inet_diag_msg m{};
        std::memcpy(&m, payload, sizeof m);
        const std::uint16_t sport = ntohs(m.id.idiag_sport);
        const std::uint16_t dport = ntohs(m.id.idiag_dport);
        if ((!q.local_port || *q.local_port == sport) && (!q.remote_port || *q.remote_port == dport)) {
          DiagSocket d;
          d.state = state_from_kernel(m.idiag_state);
          d.local = endpoint_from_diag(m.idiag_family, m.id.idiag_src, m.id.idiag_sport);
          d.remote = endpoint_from_diag(m.idiag_family, m.id.idiag_dst, m.id.idiag_dport);
          d.recv_queue = m.idiag_rqueue;
          d.send_queue = m.idiag_wqueue;
          d.inode = m.idiag_inode;
          if (m.idiag_timer != 0) d.timer = std::chrono::milliseconds(m.idiag_expires);
          found.push_back(d);
        }
      }
      off += NLMSG_ALIGN(h.nlmsg_len);
    }
  }
}

Result<DiagSocket> wait_for_tcp_socket(const DiagQuery& q, std::chrono::milliseconds timeout) {
  constexpr auto interval = std::chrono::milliseconds(2);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto found = find_tcp_sockets(q);
    if (!found) return std::unexpected(found.error());
    if (!found->empty()) return found->front();
    if (std::chrono::steady_clock::now() >= deadline) {
      std::string what = "no TCP socket";
      if (q.local_port) what += " with local port " + std::to_string(*q.local_port);
      if (q.remote_port) what += " with remote port " + std::to_string(*q.remote_port);
      if (!q.states.empty()) {
        what += " in";
        for (TcpState s : q.states) what += " " + std::string(to_string(s));
      }
      return std::unexpected(make_error(errc::timed_out, "wait for socket",
                                        what + " after " + std::to_string(timeout.count()) + " ms"));
    }
    std::this_thread::sleep_for(interval);
  }
}

}  // namespace socklab::net
