// Reading TCP state from the kernel for the lessons: sockets we still hold
// (TCP_INFO, via lib) and sockets we no longer hold (inet_diag), found by their ports.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "socklab/net.hpp"

namespace socklab::demo {

// The two ends of a connection as this socket sees them: its own address and
// its peer's, the keys find_socket() and wait_for_socket() look sockets up by.
struct ConnectionEnds {
  net::Endpoint me;
  net::Endpoint other;
};
// Throws DemoFailure when the socket cannot tell (it is not connected).
ConnectionEnds ends_of(const net::TcpStream& s);

// The socket with this local and remote endpoint, as inet_diag sees it: also
// after close() (FIN_WAIT_2, TIME_WAIT, LAST_ACK). nullopt: there is none (any more).
std::optional<net::DiagSocket> find_socket(const net::Endpoint& local, const net::Endpoint& remote);

// Waits until that socket is in one of `states` (re-reading inet_diag at a short
// interval: the kernel sends no notification), or the timeout passes.
net::Result<net::DiagSocket> wait_for_socket(const net::Endpoint& local, const net::Endpoint& remote,
                                             std::vector<net::TcpState> states, std::chrono::milliseconds timeout);

// Re-checks `condition` every millisecond until it holds (true) or the timeout
// passes (false): for kernel facts that come with no notification (a queue's
// length, a drop counter, a peer's unread bytes). A wait on a condition, never a guess.
bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout);

// Waits until the peer has acknowledged every byte sent on `conn` (its send
// queue, SIOCOUTQ, is empty): the ACKs are then on the wire, and in a capture.
// False if the timeout passed first.
bool wait_until_acknowledged(const net::TcpStream& conn, std::chrono::milliseconds timeout);

// A kernel setting by its sysctl name ("net.core.somaxconn" reads
// /proc/sys/net/core/somaxconn); nullopt when this kernel has no such setting.
std::optional<std::string> read_sysctl(std::string_view name);

// A protocol counter of this network namespace, as `nstat` shows it: group "Udp",
// "Tcp", "TcpExt", "Ip", ... from /proc/net/snmp and /proc/net/netstat; group
// "Udp6", "Ip6", ... from /proc/net/snmp6. ("Udp", "RcvbufErrors"): datagrams
// dropped because a receive buffer was full. nullopt when there is no such counter.
std::optional<std::uint64_t> kernel_counter(std::string_view group, std::string_view name);

}  // namespace socklab::demo
