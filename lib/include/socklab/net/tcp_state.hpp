// TCP connection state as the kernel sees it: TCP_INFO for a socket we hold,
// the sock_diag / inet_diag netlink interface for sockets we no longer hold
// (TIME_WAIT after close), the way `ss` finds them.
#pragma once

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string_view>
#include <vector>

#include "socklab/net/endpoint.hpp"
#include "socklab/net/error.hpp"

namespace socklab::net {

// Values match the kernel's TCP_ESTABLISHED.. TCP_CLOSING (include/net/tcp_states.h).
enum class TcpState : std::uint8_t {
  unknown = 0,
  established = 1,
  syn_sent = 2,
  syn_recv = 3,
  fin_wait_1 = 4,
  fin_wait_2 = 5,
  time_wait = 6,
  closed = 7,
  close_wait = 8,
  last_ack = 9,
  listen = 10,
  closing = 11,
  new_syn_recv = 12,
};
// "ESTABLISHED", "SYN_SENT", "FIN_WAIT_1", ... as `ss` and the RFC print them.
std::string_view to_string(TcpState s) noexcept;
std::ostream& operator<<(std::ostream& os, TcpState s);

// The parts of struct tcp_info the lessons show.
struct TcpInfo {
  TcpState state = TcpState::unknown;
  bool sack = false;             // SACK permitted on this connection
  bool timestamps = false;       // TCP timestamps in use
  bool window_scale = false;     // window scaling in use
  std::uint8_t snd_wscale = 0;   // the peer's shift count (applied to windows we receive)
  std::uint8_t rcv_wscale = 0;   // our shift count
  std::uint32_t snd_mss = 0;
  std::uint32_t rcv_mss = 0;
  std::uint32_t rtt_us = 0;
  std::uint32_t retransmits = 0;       // tcpi_total_retrans
  std::uint32_t unacked = 0;           // segments in flight (for a listener: see ListenQueue)
  std::uint64_t bytes_acked = 0;
  std::uint64_t bytes_received = 0;
};

// A listener's accept queue: completed connections waiting for accept(), and
// the limit listen(backlog) set (capped by net.core.somaxconn).
struct ListenQueue {
  std::uint32_t length = 0;
  std::uint32_t limit = 0;
};

Result<TcpInfo> tcp_info(int fd);
Result<ListenQueue> listen_queue(int listener_fd);

// One socket as inet_diag reports it.
struct DiagSocket {
  TcpState state = TcpState::unknown;
  Endpoint local{};
  Endpoint remote{};
  std::uint32_t recv_queue = 0;    // for a listener: accept queue length
  std::uint32_t send_queue = 0;    // for a listener: its limit
  std::uint32_t inode = 0;         // 0 for sockets with no descriptor (TIME_WAIT)
  std::optional<std::chrono::milliseconds> timer{};  // time left on the TIME_WAIT/retransmit timer
};

struct DiagQuery {
  int family = AF_INET;                // AF_INET or AF_INET6
  std::optional<std::uint16_t> local_port{};
  std::optional<std::uint16_t> remote_port{};
  std::vector<TcpState> states{};      // empty: every state
};

// All TCP sockets matching the query, from the kernel's sock_diag netlink socket.
Result<std::vector<DiagSocket>> find_tcp_sockets(const DiagQuery& q);

// Waits until a socket matching the query exists (re-querying at a short
// interval; the kernel sends no notification), or the timeout passes
// (errc::timed_out). Returns the first match. Used to see TIME_WAIT after close.
Result<DiagSocket> wait_for_tcp_socket(const DiagQuery& q, std::chrono::milliseconds timeout);

}  // namespace socklab::net
